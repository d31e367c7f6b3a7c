"""`SearchResult`: every evaluation of a search as a pandas DataFrame, with best and Pareto queries.

Columns, in order: `metadata`, `generation`, `score_1..N`, `params`, then `norm_score_1..N`
when normalizing, then `param_id`, `is_baseline`, `wall_time` (seconds from the run's start to
the score's arrival), `worker` (the worker's name) and `failure_reason` (None for a success; the
metadata's `failure: error`, or "INVALID_SCORE returned"). Baseline rows are kept but never
returned as the best result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compileiq.score import INVALID_SCORE, Score
from compileiq.types import MultiScoreComparison, ProblemType

__all__ = ["NORM_SCORE_COLUMN_PATTERN", "SCORE_COLUMN_PATTERN", "SearchResult", "pareto_mask", "score_row"]

SCORE_COLUMN_PATTERN = r"score_\d+"
NORM_SCORE_COLUMN_PATTERN = r"norm_score_\d+"
_ALL_INVALID = "All resulting scores are marked as invalid. Make sure your search ran correctly."


def _decode_params(cell: Any) -> Any:
    if isinstance(cell, str):
        try:
            return json.loads(cell)
        except ValueError:
            return cell
    return cell


EXTRA_COLUMNS = ("param_id", "is_baseline", "wall_time", "worker", "failure_reason")
"""The columns after the contract's ones."""


def failure_reason(failed: bool, metadata: str | dict[str, Any] | None) -> str | None:
    """Why an evaluation failed, from its metadata (`failure` kind and `error` text); None if it did not."""
    if not failed:
        return None
    meta: Any = metadata
    if isinstance(metadata, str):
        try:
            meta = json.loads(metadata) if metadata else {}
        except ValueError:
            meta = {}
    if not isinstance(meta, dict):
        meta = {}
    kind, error = meta.get("failure"), meta.get("error")
    if kind and error:
        return f"{kind}: {error}"
    return str(kind or error or "INVALID_SCORE returned")


def score_row(
    score: Score, generation: int, normalize: bool, wall_time: float | None = None, worker: str | None = None
) -> dict[str, Any]:
    """One result row for `score` (the layout `SearchResult` uses)."""
    row: dict[str, Any] = {"metadata": score.metadata, "generation": generation}
    for i, value in enumerate(score.values(), 1):
        row[f"score_{i}"] = value
    row["params"] = score.params
    if normalize:
        for i, value in enumerate(score.values(normalized=True), 1):
            row[f"norm_score_{i}"] = value
    row["param_id"] = score.param_id
    row["is_baseline"] = score.is_baseline
    row["wall_time"] = wall_time
    row["worker"] = worker
    row["failure_reason"] = failure_reason(score.failed, score.metadata)
    return row


def _columns(num_scores: int, normalize: bool) -> list[str]:
    columns = ["metadata", "generation", *(f"score_{i}" for i in range(1, num_scores + 1)), "params"]
    if normalize:
        columns += [f"norm_score_{i}" for i in range(1, num_scores + 1)]
    return columns + list(EXTRA_COLUMNS)


def _fill_text(column: pd.Series, empty: str | None) -> pd.Series:
    """A text column read from CSV with its empty cells as `empty`, typed as building the frame from
    the same Python values would type it (object, or `str` on pandas 3); a numeric column unchanged."""
    if not column.isna().any() or (pd.api.types.is_numeric_dtype(column) and not column.isna().all()):
        return column
    values = [empty if v is None or (isinstance(v, float) and v != v) else v for v in column.tolist()]
    return pd.Series(values, index=column.index, name=column.name)


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """`params` kept as Python objects, `wall_time` as float (NaN where unknown)."""
    df["params"] = df["params"].astype(object)
    if "wall_time" in df.columns:
        df["wall_time"] = pd.to_numeric(df["wall_time"], errors="coerce").astype(float)
    return df


