"""Objectives for the Ray tests; Ray worker processes import them by module name."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path


def faulty(config: dict) -> object:
    """`kind` picks the fault; anything else scores `x` (4.0 for the baseline's empty config)."""
    kind = config.get("kind")
    if kind == "raise":
        raise ValueError("this configuration does not compile")
    if kind == "exit":
        os._exit(3)
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)
    if kind == "hang":
        if "pid_dir" in config:
            Path(config["pid_dir"], f"{os.getpid()}").write_text("")
        time.sleep(600)
    returns = {"none": None, "tuple": (1.0, 2.0), "string": "fast", "nan": math.nan}
    if kind in returns:
        return returns[kind]
    time.sleep(config.get("sleep", 0.0))
    return float(config.get("x", 4))


def where(config: dict) -> float:
    """Sleeps a little (so tasks spread), returns `x` (2.0 for the baseline)."""
    time.sleep(config.get("sleep", 0.3))
    return float(config.get("x", 2))
