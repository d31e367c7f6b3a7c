"""Objectives for the disk, lock and chaos tests (a module of their own: worker processes import them).

Each takes what it needs from the configuration (a one-value choice in the space carries a path),
so no environment has to reach a forkserver started earlier.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from compileiq import INVALID_SCORE
from compileiq.testing.objectives import CRASH_FAULTS, INVALID_RETURNS, faulty

FAULTS = ("raise", "hang", *CRASH_FAULTS, *INVALID_RETURNS, "flood", "hog")
"""Every fault the chaos soak injects: the conformance kit's, plus output floods and memory hogs."""


def fills_disk(config: dict[str, Any]) -> float:
    """`x`; the `fill_at`-th call (counted in `ctl`'s folder) first fills the disk holding `ballast`."""
    ctl = Path(config["ctl"])
    spec = json.loads(ctl.read_text())
    with open(ctl.with_suffix(".calls"), "a") as handle:
        handle.write("x\n")
    calls = len(ctl.with_suffix(".calls").read_text().split())
    if calls >= spec["fill_at"]:  # two processes may both count past fill_at: the first to claim it fills
        try:
            os.close(os.open(ctl.with_suffix(".filled"), os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return float(config["x"])
        fd = os.open(spec["ballast"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):  # down to the last free byte
                try:
                    while os.write(fd, b"\0" * chunk):
                        pass
                except OSError:
                    continue
        finally:
            os.close(fd)
    return float(config["x"])


def quick(config: dict[str, Any]) -> float:
    """`x`, at once."""
    return float(config["x"])


def slow(config: dict[str, Any]) -> float:
    """`x` after `config["sleep"]` seconds (default 0.1)."""
    time.sleep(float(config.get("sleep", 0.1)))
    return float(config["x"])


def fault_for(config: dict[str, Any], seed: int, rate: float) -> str | None:
    """The fault a candidate gets: a pure function of its parameters and the seed (so a resumed
    search injects exactly what an uninterrupted one does), one in `1 / rate` of candidates."""
    key = json.dumps({k: v for k, v in sorted(config.items()) if k != "ctl"}, sort_keys=True)
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    if digest[0] / 256 >= rate:
        return None
    return FAULTS[digest[1] % len(FAULTS)]


def _log_start(ctl: Path, config: dict[str, Any], kind: str | None) -> None:
    key = json.dumps([config["x"], config["y"], kind or "-"])
    with open(ctl.with_suffix(".starts"), "a") as handle:  # one short O_APPEND write: atomic
        handle.write(key + "\n")


def chaotic(config: dict[str, Any]) -> Any:
    """A smooth score, or the fault `fault_for` picks (from `config["ctl"]`'s seed and rate).

    The conformance kit's faults are raised by the kit's own `faulty`; output floods and memory
    hogs (a few hundred MB, every page touched) are done here. Every start is logged beside `ctl`.
    """
    ctl = Path(config["ctl"])
    spec = json.loads(ctl.read_text())
    kind = fault_for(config, spec["seed"], spec["rate"])
    _log_start(ctl, config, kind)
    value = (config["x"] - 40) ** 2 + config["y"] * 3.0
    if kind is None:
        time.sleep(spec.get("work_s", 0.0))
        return value
    if kind == "flood":  # a compiler's worth of output on both streams
        line = "warning: chaos flood " + "x" * 100 + "\n"
        for stream in (sys.stdout, sys.stderr):
            stream.write(line * (spec.get("flood_bytes", 1 << 20) // len(line) // 2))
            stream.flush()
        return value
    if kind == "hog":  # touch every page, so the memory is really used
        hog = bytearray(spec.get("hog_bytes", 200 << 20))
        for offset in range(0, len(hog), 4096):
            hog[offset] = 1
        del hog
        return value
    return faulty({"fault": kind, "hang_s": spec["hang_s"]})


def chaotic_dry(config: dict[str, Any]) -> Any:
    """What a process worker scores for `chaotic` (faults INVALID, floods and hogs their value),
    without causing anything: the uninterrupted reference run uses it in the driver's process."""
    spec = json.loads(Path(config["ctl"]).read_text())
    kind = fault_for(config, spec["seed"], spec["rate"])
    if kind in (None, "flood", "hog"):
        return (config["x"] - 40) ** 2 + config["y"] * 3.0
    return INVALID_SCORE


def hangs_with_pidfile(config: dict[str, Any]) -> float:
    """Writes its pid and its parent's to `config["pidfile"]`, then sleeps for ten minutes."""
    Path(config["pidfile"]).write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(600)
    return 1.0


def hangs_or_crashes(config: dict[str, Any]) -> float:
    """`x`; hangs (x % 11 == 3) or exits the process (x % 11 == 5)."""
    x = int(config["x"])
    if x % 11 == 3:
        time.sleep(60)
    if x % 11 == 5:
        os._exit(3)
    time.sleep(0.01)
    return float(x)