def _loads_column(cells: Sequence[str | None]) -> list[Any]:
    """Decode a column of JSON cells in one parse (much faster than one `json.loads` per cell)."""
    decoded: list[Any] = json.loads("[" + ",".join("null" if c is None else c for c in cells) + "]")
    return decoded


class SearchResult:
    """The evaluations of a search.

    Args:
        df: the results table (see the module docstring for its columns).
        problem_type: "min" or "max".
        num_scores: the number of objectives.
    """

    def __init__(self, df: pd.DataFrame | None, problem_type: ProblemType | str, num_scores: int) -> None:
        self.problem_type = ProblemType(problem_type)
        self.num_scores = num_scores
        self.df_results = df if df is not None else pd.DataFrame()
        self.original_cols = list(self.df_results.columns)

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_rows(
        cls, rows: list[dict[str, Any]], problem_type: ProblemType | str, num_scores: int, normalize: bool
    ) -> SearchResult:
        """Build a result from rows made by `score_row`."""
        columns = _columns(num_scores, normalize)
        df = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
        return cls(_typed(df), problem_type, num_scores)

    @classmethod
    def from_journal_rows(
        cls, rows: list[tuple[Any, ...]], reasons: list[tuple[Any, ...]], problem_type: ProblemType | str,
        num_scores: int, normalize: bool,
    ) -> SearchResult:
        """Build a result from `Journal.result()`'s rows: `(metadata, generation, score, params, norm_score,
        param_id, is_baseline, wall_time, worker, failed)` (score, params, norm_score JSON) and the
        `(failure, error)` metadata of the failed rows, in order (column-wise decoding: fast)."""
        columns = _columns(num_scores, normalize)
        if not rows:
            return cls.from_rows([], problem_type, num_scores, normalize)
        metadata, generation, score, params, norm, pids, base, wall, worker, failed = zip(*rows)
        rows.clear()  # the columns hold everything now: halve the peak memory of a big result
        data: dict[str, Any] = {"metadata": metadata, "generation": generation}
        for name, cells in (("score", score), ("norm_score", norm if normalize else None)):
            if cells is None:
                continue
            decoded = _loads_column(cells)
            if num_scores == 1:
                data[f"{name}_1"] = [INVALID_SCORE if v is None else v for v in decoded]
            else:
                for i in range(num_scores):
                    data[f"{name}_{i + 1}"] = [INVALID_SCORE if v is None else v[i] for v in decoded]
        data["params"] = _loads_column(params)
        data["param_id"] = pids
        data["is_baseline"] = [bool(b) for b in base]
        data["wall_time"] = wall
        data["worker"] = worker
        why = iter(f"{k}: {e}" if k and e else str(k or e or "INVALID_SCORE returned") for k, e in reasons)
        data["failure_reason"] = [next(why, "INVALID_SCORE returned") if f else None for f in failed]
        df = pd.DataFrame(data, columns=columns)
        return cls(_typed(df), problem_type, num_scores)

    @classmethod
    def from_dataframe(
        cls, df: pd.DataFrame, problem_type: ProblemType | str, clear_duplicates: bool = True
    ) -> SearchResult:
        """Wrap a DataFrame with `score_<n>` and `params` columns (params JSON-decoded)."""
        score_cols = [c for c in df.columns if re.fullmatch(SCORE_COLUMN_PATTERN, str(c))]
        if not score_cols:
            raise ValueError(
                "Score columns are not formatted correctly. Must be named `score_<num>` "
                f"(found columns {list(df.columns)})."
            )
        if "params" not in df.columns:
            raise ValueError("Missing 'params' column in the dataframe.")
        df = df.copy()
        df["params"] = df["params"].map(_decode_params).astype(object)
        if "is_baseline" in df.columns:
            df["is_baseline"] = df["is_baseline"].map(lambda v: str(v).lower() in ("true", "1"))
        result = cls(df, problem_type, len(score_cols))
        if clear_duplicates:
            result.clear_duplicates()
        return result

    @classmethod
    def from_csv(
        cls, csv_path: str | Path, problem_type: ProblemType | str, clear_duplicates: bool = True
    ) -> SearchResult:
        """Read a CSV written by `save` (or by upstream CompileIQ).

        Column types are inferred as upstream does (an integer `metadata` column stays
        integer); an empty cell of a text column (`metadata`: "", `worker`, `failure_reason`:
        None) comes back as it was saved, so `save` then `from_csv` gives an equal frame.
        """
        df = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
        for column, empty in (("metadata", ""), ("worker", None), ("failure_reason", None)):
            if column in df.columns:
                df[column] = _fill_text(df[column], empty)
        if "metadata" not in df.columns:
            df["metadata"] = ""
        return cls.from_dataframe(df, problem_type, clear_duplicates)

    @classmethod
    def _initialize_empty(
        cls, num_scores: int, problem_type: ProblemType | str, norm_scores: bool = False
    ) -> SearchResult:
        """An empty result with the columns of `num_scores` objectives (and their `norm_score_<n>`
        columns with `norm_scores`); fill it with `add_result`. Upstream's constructor of the same name."""
        return cls.from_rows([], problem_type, num_scores, norm_scores)

    # -- columns ---------------------------------------------------------------------------

    @property
    def score_columns(self) -> list[str]:
        return [c for c in self.df_results.columns if re.fullmatch(SCORE_COLUMN_PATTERN, str(c))]

    @property
    def norm_score_columns(self) -> list[str]:
        return [c for c in self.df_results.columns if re.fullmatch(NORM_SCORE_COLUMN_PATTERN, str(c))]

    @property
    def is_normalized(self) -> bool:
        return bool(self.norm_score_columns)

    def get_results(self) -> pd.DataFrame:
        """The results table."""
        return self.df_results

    def __getitem__(self, index: int) -> pd.Series:
        return self.df_results.iloc[index]

    def __len__(self) -> int:
        return len(self.df_results)

    # -- editing ---------------------------------------------------------------------------

    def add_result(self, score: Score, generation_num: int, normalize: bool = False) -> None:
        """Append one row for `score` (as upstream; with `normalize`, its `norm_score` too).

        The table is rebuilt from its rows, so its column types are those `from_rows` would
        give (linear in the table's size: to build a large result at once, use `from_rows`).
        """
        if score.num_objectives != self.num_scores:
            raise ValueError(
                f"Expected {self.num_scores} objective values, got {score.score!r}: the score has "
                f"{score.num_objectives} objective(s); this result holds {self.num_scores}."
            )
        if normalize and score.norm_score is None:
            raise ValueError(
                f"add_result(normalize=True) needs a score with norm_score; {score!r} has none. "
                "Pass normalize=False or set Score(norm_score=...)."
            )
        row = score_row(score, generation_num, normalize)
        columns = list(self.df_results.columns)
        columns += [c for c in row if c not in columns]
        records: list[Any] = self.df_results.to_dict("records") if len(self.df_results) else []
        self.df_results = _typed(pd.DataFrame.from_records([*records, row], columns=columns))

    def clear_duplicates(self) -> pd.DataFrame:
        """Drop rows repeating (params, raw scores), keep the first; scores become numeric."""
        df = self.df_results
        if df.empty:
            return df
        key = df["params"].map(lambda p: json.dumps(p, sort_keys=True, default=str))
        subset = pd.concat([key.rename("_params_key"), df[self.score_columns].astype(str)], axis=1)
        df = df.loc[~subset.duplicated(keep="first")].reset_index(drop=True)
        for col in [*self.score_columns, *self.norm_score_columns]:
            df[col] = pd.to_numeric(df[col], errors="coerce")  # INVALID_SCORE ("*") becomes NaN
        self.df_results = df
        return df

    def save(self, filepath: str | Path = "./search_results.csv") -> None:
        """Write the results as CSV, `params` JSON-encoded (atomic: written aside, then renamed)."""
        path = Path(filepath)
        df = self.df_results.copy()
        if "params" in df.columns:
            df["params"] = df["params"].map(lambda p: json.dumps(p, default=str))
        tmp = path.with_name(path.name + ".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(path)

    # -- queries ---------------------------------------------------------------------------

    def _numeric(self, columns: list[str]) -> pd.DataFrame:
        numeric: pd.DataFrame = self.df_results[columns].apply(pd.to_numeric, errors="coerce")  # "*" becomes NaN
        return numeric

    def _candidates(self) -> pd.DataFrame:
        """Numeric objective values of the non-baseline rows."""
        columns = self.norm_score_columns if self.is_normalized else self.score_columns
        if len(columns) != self.num_scores:
            raise ValueError(
                f"found {len(columns)} score column(s) {columns}; expected {self.num_scores}."
            )
        values = self._numeric(columns)
        if "is_baseline" in self.df_results.columns:
            values = values[~self.df_results["is_baseline"].astype(bool)]
        return values

    def get_best_result(
        self, multiscore_scope: MultiScoreComparison | str = MultiScoreComparison.PARETO
    ) -> dict[Any, Any] | list[dict[Any, Any]]:
        """The best row as a dict (a list of dicts: the Pareto front, for several objectives).

        Several objectives: "pareto_front" (default), "avg" (best row mean) or "stddev" (lowest
        row standard deviation for min, highest for max).
        """
        values = self._candidates()
        if values.empty or values.isna().all().all():
            raise ValueError(_ALL_INVALID)
        minimize = self.problem_type is ProblemType.MIN
        if self.num_scores == 1:
            column = values.iloc[:, 0]
            index = column.idxmin() if minimize else column.idxmax()
            return self._row(index)
        try:
            scope = MultiScoreComparison(multiscore_scope)
        except ValueError:
            raise ValueError(
                f"multiscore_scope={multiscore_scope!r} is not valid; expected one of "
                f"{[m.value for m in MultiScoreComparison]}."
            ) from None
        if scope is MultiScoreComparison.PARETO:
            return self.pareto_front()
        values = values.dropna()  # a row with a failed objective is never best
        stat = values.mean(axis=1) if scope is MultiScoreComparison.AVERAGE else values.std(axis=1, ddof=1)
        if stat.empty:
            raise ValueError(_ALL_INVALID)
        index = stat.idxmin() if minimize else stat.idxmax()
        return self._row(index)

    def _row(self, index: Any) -> dict[Any, Any]:
        row: dict[Any, Any] = self.df_results.loc[index].to_dict()
        return row

    def pareto_front(self) -> list[dict[Any, Any]]:
        """Rows no other row beats on every objective (rows with an invalid value dropped)."""
        if self.num_scores == 1:
            raise ValueError("pareto_front() needs several objectives; use get_best_result() for one.")
        values = self._candidates().dropna()
        if values.empty:
            return []
        mask = self.calculate_pareto_front(values.to_numpy(dtype=float))
        return self.df_results.loc[values.index[mask]].to_dict(orient="records")

    def calculate_pareto_front(self, scores: np.ndarray) -> np.ndarray:
        """Boolean mask of the points not strictly worse on every objective than another point."""
        return pareto_mask(scores, self.problem_type)


def pareto_mask(scores: Any, problem_type: ProblemType | str = ProblemType.MIN) -> np.ndarray:
    """Weak-dominance filter: ties and duplicates are kept, strictly worse points dropped."""
    points = np.asarray(scores, dtype=float)
    if ProblemType(problem_type) is ProblemType.MAX:
        points = -points
    keep = np.ones(len(points), dtype=bool)
    for i in range(len(points)):
        if keep[i]:
            keep &= ~np.all(points[i] < points, axis=1)
    return keep
