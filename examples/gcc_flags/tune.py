"""Tune GCC optimization flags for a real C kernel (a masked 2-D stencil with a convergence residual).

Each evaluation compiles `stencil.c` in a scratch folder with the configuration's flags,
checks the program's answer against an -O0 reference build, and takes the median of several
timed runs. Scores are normalized to the -O2 baseline, so they read as runtime relative to -O2.
At the end the best build is re-measured against -O2, -O3 and `-O3 -march=native` (the flags
an expert tries first) in interleaved rounds, with a 95% confidence interval per comparison.

    python examples/gcc_flags/tune.py [--generations 6] [--pool-size 12] [--workers 1] [--rounds 15]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compare import measure_interleaved, speedup_ci, verdict  # noqa: E402
from flags import SEARCH_SPACE, command_flags  # noqa: E402
from kernel import Workload, find_compiler, reference, runtime_ms  # noqa: E402

from compileiq import Search, SearchConfiguration  # noqa: E402

REFERENCES = {"-O2": {}, "-O3": {"opt": "-O3"}, "-O3 -march=native": {"opt": "-O3", "march": "-march=native"}}
"""What the tuned build is compared with: the defaults, and the flags an expert tries first."""


def report_comparison(best: dict, workload: Workload, rounds: int) -> None:
    """Re-measure the best build beside each reference, interleaved, and print speed-ups with 95% CIs."""
    builds = {"tuned": command_flags(best), **{name: command_flags(cfg) for name, cfg in REFERENCES.items()}}
    samples = measure_interleaved(builds, workload, rounds=rounds)
    tuned = samples["tuned"]
    print(f"\nre-measured in {rounds} interleaved rounds (each: median of {workload.reps} runs); speed-up = "
          "reference time / tuned time, per round, median and 95% bootstrap CI:")
    print(f"  {'reference':<20}{'median ms':>10}{'speed-up':>10}   95% CI")
    print(f"  {'tuned':<20}{statistics.median(tuned):>10.2f}")
    for name in REFERENCES:
        point, low, high = speedup_ci(samples[name], tuned)
        print(f"  {name:<20}{statistics.median(samples[name]):>10.2f}{point:>9.2f}x   [{low:.2f}x, {high:.2f}x]")
    for name in REFERENCES:
        print(" ", verdict(name, *speedup_ci(samples[name], tuned)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--pool-size", type=int, default=12)
    parser.add_argument("--workers", type=int, default=1, help="parallel builds (1 keeps timings clean)")
    parser.add_argument("--worker-type", default="isolated")
    parser.add_argument("--size", type=int, default=256, help="grid side of the stencil")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds of the final comparison")
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

    report_comparison(best["params"], workload, args.rounds)
    try:
        from compileiq.report import write_report

        print("report:", write_report(search.cache_folder))
    except ImportError as exc:  # matplotlib is the optional [report] extra
        print(f"no report ({exc}); pip install 'compileiq-core[report]' to get one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
