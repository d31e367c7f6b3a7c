"""`compileiq report RUN`: a self-contained HTML page (and its PNGs) describing one run.

Plots: the best-so-far curve, scores per generation, failures over time, each parameter against
the score, and the Pareto front (several objectives). Needs matplotlib:
`pip install 'compileiq-core[report]'`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from compileiq.journal import Journal

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_report"]

MAX_PARAM_PLOTS = 24
_OK, _FAIL, _BEST, _FRONT = "#4C72B0", "#C44E52", "#2CA02C", "#DD8452"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "compileiq report needs matplotlib, which is not installed; pip install 'compileiq-core[report]'."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(params, dict):
        for key, value in params.items():
            out.update(_flatten(value, f"{prefix}{key}."))
    elif isinstance(params, list):
        for i, value in enumerate(params):
            out.update(_flatten(value, f"{prefix}{i}."))
    else:
        out[prefix[:-1] or "config"] = params
    return out


class _Data:
    """The run's rows, ready to plot: values per objective (NaN for failures), in arrival order."""

    def __init__(self, journal: Journal) -> None:
        import pandas as pd

        self.meta = journal.meta()
        self.info = journal.info()
        self.result = journal.result()
        config = self.meta.get("config", {})
        self.num = int(config.get("num_objectives", 1))
        self.minimize = config.get("problem_type", "min") == "min"
        df = self.result.df_results
        df = df[~df["is_baseline"].astype(bool)].reset_index(drop=True) if len(df) else df
        self.df = df
        columns = self.result.norm_score_columns if self.result.is_normalized else self.result.score_columns
        self.columns = columns
        self.values = (
            df[columns].apply(pd.to_numeric, errors="coerce") if len(df) else pd.DataFrame()  # "*" becomes NaN
        )
        self.failed = self.values.isna().any(axis=1) if len(df) else pd.Series(dtype=bool)
        self.names = [f"objective {i + 1}" + (" (normalized)" if self.result.is_normalized else "")
                      for i in range(self.num)]

    def best_index(self) -> int | None:
        if self.num != 1 or self.values.empty or self.values.iloc[:, 0].isna().all():
            return None
        column = self.values.iloc[:, 0]
        return int(cast(int, column.idxmin() if self.minimize else column.idxmax()))


def _save(fig: Any, folder: Path, name: str) -> tuple[str, str]:
    path = folder / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return name, base64.b64encode(path.read_bytes()).decode("ascii")


def _best_so_far(plt: Any, data: _Data, folder: Path) -> tuple[str, str]:
    fig, axes = plt.subplots(data.num, 1, figsize=(9, 3.2 * data.num), squeeze=False)
    x = range(1, len(data.values) + 1)
    for i, ax in enumerate(axes[:, 0]):
        column = data.values.iloc[:, i]
        best = column.cummin() if data.minimize else column.cummax()
        ax.scatter(x, column, s=10, color=_OK, alpha=0.45, label="evaluation")
        ax.step(x, best.ffill(), where="post", color=_BEST, linewidth=2, label="best so far")
        failed = [j + 1 for j, f in enumerate(data.failed) if f]
        if failed:
            ax.plot(failed, [0.0] * len(failed), "|", markersize=9, color=_FAIL, transform=ax.get_xaxis_transform(),
                    label="failed (ticks on the axis)")
        if column.isna().all():
            ax.text(0.5, 0.5, "no successful evaluation", transform=ax.transAxes, ha="center", color=_FAIL)
            ax.set_yticks([])
        ax.set_ylabel(data.names[i])
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[-1, 0].set_xlabel("evaluation (arrival order)")
    axes[0, 0].set_title(f"Best so far ({'lower' if data.minimize else 'higher'} is better)")
    return _save(fig, folder, "best_so_far.png")


def _per_generation(plt: Any, data: _Data, folder: Path) -> tuple[str, str]:
    import numpy as np

    fig, axes = plt.subplots(data.num, 1, figsize=(9, 3.2 * data.num), squeeze=False)
    generations = sorted(data.df["generation"].unique())
    rng = np.random.default_rng(0)
    for i, ax in enumerate(axes[:, 0]):
        column = data.values.iloc[:, i]
        groups = [column[(data.df["generation"] == g) & column.notna()].to_numpy() for g in generations]
        present = [(g, v) for g, v in zip(generations, groups) if len(v)]
        if present:
            ax.boxplot([v for _, v in present], positions=[g for g, _ in present], widths=0.6, showfliers=False)
            for g, v in present:
                ax.scatter(g + rng.uniform(-0.2, 0.2, len(v)), v, s=8, color=_OK, alpha=0.5)
            best = [(v.min() if data.minimize else v.max()) for _, v in present]
            ax.plot([g for g, _ in present], best, color=_BEST, marker="o", linewidth=1.5, label="generation best")
            ax.legend(loc="best", fontsize=8)
        ax.set_ylabel(data.names[i])
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("generation")
    axes[0, 0].set_title("Scores per generation")
    return _save(fig, folder, "scores_per_generation.png")


