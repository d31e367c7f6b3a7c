"""Run a command inside a bound on processes and time, and say how it went (JSON on stdout).

    python bound_processes.py --max-procs 200 --timeout 60 --out RESULT.json -- CMD ARGS...

For commands that could multiply processes (an unguarded script): the runner enters a pids
cgroup with that limit when /sys/fs/cgroup/pids is writable (removed afterwards), and in any
case it is a child subreaper (Linux), so every process the command starts stays its descendant even when
orphaned or in a new session. Every 20 ms it counts them; past `--max-procs` or `--timeout`
it SIGKILLs them all. When the command ends it waits a grace period for the rest to exit on
their own (those are reported as `left`), then kills and reaps whatever remains.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _descendants() -> dict[int, str]:
    found: dict[int, str] = {}
    stack = [os.getpid()]
    while stack:
        pid = stack.pop()
        kids: list[int] = []
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                kids += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            pass
        for kid in kids:
            if kid in found:
                continue
            try:
                status = Path(f"/proc/{kid}/status").read_text()
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "\nState:\tZ" not in status:
                found[kid] = cmd.strip()
            stack.append(kid)
    return found


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_all() -> None:
    for _ in range(50):
        alive = _descendants()
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
        _reap()


CGROUP_ROOT = Path("/sys/fs/cgroup/pids")


def _enter_pids_cgroup(max_procs: int) -> Path | None:
    """A pids cgroup (v1) holding this runner and all it starts, when the hierarchy is writable."""
    group = CGROUP_ROOT / f"compileiq-bound-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        return None
    try:
        (group / "pids.max").write_text(str(max_procs + 10))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        group.rmdir()
        return None
    return group


def _leave_pids_cgroup(group: Path | None) -> None:
    if group is None:
        return
    try:
        (CGROUP_ROOT / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()
    except OSError:
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-procs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--cwd")
    parser.add_argument("--out", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    group = _enter_pids_cgroup(args.max_procs)
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=args.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    import threading

    streams: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: streams.__setitem__(n, s.read()), daemon=True)
               for n, s in (("stdout", proc.stdout), ("stderr", proc.stderr))]
    for reader in readers:
        reader.start()
    peak, killed = 0, None
    while proc.poll() is None:
        count = len(_descendants())
        peak = max(peak, count)
        if count > args.max_procs:
            killed = f"more than {args.max_procs} processes"
        elif time.monotonic() - start > args.timeout:
            killed = f"still running after {args.timeout:g} s"
        if killed:
            _kill_all()
            break
        time.sleep(0.02)
    proc.wait()
    elapsed = time.monotonic() - start
    deadline = time.monotonic() + args.grace
    while (left := _descendants()) and time.monotonic() < deadline:
        time.sleep(0.05)
        _reap()
    _kill_all()
    _reap()
    _leave_pids_cgroup(group)
    for reader in readers:
        reader.join(10)
    Path(args.out).write_text(json.dumps({
        "returncode": proc.returncode, "pids_cgroup": group is not None, "elapsed_s": round(elapsed, 3),
        "peak_processes": peak,
        "killed_by_bound": killed, "left": left,
        "stdout": streams.get("stdout", b"").decode(errors="replace")[-20000:],
        "stderr": streams.get("stderr", b"").decode(errors="replace")[-20000:],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
