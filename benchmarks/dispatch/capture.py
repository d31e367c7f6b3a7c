"""What per-candidate output capture costs: whole Search with and without it, beside worker.run.

    python benchmarks/dispatch/capture.py [--rounds 5] [--generations 10]

Multiprocess worker, 2 processes, no-op objective, pool 1000: each round times a warm
`worker.run` doing `generations` x 1000 evaluations (no run folder, so nothing is captured), then
a whole Search of the same size with output capture (the default), then one with
`capture_output=False`; the rounds alternate, so each ratio compares like with like on a noisy
machine. Printed: the per-round ratios Search / worker.run and their medians, and, measured in
this process, a quiet candidate's cost in `evaluate_captured` beyond a bare `evaluate` (µs).
Run it on two versions of the code (PYTHONPATH) to compare them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import objectives  # noqa: E402
from run import WORKERS, make_worker, worker_run  # noqa: E402


def search_rate(folder: str, generations: int, **options: Any) -> float:
    import compileiq.search_spaces.base as ss
    from compileiq.ciq import Search
    from compileiq.types import SearchConfiguration

    search = Search(objective_function=objectives.noop, search_space={"x": ss.range(0, 10**7)},
                    search_config=SearchConfiguration(generations=generations, pool_size=1000),
                    worker_type="multiprocess", engine="random", cache_folder=folder, disable_progress_bar=True)
    start = time.perf_counter()
    result = search.start(num_workers=WORKERS, **options)
    return len(result) / (time.perf_counter() - start)


def capture_cost_us(n: int = 20000, hold: bool = False) -> float:
    """A quiet candidate's time in `evaluate_captured` minus its time in a bare `evaluate` (µs);
    `hold=True` as a pool process runs them (the redirection kept between quiet candidates)."""
    from compileiq.evaluation import evaluate
    from compileiq.processes import evaluate_captured, release_output

    with tempfile.TemporaryDirectory() as folder:
        evaluate_captured(objectives.noop, {}, param_id=0, num_objectives=1, run_folder=folder, hold=hold)
        start = time.perf_counter()
        for i in range(n):
            evaluate_captured(objectives.noop, {}, param_id=i, num_objectives=1, run_folder=folder, hold=hold)
        captured = time.perf_counter() - start
        release_output()
        start = time.perf_counter()
        for i in range(n):
            evaluate(objectives.noop, {}, param_id=i, num_objectives=1)
        bare = time.perf_counter() - start
        left = [name for name in os.listdir(os.path.join(folder, "logs")) if not name.startswith(".running-")]
        assert not left, f"quiet candidates left logs: {left[:3]}"
    return (captured - bare) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--generations", type=int, default=10)
    args = parser.parse_args()
    import compileiq
    import compileiq.results  # noqa: F401 - a one-off import of pandas, not dispatch

    print(f"compileiq from {Path(compileiq.__file__).parent}")
    print(f"quiet candidate, evaluate_captured beyond evaluate: {capture_cost_us():.1f} us; "
          f"with hold=True (a pool process): {capture_cost_us(hold=True):.1f} us")
    worker = make_worker("multiprocess")
    worker_run(worker, objectives.noop, WORKERS * 4)
    on, off = [], []
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as base:
        warnings.simplefilter("ignore")
        search_rate(base, 1)  # one-off imports of the driver's modules
        for i in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.generations):
                worker_run(worker, objectives.noop, 1000)
            raw = args.generations * 1000 / (time.perf_counter() - start)
            on.append(search_rate(base, args.generations) / raw)
            off.append(search_rate(base, args.generations, capture_output=False) / raw)
            print(f"round {i}: worker.run {raw:,.0f}/s; Search / worker.run: capture on {on[-1]:.2f}, "
                  f"off {off[-1]:.2f}", flush=True)
        leftovers = [p for p in Path(base).rglob(".running-*")]
        assert not leftovers, f"spools left after the searches: {leftovers[:3]}"
    worker.close()
    print(f"median Search / worker.run: capture on {statistics.median(on):.2f}, "
          f"off {statistics.median(off):.2f} ({args.rounds} rounds, {args.generations} x 1000)")


if __name__ == "__main__":
    main()