def _failures(plt: Any, data: _Data, folder: Path) -> tuple[str, str]:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    wall = data.df["wall_time"].to_numpy(dtype=float)
    cumulative = data.failed.astype(int).cumsum().to_numpy()
    left.step(wall, cumulative, where="post", color=_FAIL, label="failures")
    left.step(wall, range(1, len(wall) + 1), where="post", color=_OK, alpha=0.6, label="evaluations")
    left.set_xlabel("wall time since the run started (s)")
    left.set_ylabel("cumulative count")
    left.set_title("Failures over time")
    left.legend(loc="best", fontsize=8)
    left.grid(alpha=0.3)
    per_gen = data.df.assign(failed=data.failed.to_numpy()).groupby("generation")["failed"].agg(["sum", "count"])
    right.bar(per_gen.index, per_gen["count"] - per_gen["sum"], color=_OK, label="succeeded")
    right.bar(per_gen.index, per_gen["sum"], bottom=per_gen["count"] - per_gen["sum"], color=_FAIL, label="failed")
    right.set_xlabel("generation (refills included)")
    right.set_ylabel("evaluations")
    right.set_title("Outcomes per generation")
    right.legend(loc="best", fontsize=8)
    right.grid(alpha=0.3, axis="y")
    return _save(fig, folder, "failures.png")


def _is_numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)


def _category_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _parameters(plt: Any, data: _Data, folder: Path) -> tuple[tuple[str, str], list[str]]:
    flat = [_flatten(p) for p in data.df["params"]]
    names = sorted({k for row in flat for k in row})
    shown = names[:MAX_PARAM_PLOTS]
    cols = min(3, max(1, len(shown)))
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    score = data.values.iloc[:, 0] if len(data.values.columns) else []
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, shown):
        xs = [row.get(name) for row in flat]
        ok = [(x, y) for x, y in zip(xs, score) if x is not None and not (isinstance(y, float) and math.isnan(y))]
        bad = [x for x, f in zip(xs, data.failed) if f and x is not None]
        if _is_numeric(xs) and len({x for x in xs if x is not None}) > 8:
            if ok:
                ax.scatter([x for x, _ in ok], [y for _, y in ok], s=9, color=_OK, alpha=0.55)
            if bad:
                ax.plot(bad, [0.0] * len(bad), "|", markersize=8, color=_FAIL, transform=ax.get_xaxis_transform())
        else:
            cats = [str(v) for v in sorted({x for x in xs if x is not None}, key=_category_key)]
            position = {c: i for i, c in enumerate(cats)}
            groups = [[y for x, y in ok if str(x) == c] for c in cats]
            present = [(i, g) for i, g in enumerate(groups) if g]
            if present:
                ax.boxplot([g for _, g in present], positions=[i for i, _ in present], widths=0.6, showfliers=False)
                for i, g in present:
                    ax.scatter([i] * len(g), g, s=8, color=_OK, alpha=0.4)
            counts = Counter(str(x) for x in bad)
            for c, n in counts.items():
                ax.annotate(f"{n}✗", (position[c], 0), xycoords=("data", "axes fraction"), color=_FAIL,
                            ha="center", va="bottom", fontsize=7)
            ax.set_xticks(range(len(cats)))
            ax.set_xticklabels([c if len(c) < 12 else c[:10] + "…" for c in cats], rotation=30 if len(cats) > 4
                               else 0, fontsize=7, ha="right" if len(cats) > 4 else "center")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Each parameter against {data.names[0]} (red: failures, as ticks on the axis or counts)",
                 fontsize=10)
    fig.tight_layout()
    return _save(fig, folder, "parameters.png"), names[MAX_PARAM_PLOTS:]


def _pareto(plt: Any, data: _Data, folder: Path) -> tuple[str, str] | None:
    from compileiq.results import pareto_mask

    if data.num < 2:
        return None
    valid = data.values.dropna()
    if valid.empty:
        return None
    mask = pareto_mask(valid.to_numpy(dtype=float), "min" if data.minimize else "max")
    shown = min(data.num, 4)
    pairs = [(i, j) for i in range(shown) for j in range(i + 1, shown)]
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.0 * rows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    for ax, (i, j) in zip(axes.flat, pairs):
        x, y = valid.iloc[:, i].to_numpy(), valid.iloc[:, j].to_numpy()
        ax.scatter(x[~mask], y[~mask], s=10, color=_OK, alpha=0.4, label="dominated")
        ax.scatter(x[mask], y[mask], s=26, color=_FRONT, edgecolor="black", linewidth=0.5, label="Pareto front")
        if data.num == 2:
            order = sorted(zip(x[mask], y[mask]))
            ax.plot([p[0] for p in order], [p[1] for p in order], color=_FRONT, linewidth=1)
        ax.set_xlabel(data.names[i])
        ax.set_ylabel(data.names[j])
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(f"Pareto front ({int(mask.sum())} of {len(valid)} valid evaluations; "
                 f"{'lower' if data.minimize else 'higher'} is better)", fontsize=10)
    fig.tight_layout()
    return _save(fig, folder, "pareto_front.png")


