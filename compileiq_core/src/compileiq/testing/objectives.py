"""Toy objectives for the conformance kit: module-level, so every worker can pickle them.

Each reads its behaviour from the configuration, so one function covers a whole batch:
`{"x": 3}` scores 9.0 with `square`; `{"fault": "raise"}` makes `faulty` raise, and so on.
The async variants behave the same under `await`.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
from typing import Any

__all__ = [
    "ASYNC_FAULTS",
    "CRASH_FAULTS",
    "INVALID_RETURNS",
    "async_faulty",
    "async_sleepy",
    "async_square",
    "async_two_objectives",
    "expected_square",
    "fails_on_empty",
    "faulty",
    "sleepy",
    "spawns_grandchild",
    "square",
    "two_objectives",
]

INVALID_RETURNS = {"none": None, "wrong_length": (1.0, 2.0, 3.0), "string": "fast", "nan": math.nan}
"""Return values an objective with one objective must not give, by name."""

CRASH_FAULTS = ("exit", "segfault", "sigkill")
"""Faults that end the evaluating process itself."""

ASYNC_FAULTS = ("raise", "hang", *INVALID_RETURNS)
"""Faults an async objective can show (it cannot crash its process without ending the driver)."""


def expected_square(config: dict[str, Any]) -> float:
    """What `square` returns for `config` (2.0 squared for the empty baseline config)."""
    return float(config.get("x", 2.0)) ** 2


def square(config: dict[str, Any]) -> float:
    """`x` squared (x defaults to 2.0, so the baseline `{}` scores 4.0)."""
    return expected_square(config)


def two_objectives(config: dict[str, Any]) -> tuple[float, float]:
    """Two objectives: (x + 1, 10 - x)."""
    x = float(config.get("x", 2.0))
    return (x + 1.0, 10.0 - x)


def fails_on_empty(config: dict[str, Any]) -> float:
    """Raises on the baseline config `{}`; `square` otherwise."""
    if not config:
        raise ValueError("deliberate failure on the baseline configuration")
    return expected_square(config)


def _fault(kind: str) -> Any:
    if kind == "raise":
        raise ValueError("deliberate failure from the conformance kit")
    if kind in INVALID_RETURNS:
        return INVALID_RETURNS[kind]
    if kind == "exit":
        os._exit(3)
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    if kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError(f"unknown fault {kind!r}")


def faulty(config: dict[str, Any]) -> Any:
    """`square`, unless `config["fault"]` names a fault: raise, hang (for `config["hang_s"]`,
    default 600 s), none, wrong_length, string, nan, exit, segfault or sigkill."""
    kind = config.get("fault")
    if kind is None:
        return expected_square(config)
    if kind == "hang":
        time.sleep(float(config.get("hang_s", 600)))
        return expected_square(config)
    return _fault(kind)


def sleepy(config: dict[str, Any]) -> float:
    """Sleeps `config["sleep"]` seconds (default 0.05), then returns 1.0."""
    time.sleep(float(config.get("sleep", 0.05)))
    return 1.0


def spawns_grandchild(config: dict[str, Any]) -> float:
    """Starts a long `sleep` process, writes its pid to `config["pidfile"]`, then hangs."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(config["pidfile"], "w") as handle:
        handle.write(str(child.pid))
    time.sleep(600)
    return 1.0


async def async_square(config: dict[str, Any]) -> float:
    """`square`, awaited."""
    await asyncio.sleep(0)
    return expected_square(config)


async def async_two_objectives(config: dict[str, Any]) -> tuple[float, float]:
    """`two_objectives`, awaited."""
    await asyncio.sleep(0)
    return two_objectives(config)


async def async_fails_on_empty(config: dict[str, Any]) -> float:
    """`fails_on_empty`, awaited."""
    await asyncio.sleep(0)
    return fails_on_empty(config)


async def async_faulty(config: dict[str, Any]) -> Any:
    """`faulty` for the faults in `ASYNC_FAULTS`; "hang" awaits forever."""
    await asyncio.sleep(0)
    kind = config.get("fault")
    if kind is None:
        return expected_square(config)
    if kind == "hang":
        await asyncio.sleep(float(config.get("hang_s", 600)))
        return expected_square(config)
    return _fault(kind)


async def async_sleepy(config: dict[str, Any]) -> float:
    """`sleepy` with `asyncio.sleep`."""
    await asyncio.sleep(float(config.get("sleep", 0.05)))
    return 1.0
