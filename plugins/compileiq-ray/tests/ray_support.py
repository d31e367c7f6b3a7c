"""Helpers of the Ray tests: the environment, process trees and listening sockets from /proc."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from compileiq.testing.processes import alive

HERE = Path(__file__).parent
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.pop("RAY_ADDRESS", None)
# Ray worker processes import the objectives of `ray_objectives` by name.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

SMALL_STORE = 80 * 1024**2
NODE_ARGS = {"object_store_memory": SMALL_STORE, "node_ip_address": "127.0.0.1"}


def _parents() -> dict[int, int]:
    table: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        table[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return table


def descendants(pid: int | None = None) -> set[int]:
    """PIDs of every live process whose parent chain leads to `pid` (this process by default)."""
    root = os.getpid() if pid is None else pid
    table = _parents()
    found = {root}
    grew = True
    while grew:
        grew = False
        for child, parent in table.items():
            if parent in found and child not in found:
                found.add(child)
                grew = True
    found.discard(root)
    return {p for p in found if alive(p)}


def listening_addresses(pids: set[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket held by `pids` (IPv4 and IPv6)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            rows = fh.read().splitlines()[1:]
        for row in rows:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            hex_addr, hex_port = cols[1].split(":")
            out.append((_decode(hex_addr), int(hex_port, 16), inodes[cols[9]]))
    return out


def _decode(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
    flat = b"".join(words)
    if flat[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in flat[12:])
    return flat.hex()


def assert_loopback_only(pids: set[int]) -> list[tuple[str, int, int]]:
    sockets = listening_addresses(pids)
    assert sockets, "expected Ray processes listening on some port"
    wrong = [s for s in sockets if s[0] not in ("127.0.0.1", "::ffff:127.0.0.1", "00000000000000000000000000000001")]
    assert not wrong, f"Ray listens beyond loopback: {wrong}"
    return sockets


def wait_gone(pids: set[int], seconds: float = 20.0) -> set[int]:
    """Wait until none of `pids` is alive; return those still alive after `seconds`."""
    deadline = time.monotonic() + seconds
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {p for p in left if alive(p)}
    return left


def worker_nodes() -> list[str]:
    """Ids of the alive nodes that have CPUs (the head has none)."""
    import ray

    return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
