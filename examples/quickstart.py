"""A small tuning job: find the block size and unroll factor that minimise a modelled runtime.

The objective models a kernel's runtime (with a little measurement noise) so this demo runs
anywhere in seconds; `examples/gcc_flags/` tunes a real C kernel with the machine's compiler.

    python examples/quickstart.py [--generations 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import random

import compileiq.search_spaces.base as ss
from compileiq import Search, SearchConfiguration


def modelled_runtime(config: dict) -> float:
    """Milliseconds for one run of a tiled kernel with these settings (lower is better)."""
    block = config.get("block", 64)
    unroll = config.get("unroll", 1)
    vectorize = "vectorize" in config
    cache_misses = abs(math.log2(block) - 7) * 0.6  # 128 fits the cache best
    loop_overhead = 1.2 / unroll + 0.05 * unroll  # unrolling helps, then spills registers
    speedup = 0.7 if vectorize and block >= 32 else 1.0
    noise = random.gauss(1.0, 0.01)
    return round((2.0 + cache_misses + loop_overhead) * speedup * noise, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    search = Search(
        objective_function=modelled_runtime,
        search_space={
            "block": ss.choice([8, 16, 32, 64, 128, 256, 512]),
            "unroll": ss.range(1, 16),
            "vectorize": ss.literal("on", knockout_prob=0.5),
        },
        search_config=SearchConfiguration(generations=args.generations, pool_size=12, normalize=True),
        worker_type="multiprocess",
    )
    result = search.start(num_workers=args.workers)
    best = result.get_best_result()
    print(f"evaluated {len(result.get_results())} configurations (baseline included)")
    print(f"best configuration: {best['params']}")
    print(f"runtime {best['score_1']:.3f} ms, {1 / best['norm_score_1']:.2f}x faster than the default build")


if __name__ == "__main__":
    main()
