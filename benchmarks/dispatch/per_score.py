"""Per-score cost of the driver as a run grows: does each Score cost the same at the 50,000th as at the 1,000th?

    python benchmarks/dispatch/per_score.py [--sizes 1,10,50] [--out docs/benchmarks-per-score.md]

Runs Searches of 1, 10 and 50 generations of 1000 no-op candidates with the in-process sequential
worker (so the driver's own work is all there is to time), with the results CSV (`dump_results`)
and the progress bar on, and again with both off. For each, the time per Score over the whole
run and within its last generation. Work that grows with the run (rewriting the CSV, rebuilding
a result per batch) shows as a last-generation figure that grows with the size; constant work
per Score keeps it flat. The whole-run figure also holds the one-off costs (journal, the final
result), which shrink per Score as the run grows.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stderr
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import compileiq.results  # noqa: F401 - pandas imported before timing, once per process
import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration, hookimpl
from compileiq.plugins import get_plugin_manager

POOL = 1000


def noop(config: dict[str, Any]) -> float:
    return 1.0


class GenerationClock:
    """Times each generation (from the previous generation's end) through the search hooks."""

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.start = 0.0

    @hookimpl
    def compileiq_search_start(self, search: Any, run_info: dict[str, Any]) -> None:
        self.ends, self.start = [], time.perf_counter()

    @hookimpl
    def compileiq_generation_end(self, search: Any, generation: int, scores: Any) -> None:
        self.ends.append(time.perf_counter())


def one_run(folder: Path, generations: int, extras: bool, clock: GenerationClock) -> tuple[float, float]:
    """(µs per Score over the whole start(), µs per Score in the last generation)."""
    options: dict[str, Any] = {}
    if extras:
        options["dump_results"] = folder / f"results-{generations}.csv"
    search = Search(objective_function=noop, search_space={"x": ss.range(0, 10**8)},
                    search_config=SearchConfiguration(generations=generations, pool_size=POOL),
                    worker_type="sequential", engine="random", cache_folder=folder / "runs",
                    disable_progress_bar=not extras, **options)
    start = time.perf_counter()
    with redirect_stderr(io.StringIO()):
        result = search.start()
    total = time.perf_counter() - start
    assert len(result) == generations * POOL, len(result)
    if extras:
        assert sum(1 for _ in open(options["dump_results"])) == generations * POOL + 1  # header + one row each
    ends = clock.ends
    last = ends[-1] - (ends[-2] if len(ends) > 1 else clock.start)
    return total / (generations * POOL) * 1e6, last / POOL * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="generations of 1000 to run, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (medians are reported)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "docs" / "benchmarks-per-score.md"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ["COMPILEIQ_PROGRESS"] = "1"  # the bar runs (into a buffer), as on a terminal
    clock = GenerationClock()
    get_plugin_manager().register(clock)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one_run(Path(tmp), 1, True, clock)  # one-off imports (tqdm, csv, sqlite3)
        for extras in (False, True):
            for generations in sizes:
                runs = [one_run(Path(tmp), generations, extras, clock) for _ in range(args.repeat)]
                whole = statistics.median(r[0] for r in runs)
                last = statistics.median(r[1] for r in runs)
                label = "dump_results + progress bar" if extras else "neither"
                rows.append((label, f"{generations * POOL:,}", f"{whole:.1f}", f"{last:.1f}"))
                print(f"{label:28} {generations * POOL:>8,} scores: {whole:6.1f} us/score over the run, "
                      f"{last:6.1f} us/score in the last generation", flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = ["| extras | scores | µs per Score, whole run | µs per Score, last generation |", "|---|---:|---:|---:|"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    text = (
        "# Per-score cost as a run grows\n\n"
        f"`nox -s bench_per_score` (benchmarks/dispatch/per_score.py), {stamp}; Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs. Searches of 1000 no-op candidates per generation "
        "on the in-process sequential worker, engine random, medians of "
        f"{args.repeat} runs. \"Last generation\" is the time per Score of the final 1000: flat across sizes "
        "means `dump_results` (appends only the new rows) and the progress bar (one update per Score) do "
        "constant work per Score. The whole-run figure also holds one-off costs (journal creation, "
        "the final result), spread over more Scores as the run grows.\n\n" + "\n".join(table) + "\n\n"
        "The machine is shared (2 cores); figures move by 10-30 % between runs.\n"
    )
    Path(args.out).write_text(text)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
