"""Replay of an exhaustively measured kernel tuning space (a Kernel Tuner cache file).

A configuration is a tuple of values in the cache's `tune_params_keys` order. Feasible and
measured: its mean time (noise-free replay) or one of its 32 `times` drawn at random (noisy
replay); failed at run time, or absent from the cache (it violates the kernel's
restrictions): None. Quality is the regret of an incumbent, `true_mean / best_mean - 1`.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KERNELS", "Kernel", "Replay", "load_kernel"]

KERNELS = {  # cache file -> its T1 specification (for the restrictions)
    "convolution_A100": "convolution",
    "dedispersion_A100": "dedispersion",
    "gemm_RTX_3090": "gemm",
}


@dataclass
class Kernel:
    """One measured space: its parameters, restrictions and every measurement."""

    name: str
    header: dict[str, Any]
    keys: list[str]
    tune_params: dict[str, list[Any]]
    conditions: list[str]
    means: dict[tuple, float] = field(default_factory=dict)
    times: dict[tuple, list[float]] = field(default_factory=dict)
    failed: set[tuple] = field(default_factory=set)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> float:
        return min(self.means.values())

    @property
    def cartesian(self) -> int:
        size = 1
        for values in self.tune_params.values():
            size *= len(values)
        return size

    def regret(self, config: tuple | None) -> float:
        """`true_mean / best - 1` of an incumbent; inf when there is none."""
        if config is None or config not in self.means:
            return float("inf")
        return self.means[config] / self.best - 1.0


def load_kernel(data: Path, name: str) -> Kernel:
    raw = json.loads(gzip.open(data / f"{name}.json.gz").read())
    spec = json.loads((data / f"{KERNELS[name]}.space.json").read_text())
    conditions = [c["Expression"] for c in spec["ConfigurationSpace"].get("Conditions", [])]
    keys = list(raw["tune_params_keys"])
    kernel = Kernel(name, {k: v for k, v in raw.items() if k != "cache"}, keys,
                    {k: list(raw["tune_params"][k]) for k in keys}, conditions, cache=raw["cache"])
    for record in raw["cache"].values():
        config = tuple(record[k] for k in keys)
        if isinstance(record["time"], str):
            kernel.failed.add(config)
        else:
            kernel.means[config] = float(record["time"])
            kernel.times[config] = [float(t) for t in record["times"]]
    return kernel


class Replay:
    """The objective of one run: a configuration's measured time, or None when it cannot run."""

    def __init__(self, kernel: Kernel, noisy: bool, seed: int) -> None:
        self.kernel = kernel
        self.noisy = noisy
        self.rng = random.Random(10_000 + seed)
        self.trace: list[tuple[tuple, float | None]] = []

    def __call__(self, config: tuple) -> float | None:
        times = self.kernel.times.get(config)
        if times is None:
            value = None
        elif self.noisy:
            value = times[self.rng.randrange(len(times))]
        else:
            value = self.kernel.means[config]
        self.trace.append((config, value))
        return value
