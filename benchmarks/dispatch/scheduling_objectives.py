"""Objectives of the scheduling benchmark: sleep a duration drawn, per candidate, from a distribution.

A module, so worker processes and the raw executor import the same functions. A candidate's
duration is a pure function of its index (a hash gives the normal draw), so both scheduling
modes see independent draws from the same distribution.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from statistics import NormalDist

DISTRIBUTIONS = ("lognormal-0.5", "lognormal-1", "hang-5pct")
LABELS = {"lognormal-0.5": "lognormal, sigma 0.5", "lognormal-1": "lognormal, sigma 1",
          "hang-5pct": "5 % hang to 10x timeout"}
_NORMAL = NormalDist()


def _uniform(index: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{salt}:{index}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def duration(dist: str, median: float, index: int) -> float:
    """The sleep of candidate `index` under `dist` (seconds)."""
    z = _NORMAL.inv_cdf(_uniform(index, "z"))
    if dist == "lognormal-1":
        return median * math.exp(z)
    if dist == "hang-5pct" and _uniform(index, "hang") < 0.05:
        return 100.0 * median  # hangs: cut by the 10 x median timeout
    return median * math.exp(0.5 * z)


def timeout(dist: str, median: float) -> float | None:
    """The task_timeout of `dist` (only the hanging one has one)."""
    return 10.0 * median if dist == "hang-5pct" else None


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return time.time()


def _sleep(dist: str, median: float, config: dict) -> float:
    time.sleep(duration(dist, median, int(config["i"])))
    return time.time()  # the end of the evaluation: the benchmark measures the span from these


def sleeper(dist: str, median: float) -> functools.partial[float]:
    """The objective: sleep candidate `config["i"]`'s duration; return the time it ended."""
    return functools.partial(_sleep, dist, median)
