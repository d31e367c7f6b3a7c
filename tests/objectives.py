"""Picklable objectives for tests (importable by worker processes)."""

from __future__ import annotations

import math


def quadratic(config: dict) -> float:
    """(x - 3)^2 + y, with defaults for the baseline's empty config."""
    return (config.get("x", 5) - 3) ** 2 + config.get("y", 1)


def two_objectives(config: dict) -> tuple[float, float]:
    x = config.get("x", 5)
    return (x**2 + 1, (x - 4) ** 2 + 1)


def fails_on_odd(config: dict) -> float:
    x = config.get("x", 2)
    if x % 2:
        raise ValueError(f"odd x={x}")
    return float(x)


def always_raises(config: dict) -> float:
    raise RuntimeError("objective is broken")


def bad_returns(config: dict):
    """Returns something invalid for some x: None, a string, a 1-tuple, NaN."""
    x = config.get("x", 0)
    return {0: None, 1: "1.5", 2: (1.0,), 3: math.nan}.get(x, float(x))


def echo_flags(config: dict) -> float:
    return float(len(config))
