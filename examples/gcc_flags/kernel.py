"""Build and time the stencil kernel: compile in a scratch folder, check the answer, take the median."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flags import command_flags

from compileiq import INVALID_SCORE

SOURCE = Path(__file__).with_name("stencil.c")


@dataclass(frozen=True)
class Workload:
    """What to run: grid size, sweeps per run, timed repetitions, and the right answer."""

    n: int = 256
    steps: int = 40
    reps: int = 7
    checksum: float | None = None
    obstacles: int | None = None


def find_compiler() -> str:
    """The machine's C compiler (CC, else cc or gcc); SystemExit with a clear message if none."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)  # type: ignore[return-value]
    raise SystemExit(
        "No C compiler found (looked for $CC, cc and gcc). Install one, e.g. "
        "`apt-get install gcc` or `xcode-select --install`, then run the demo again."
    )


def build(flags: list[str], binary: Path, timeout: float = 60) -> None:
    """Compile the kernel with `flags` into `binary` (CalledProcessError if it does not build)."""
    subprocess.run([find_compiler(), *flags, "-o", str(binary), str(SOURCE), "-lm"],
                   check=True, capture_output=True, timeout=timeout)


def run(binary: Path, workload: Workload, timeout: float = 60) -> tuple[float, int, list[int]]:
    """Run a built kernel: (checksum, obstacles, per-repetition ns)."""
    out = subprocess.run([str(binary), str(workload.n), str(workload.steps), str(workload.reps)],
                         check=True, capture_output=True, text=True, timeout=timeout).stdout
    lines = out.split("\n")
    _, checksum, obstacles = lines[0].split()
    times = [int(line.split()[1]) for line in lines[1:] if line.startswith("time_ns")]
    return float(checksum), int(obstacles), times


def build_and_run(flags: list[str], workload: Workload, timeout: float = 60) -> tuple[float, int, list[int]]:
    """Compile with `flags` in a scratch folder, run, and return (checksum, obstacles, per-repetition ns)."""
    with tempfile.TemporaryDirectory(prefix="ciq-gcc-") as scratch:
        binary = Path(scratch) / "stencil"
        build(flags, binary, timeout)
        return run(binary, workload, timeout)


def reference(workload: Workload) -> Workload:
    """The workload with the right answer filled in, from an unoptimized (-O0) build."""
    checksum, obstacles, _ = build_and_run(["-O0"], Workload(workload.n, workload.steps, 0))
    return Workload(workload.n, workload.steps, workload.reps, checksum, obstacles)


def runtime_ms(config: dict, workload: Workload) -> float | str:
    """The objective: median runtime in ms of the build `config` describes, or INVALID_SCORE.

    A build that fails to compile, crashes, or computes a wrong answer (checksum off by more
    than 1e-9 relative, or a wrong obstacle count) is INVALID, so unsafe math cannot win.
    """
    try:
        checksum, obstacles, times = build_and_run(command_flags(config), workload)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return INVALID_SCORE
    if obstacles != workload.obstacles or not abs(checksum - workload.checksum) <= 1e-9 * abs(workload.checksum):
        return INVALID_SCORE
    return statistics.median(times) / 1e6
