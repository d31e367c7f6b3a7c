"""Objectives for the Ray tests; Ray worker processes import them by module name."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

from compileiq.testing.objectives import faulty as kit_faulty


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


def faults_in_order(folder: str, faults: tuple[str, ...], config: dict) -> float:
    """The n-th candidate to start (claimed by creating `folder`/n, which then holds "<pid> <x>") commits
    `faults[n]`, a fault of the kit's `faulty`: "hang" (600 s), "exit" (os._exit(3)) or "sigkill"; every
    other candidate sleeps `sleep` (0.05 s by default) and scores `x`. The baseline (empty config)
    scores 2.0 without claiming a place."""
    if not config:
        return 2.0
    n = 0
    while True:
        try:
            fd = os.open(os.path.join(folder, str(n)), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            n += 1
            continue
        os.write(fd, f"{os.getpid()} {config['x']}".encode())
        os.close(fd)
        break
    if n < len(faults):
        kit_faulty({"fault": faults[n]})  # the conformance kit's faults: it hangs, exits or dies here
    time.sleep(config.get("sleep", 0.05))
    return float(config["x"])