def _failed_logs(df: pd.DataFrame, folder: Path, here: Path, most: int = 30) -> str:
    """Links to the captured output (`logs/<param_id>.txt`) of failed evaluations, newest first."""
    import os

    rows = []
    for param_id, reason, meta in zip(df["param_id"], df["failure_reason"], df["metadata"]):
        if not isinstance(reason, str) or '"log"' not in str(meta):
            continue
        try:
            log = json.loads(meta).get("log")
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(log, str) and (folder / log).is_file():
            href = html.escape(Path(os.path.relpath(folder / log, here)).as_posix())
            rows.append(f"<tr><th>{html.escape(str(param_id))}</th><td>{html.escape(reason[:200])}</td>"
                        f"<td><a href='{href}'>{html.escape(log)}</a></td></tr>")
    if not rows:
        return ""
    shown = rows[::-1][:most]
    return (f"<h2>Output of failed evaluations ({len(rows)}, newest {len(shown)})</h2><table>"
            f"<tr><th>param_id</th><th>reason</th><th>output (last 1 MiB)</th></tr>{''.join(shown)}</table>")


def _table(rows: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows) + "</table>"


def _frame_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}img{max-width:100%;border:1px solid #eee}
code{font-size:.9em}.note{color:#666;font-size:.85em}
"""


def write_report(run: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of the run in folder `run` to `out` (default `<run>/report.html`),
    its PNGs in `<out stem>_files/` beside it. Returns the HTML path."""
    plt = _pyplot()
    folder = Path(run)
    journal = Journal.open(folder)
    try:
        data = _Data(journal)
    finally:
        journal.close()
    target = Path(out) if out is not None else folder / "report.html"
    if target.suffix.lower() not in (".html", ".htm"):
        target = target / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    images = target.parent / f"{target.stem}_files"
    images.mkdir(exist_ok=True)
    meta, info = data.meta, data.info
    engine = meta.get("engine", {})
    best_i = data.best_index()
    summary = [
        ("run", info.run_id), ("status", info.status),
        ("started", datetime.fromtimestamp(info.started).isoformat(sep=" ", timespec="seconds")
         if info.started else "-"),
        ("evaluations", info.evaluations), ("failures", info.failures),
        ("problem", f"{meta.get('config', {}).get('problem_type', 'min')}imize, {data.num} objective(s)"),
        ("engine", f"{engine.get('name')} (seed {engine.get('seed')}, "
                   f"options {json.dumps(engine.get('options', {}))})"),
        ("worker", meta.get("worker")), ("generations × pool", f"{meta.get('config', {}).get('generations')} × "
                                          f"{meta.get('config', {}).get('pool_size')}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())),
    ]
    if best_i is not None:
        row = data.df.iloc[best_i]
        summary += [("best score", row[data.columns[0]]), ("best configuration", json.dumps(row["params"])),
                    ("found at", f"generation {row['generation']}, evaluation {best_i + 1}")]
    sections = [f"<h1>compileiq run {html.escape(info.run_id)}</h1>", "<h2>Summary</h2>", _table(summary)]
    if data.df.empty:
        sections.append("<p>No evaluation was journaled yet.</p>")
    else:
        figures = [("Best so far", _best_so_far(plt, data, images)),
                   ("Scores per generation", _per_generation(plt, data, images)),
                   ("Failures", _failures(plt, data, images))]
        params_png, hidden = _parameters(plt, data, images)
        figures.append(("Parameters against the score", params_png))
        pareto = _pareto(plt, data, images)
        if pareto is not None:
            figures.append(("Pareto front", pareto))
        for title, (name, encoded) in figures:
            sections.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                            f"src='data:image/png;base64,{encoded}'><p class='note'>Also "
                            f"<code>{html.escape(images.name)}/{name}</code></p>")
            if title.startswith("Parameters") and hidden:
                sections.append(f"<p class='note'>{len(hidden)} more parameters not plotted: "
                                f"{html.escape(', '.join(hidden[:40]))}</p>")
        reasons = Counter(r for r in data.df["failure_reason"] if isinstance(r, str))
        if reasons:
            sections.append("<h2>Failure reasons</h2>" + _table([(r[:300], n) for r, n in reasons.most_common(15)]))
        logs = _failed_logs(data.df, folder, target.parent)
        if logs:
            sections.append(logs)
        if data.num > 1:
            front = data.result.pareto_front()
            if front:
                import pandas as pd

                frame = pd.DataFrame(front)[["generation", *data.columns, "params"]].head(30)
                sections.append(f"<h2>Pareto front ({len(front)} rows, first 30)</h2>" + _frame_table(frame))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>compileiq run {html.escape(info.run_id)}"
            f"</title><style>{_CSS}</style></head><body>{''.join(sections)}<p class='note'>Written "
            f"{datetime.now().isoformat(sep=' ', timespec='seconds')} by compileiq report from "
            f"<code>{html.escape(str(folder / 'journal.sqlite'))}</code>.</p></body></html>")
    target.write_text(page, encoding="utf-8")
    return target
