"""Tune GCC optimization flags for a real C kernel (a masked 2-D stencil).

Each evaluation compiles `stencil.c` in a scratch folder with the configuration's flags,
checks the program's answer against an -O0 reference build, and takes the median of several
timed runs. Scores are normalized to the -O2 baseline, so they read as runtime relative to -O2.

    python examples/gcc_flags/tune.py [--generations 6] [--pool-size 12] [--workers 1]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from flags import SEARCH_SPACE, command_flags  # noqa: E402
from kernel import Workload, build_and_run, find_compiler, reference, runtime_ms  # noqa: E402

from compileiq import Search, SearchConfiguration  # noqa: E402


def remeasure(configs: dict[str, dict], workload: Workload, rounds: int = 5) -> dict[str, float]:
    """Median runtime (ms) of each configuration, measured in interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, config in configs.items():
            _, _, times = build_and_run(command_flags(config), workload)
            samples[name].append(statistics.median(times) / 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--pool-size", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1, help="parallel builds (1 keeps timings clean)")
    parser.add_argument("--worker-type", default="isolated")
    parser.add_argument("--size", type=int, default=256, help="grid side of the stencil")
    args = parser.parse_args()

    compiler = find_compiler()
    workload = reference(Workload(n=args.size))
    print(f"compiler: {compiler}; reference checksum {workload.checksum:.6e}, {workload.obstacles} obstacles")

    search = Search(
        objective_function=functools.partial(runtime_ms, workload=workload),
        search_space=SEARCH_SPACE,
        search_config=SearchConfiguration(generations=args.generations, pool_size=args.pool_size, normalize=True),
        worker_type=args.worker_type,
    )
    result = search.start(num_workers=args.workers, task_timeout=60)
    df = result.get_results()
    invalid = int((df["score_1"] == "*").sum())
    best = result.get_best_result()
    flags = command_flags(best["params"])
    print(f"\nevaluated {len(df)} builds, {invalid} invalid (failed to build or computed a wrong answer)")
    print("best flags:", " ".join(flags))

    times = remeasure({"best": best["params"], "-O2": {}, "-O3": {"opt": "-O3"}}, workload)
    print(f"re-measured: best {times['best']:.2f} ms, -O2 {times['-O2']:.2f} ms, -O3 {times['-O3']:.2f} ms")
    print(f"speed-up over -O2: {times['-O2'] / times['best']:.2f}x; over -O3: {times['-O3'] / times['best']:.2f}x")
    try:
        from compileiq.report import write_report

        print("report:", write_report(search.cache_folder))
    except ImportError as exc:  # matplotlib is the optional [report] extra
        print(f"no report ({exc}); pip install 'compileiq-core[report]' to get one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
