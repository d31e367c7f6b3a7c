"""Re-measure builds side by side: interleaved rounds, paired speed-ups, a bootstrap confidence interval."""

from __future__ import annotations

import random
import statistics
import tempfile
from pathlib import Path

from kernel import Workload, build, run


def measure_interleaved(builds: dict[str, list[str]], workload: Workload, rounds: int = 15,
                        seed: int = 0) -> dict[str, list[float]]:
    """Per build, one runtime (ms, median of the workload's repetitions) per round.

    Every build is compiled once; each round then runs all of them, in a fresh random order,
    so that drift in the machine's load hits every build alike and rounds can be paired.
    """
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in builds}
    with tempfile.TemporaryDirectory(prefix="ciq-compare-") as scratch:
        binaries = {}
        for i, (name, flags) in enumerate(builds.items()):
            binaries[name] = Path(scratch) / f"stencil_{i}"
            build(flags, binaries[name])
        for _ in range(rounds):
            order = list(builds)
            rng.shuffle(order)
            for name in order:
                _, _, times = run(binaries[name], workload)
                samples[name].append(statistics.median(times) / 1e6)
    return samples


def speedup_ci(reference: list[float], candidate: list[float], level: float = 0.95, resamples: int = 4000,
               seed: int = 1) -> tuple[float, float, float]:
    """Median of the per-round speed-ups reference/candidate and its bootstrap percentile interval."""
    if len(reference) != len(candidate) or len(reference) < 3:
        raise ValueError(f"need paired samples of equal length >= 3; got {len(reference)} and {len(candidate)}.")
    ratios = [r / c for r, c in zip(reference, candidate)]
    rng = random.Random(seed)
    boots = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    low = boots[int((1 - level) / 2 * resamples)]
    high = boots[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return statistics.median(ratios), low, high


def verdict(reference: str, point: float, low: float, high: float) -> str:
    """One honest sentence on whether the tuned build beats `reference`."""
    if low > 1.0:
        return f"tuned beats {reference}: {100 * (point - 1):.0f}% faster (95% CI {100 * (low - 1):.0f}% to " \
               f"{100 * (high - 1):.0f}%)."
    if high < 1.0:
        return f"tuned is SLOWER than {reference} ({point:.2f}x, 95% CI {low:.2f}x to {high:.2f}x): use {reference}."
    return f"no measurable difference from {reference} (95% CI {low:.2f}x to {high:.2f}x includes 1): tuning did " \
           f"not beat it on this machine."
