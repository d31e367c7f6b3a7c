"""Per-candidate memory limits for process workers (`memory_limit=` of `Search.start()`).

Public through `compileiq.processes`. In the child, `memory_limit(limit)` caps the address space
(RLIMIT_AS, soft limit) at what the process already maps plus `limit` for the duration of one
evaluation; an allocation past it fails (Python raises MemoryError) and `out_of_memory_score`
turns that into an INVALID Score with reason "out of memory". Programs the objective starts
(compilers) inherit the cap, each for its own address space.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from compileiq.evaluation import failed_score
from compileiq.score import Score

__all__ = ["describe_bytes", "is_out_of_memory", "memory_limit", "out_of_memory_score", "parse_memory_limit"]

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 1000**2, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1000**3, "gib": 1 << 30, "t": 1 << 40, "tb": 1000**4, "tib": 1 << 40}


def parse_memory_limit(value: Any) -> int | None:
    """Bytes for `memory_limit=`: an int (bytes) or a string like "512M", "2GiB", "1.5 GB"
    (K/M/G/T and KiB/MiB/... are powers of 1024, KB/MB/... of 1000). None or 0: no limit."""
    if value is None or value is False or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS and float(match.group(1)) > 0:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ValueError(
        f"memory_limit={value!r} is not a memory size; expected a positive number of bytes or a string "
        "such as '512M' or '2GiB'. Leave it unset for no limit."
    )


def describe_bytes(size: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g} {unit}"
    return f"{size} bytes"


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@contextmanager
def memory_limit(limit: int | None) -> Iterator[None]:
    """Child side: within the block, this process may map at most `limit` bytes more than it
    does now (RLIMIT_AS, soft limit; restored afterwards). No effect when `limit` is None or
    the platform has no RLIMIT_AS."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        resource = None  # type: ignore[assignment]
    if not limit or resource is None or not hasattr(resource, "RLIMIT_AS"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped_bytes() + limit
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def is_out_of_memory(score: Score) -> bool:
    """True for a Score whose evaluation ran out of memory (MemoryError, or already marked)."""
    if not score.failed:
        return False
    meta = score.metadata_dict
    return meta.get("failure") == "out_of_memory" or (
        meta.get("failure") == "exception" and str(meta.get("error", "")).startswith("MemoryError")
    )


def out_of_memory_score(score: Score, limit: int | None) -> Score:
    """The INVALID Score with reason "out of memory" for an evaluation that ran out of memory."""
    meta = score.metadata_dict
    for key in ("failure", "error"):
        meta.pop(key, None)
    where = f"memory_limit={describe_bytes(limit)}" if limit else "the memory available"
    return failed_score(score.param_id, score.params, score.num_objectives, "out_of_memory",
                        f"out of memory: the evaluation went over {where} (MemoryError); its process is replaced",
                        **meta)
