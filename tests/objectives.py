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


def floods_output(config: dict) -> float:
    """Prints `mb` megabytes half to stdout, half to stderr (part of it from a subprocess, as a
    compiler would), then a last line naming the candidate (unless `quiet`); hangs when `hang`, raises when `fail`."""
    import os
    import subprocess
    import sys
    import time

    total = int(config.get("mb", 0) * 1_000_000)
    chunk = b"compiler noise " * 4369 + b"\n"  # about 64 KiB
    written = writes = 0
    while written < total // 2:
        written += os.write(1 + writes % 2, chunk[: total // 2 - written])
        writes += 1
    if total > written:
        subprocess.run(["sh", "-c", f"yes subprocess-noise | head -c {total - written} >&2"], check=True)
    if not config.get("quiet"):
        print(f"last line of candidate {config.get('x')}", flush=True)
        print(f"stderr tail of candidate {config.get('x')}", file=sys.stderr, flush=True)
    if config.get("hang"):
        time.sleep(3600)
    if config.get("fail"):
        raise RuntimeError(f"build {config.get('x')} failed (see its log)")
    return float(config.get("x", 1))


def spool_probe(config: dict) -> float:
    """Prints `say` to stdout (and `err` to stderr) when given, then sleeps `sleep` s or, with
    `die`, kills its own process; returns 1.0 when its stdout is this process's output spool
    (`logs/.running-<pid>.txt`, where a process worker captures a candidate's output), else 0.0."""
    import os
    import signal
    import sys
    import time

    if config.get("say"):
        print(config["say"], flush=True)
    if config.get("err"):
        print(config["err"], file=sys.stderr, flush=True)
    if config.get("sleep"):
        time.sleep(config["sleep"])
    if config.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    target = os.readlink("/proc/self/fd/1")
    return 1.0 if os.path.basename(target) == f".running-{os.getpid()}.txt" else 0.0
