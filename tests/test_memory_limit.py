"""`memory_limit=` on the process workers: a candidate over it scores INVALID "out of memory",
its process is replaced and the search goes on; without a limit, a SIGKILLed child (what the
kernel's OOM killer does) is reported as "killed by SIGKILL (out of memory?)"."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from compileiq.processes import parse_memory_limit
from compileiq.registry import resolve_worker
from compileiq.testing import leftover_processes
from compileiq.testing.processes import descendants

WORKERS = ["multiprocess", "isolated"]
GIB = 1 << 30


def hog(config: dict[str, Any]) -> float:
    """Allocates `gib` GiB for real (and touches it), or SIGKILLs itself like the OOM killer."""
    if config.get("oom_kill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if config.get("gib"):
        block = bytearray(int(config["gib"] * GIB))
        block[:: 1 << 12] = b"x" * len(block[:: 1 << 12])  # every page, so the memory is really used
        return float(len(block) > 0)
    return float(os.getpid())


def run(name: str, folder: Path, pool: list[dict[str, Any]], **kwargs: Any) -> dict[Any, Any]:
    before = set(descendants())
    worker = resolve_worker(name).create(cache_folder=folder, normalize=False, tracker=None)
    worker.setup()
    try:
        scores = worker.run(function=hog, params_pool=pool, params_ids=list(range(len(pool))), **kwargs)
    finally:
        worker.close()
    assert not leftover_processes(before)
    return {s.param_id: s for s in scores}


@pytest.mark.parametrize("name", WORKERS)
def test_2_gib_under_a_512_mib_limit_scores_out_of_memory_and_the_search_goes_on(name: str, tmp_path: Path) -> None:
    pool = [{"x": 0}, {"gib": 2}, {"x": 2}, {"x": 3}, {"gib": 0.1}]
    scores = run(name, tmp_path, pool, num_workers=1, memory_limit="512M")
    over = scores[1].metadata_dict
    assert scores[1].failed and over["failure"] == "out_of_memory", over
    assert over["error"].startswith("out of memory") and "512 MiB" in over["error"]
    assert not any(scores[i].failed for i in (0, 2, 3, 4)), "the others (100 MiB included) still run"
    if name == "multiprocess":  # one pool process: the one that ran out of memory was replaced
        assert scores[0].score != scores[2].score == scores[3].score


@pytest.mark.parametrize("name", WORKERS)
def test_sigkill_without_a_limit_says_out_of_memory(name: str, tmp_path: Path) -> None:
    scores = run(name, tmp_path, [{"oom_kill": True}, {"x": 1}], num_workers=2)
    meta = scores[0].metadata_dict
    assert meta["failure"] == "crash" and "killed by SIGKILL (out of memory?)" in meta["error"], meta
    assert not scores[1].failed


@pytest.mark.parametrize(("value", "expected"), [("512M", 512 << 20), ("2GiB", 2 * GIB), ("1.5 GB", 1_500_000_000),
                                                 (4096, 4096), (None, None)])
def test_memory_limit_values(value: Any, expected: int | None) -> None:
    assert parse_memory_limit(value) == expected


@pytest.mark.parametrize("value", ["lots", -1, "12 parsecs", True])
def test_bad_memory_limit_is_refused_with_the_fix(value: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_limit=.*'512M'"):
        run("isolated", tmp_path, [{"x": 1}], memory_limit=value)
