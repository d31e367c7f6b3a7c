"""Import cost of compileiq against bare Python, measured side by side.

Runs `python -c pass` and `python -c "import compileiq, compileiq.ciq, compileiq.worker"`
alternately, N times each, and reports the median wall time and peak RSS of each child and
their difference. Targets: at most 0.15 s and 40 MiB above bare Python.

    python benchmarks/import_cost/run.py [--runs 30] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

IMPORT = "import compileiq, compileiq.ciq, compileiq.worker"


def measure(python: str, code: str, bytecode: bool = True) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `python -c code` child.

    With `bytecode`, the child may read and write `.pyc` caches, as an installed package does
    (pip compiles them at install); without, every module is compiled from source each time.
    """
    env = dict(os.environ)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", code], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"`{code}` failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--no-bytecode", action="store_true",
                        help="compile every module from source each run (no .pyc caches)")
    args = parser.parse_args()
    bytecode = not args.no_bytecode
    measure(args.python, IMPORT, bytecode)  # warm-up: writes the .pyc caches when allowed
    bare, full = [], []
    for _ in range(args.runs):
        bare.append(measure(args.python, "pass", bytecode))
        full.append(measure(args.python, IMPORT, bytecode))
    t_bare = statistics.median(t for t, _ in bare)
    t_full = statistics.median(t for t, _ in full)
    m_bare = statistics.median(m for _, m in bare)
    m_full = statistics.median(m for _, m in full)
    print(f"runs: {args.runs} each, interleaved; .pyc caches: {'on' if bytecode else 'off'}; python: {args.python}")
    print(f"{'':28}{'time (s)':>10}{'peak RSS (MiB)':>16}")
    print(f"{'python -c pass':28}{t_bare:10.3f}{m_bare:16.1f}")
    print(f"{'import compileiq (+ciq,worker)':28}{t_full:10.3f}{m_full:16.1f}")
    print(f"{'difference':28}{t_full - t_bare:10.3f}{m_full - m_bare:16.1f}")
    ok = t_full - t_bare <= 0.15 and m_full - m_bare <= 40
    print("targets (<= 0.15 s, <= 40 MiB):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
