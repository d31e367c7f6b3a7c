"""Journal benchmark: cost per evaluation vs no journal, peak memory of a 100,000-evaluation run,
and the time to build its SearchResult from the journal.

    python benchmarks/journal/run.py [--evaluations 100000] [--json out.json]

Targets (issue 6): journal <= 0.1 ms per evaluation; SearchResult of 100k rows < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq.journal import Journal
from compileiq.score import Score

SPACE = {"a": ss.range(0, 1000), "b": ss.range(0, 1000), "c": ss.choice(["x", "y", "z", "w"])}


def objective(config: dict[str, Any]) -> float:
    return config["a"] * 0.5 + config["b"] * 0.25 + len(config["c"])


def _search(base: Path, generations: int, pool_size: int) -> Search:
    return Search(
        objective_function=objective, search_space=SPACE,
        search_config=SearchConfiguration(generations=generations, pool_size=pool_size),
        worker_type="sequential", engine=EngineConfig("random", {"seed": 1}), cache_folder=base,
        disable_progress_bar=True,
    )


class _NoJournal:
    """Context manager for the 'no journal' side: scores are kept in memory as the driver did
    before the journal (`score_row` dicts, `SearchResult.from_rows` at the end)."""

    def __enter__(self) -> None:
        from compileiq.results import SearchResult, score_row

        rows: list[dict[str, Any]] = []
        self.saved = Journal.record_ask, Journal.record_score, Journal.result

        def record_score(journal: Journal, score: Score, generation: int, ask_seq: Any, worker: Any) -> None:
            rows.append(score_row(score, generation, False, None, worker))

        def result(journal: Journal) -> Any:
            return SearchResult.from_rows(rows, "min", 1, False)

        Journal.record_ask = lambda self, *a, **k: 0  # type: ignore[method-assign]
        Journal.record_score = record_score  # type: ignore[method-assign]
        Journal.result = result  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        Journal.record_ask, Journal.record_score, Journal.result = self.saved  # type: ignore[method-assign]


def per_evaluation_cost(base: Path, evaluations: int, repeats: int) -> dict[str, float]:
    """Whole searches, alternating journal on/off in this process; ms per evaluation of each
    (median of `repeats`, wall clock and process CPU time)."""
    pool = 100
    generations = evaluations // pool
    timings: dict[str, list[tuple[float, float]]] = {"journal": [], "none": []}
    for _ in range(repeats):
        for mode in ("none", "journal"):
            search = _search(base, generations, pool)
            start, cpu = time.perf_counter(), time.process_time()
            if mode == "none":
                with _NoJournal():
                    search.start()
            else:
                search.start()
            n = generations * pool
            timings[mode].append(((time.perf_counter() - start) * 1000 / n, (time.process_time() - cpu) * 1000 / n))
    out: dict[str, float] = {}
    for kind, index in (("wall", 0), ("cpu", 1)):
        on = statistics.median(t[index] for t in timings["journal"])
        off = statistics.median(t[index] for t in timings["none"])
        out.update({f"search_ms_per_eval_with_journal_{kind}": on, f"search_ms_per_eval_without_journal_{kind}": off,
                    f"journal_ms_per_eval_{kind}": on - off})
    return out


def record_score_cost(base: Path, n: int, sync: str) -> float:
    """ms per `Journal.record_score` (one committed transaction) with COMPILEIQ_JOURNAL_SYNC=sync."""
    os.environ["COMPILEIQ_JOURNAL_SYNC"] = sync
    try:
        folder = Path(tempfile.mkdtemp(dir=base))
        journal = Journal.create(folder, {"config": {"num_objectives": 1}})
        journal.begin_session()
        scores = [Score(score=float(i), param_id=f"{i:032x}", num_objectives=1,
                        params={"a": i, "b": i % 7, "c": "x"}, metadata={"worker": "sequential", "duration_s": 1e-5})
                  for i in range(n)]
        start = time.perf_counter()
        for score in scores:
            journal.record_score(score, 0, 1, "sequential")
        elapsed = time.perf_counter() - start
        journal.close()
        return elapsed * 1000 / n
    finally:
        os.environ.pop("COMPILEIQ_JOURNAL_SYNC", None)


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_run(base: Path, evaluations: int) -> dict[str, Any]:
    """A 100k-evaluation search in a child process: its peak RSS and wall time."""
    here, generations = str(Path(__file__).parent), evaluations // 100
    code = (
        "import sys, time, json\n"
        f"sys.path.insert(0, {here!r})\n"
        "import run\n"
        "from pathlib import Path\n"
        "before = run.peak_rss_mib()\n"
        "import pandas\n"
        "with_pandas = run.peak_rss_mib()\n"
        f"search = run._search(Path({str(base)!r}), {generations}, 100)\n"
        "t = time.perf_counter(); c = time.process_time(); result = search.start()\n"
        "wall, cpu = time.perf_counter() - t, time.process_time() - c\n"
        "print(json.dumps({'folder': str(search.cache_folder), 'rows': len(result), 'wall_s': wall, 'cpu_s': cpu,\n"
        "  'peak_rss_after_imports_mib': before, 'peak_rss_after_pandas_mib': with_pandas,\n"
        "  'peak_rss_mib': run.peak_rss_mib()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def result_build(folder: str, repeats: int = 5) -> dict[str, float]:
    """Seconds to build the SearchResult of a journal (best of `repeats`, wall and CPU; pandas
    already imported), and to open it with its integrity check."""
    start = time.perf_counter()
    journal = Journal.open(folder)
    opened = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = journal.result()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    journal.close()
    return {"result_rows": len(result), "result_build_s_wall": min(walls), "result_build_s_cpu": min(cpus),
            "journal_open_with_quick_check_s": opened,
            "journal_mib": (Path(folder) / "journal.sqlite").stat().st_size / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--cost-evaluations", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    figures: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                               "load_average_1min_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        figures.update(per_evaluation_cost(base, args.cost_evaluations, args.repeats))
        figures["record_score_ms_sync_normal"] = record_score_cost(base, 5000, "normal")
        figures["record_score_ms_sync_full"] = record_score_cost(base, 1000, "full")
        big = big_run(base, args.evaluations)
        figures.update({f"big_run_{k}": v for k, v in big.items() if k != "folder"})
        figures.update(result_build(big["folder"]))
    figures["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for key, value in figures.items():
        print(f"{key:42s} {value:.4f}" if isinstance(value, float) else f"{key:42s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
