"""`dump_results`: the results CSV kept up to date by appending, constant work per score.

Rows are written in the layout `SearchResult.save()` writes (same columns, `params` as JSON,
`INVALID_SCORE` as `*`), so `SearchResult.from_csv` reads the file either way. The file is
started at the first flush (a resumed run first writes what its journal holds, once), and each
flush appends only the Scores recorded since the previous one.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compileiq.results import _columns, score_row

if TYPE_CHECKING:
    from compileiq.results import SearchResult
    from compileiq.score import Score

__all__ = ["ResultsDump"]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


class ResultsDump:
    """Appends recorded Scores to `path`; `flush()` writes those pending since the last flush."""

    def __init__(self, path: Path, num_scores: int, normalize: bool, created: float,
                 existing: SearchResult | None = None) -> None:
        self.path = path
        self.normalize = normalize
        self.created = created
        self.columns = _columns(num_scores, normalize)
        self._pending: list[list[Any]] = []
        self._existing = existing
        self._started = False

    def add(self, score: Score, generation: int, worker: str | None) -> None:
        """Queue one recorded Score's row (constant work)."""
        row = score_row(score, generation, self.normalize, time.time() - self.created, worker)
        row["params"] = json.dumps(row["params"], default=str)
        self._pending.append([_cell(row.get(c)) for c in self.columns])

    def flush(self) -> None:
        """Append the queued rows (the first flush writes the header, or a resumed run's rows)."""
        if not self._started:
            self._started = True
            if self._existing is not None and len(self._existing):
                self._existing.save(self.path)
                mode = "a"
            else:
                mode = "w"
            self._existing = None
        else:
            mode = "a"
        if mode == "a" and not self._pending:
            return
        with self.path.open(mode, newline="") as handle:
            writer = csv.writer(handle)
            if mode == "w":
                writer.writerow(self.columns)
            writer.writerows(self._pending)
        self._pending.clear()
