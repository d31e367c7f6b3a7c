"""IsoMultiProcessWorker specifics: a fresh process per candidate, process groups, start methods."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from compileiq.testing import run_batch as run
from compileiq.testing import running_worker
from compileiq.testing.objectives import faulty, spawns_grandchild
from compileiq.testing.processes import alive
from compileiq_isolated import IsoMultiProcessWorker


def pid_and_gpu(config: dict[str, Any]) -> float:
    Path(config["out"], str(os.getpid())).write_text(os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    return float(os.getpid())


@pytest.fixture
def worker() -> Any:
    with running_worker(IsoMultiProcessWorker) as w:
        yield w


def test_fresh_process_per_candidate(worker: IsoMultiProcessWorker, tmp_path: Path) -> None:
    scores = run(worker, pid_and_gpu, [{"out": str(tmp_path)}] * 5, gpus=[0, 1])
    pids = {s.score for s in scores.values()}
    assert len(pids) == 5 and os.getpid() not in pids
    assert {p.read_text() for p in tmp_path.iterdir()} == {"0", "1"}
    assert {s.metadata_dict["gpu_id"] for s in scores.values()} == {"0", "1"}


def test_timeout_kills_the_whole_process_group(worker: IsoMultiProcessWorker, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    start = time.monotonic()
    scores = run(worker, spawns_grandchild, [{"pidfile": str(pidfile)}], task_timeout=1.0)
    assert time.monotonic() - start < 4
    meta = scores[0].metadata_dict
    assert meta["failure"] == "timeout" and meta["kill_latency_s"] < 0.1, meta
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild), "the compiler-like grandchild survived the timeout"


@pytest.mark.parametrize("mode", ["forkserver", "spawn"])
def test_other_start_methods(worker: IsoMultiProcessWorker, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIQ_PROCESS_MODE", mode)
    pool = [{"x": 2.0}, {"fault": "raise"}, {"fault": "exit"}, {"fault": "none"}]
    scores = run(worker, faulty, pool)
    assert scores[0].score == 4.0
    assert [scores[i].metadata_dict["failure"] for i in (1, 2, 3)] == ["exception", "crash", "invalid_return"]


def test_unpicklable_objective_outside_fork_mode(worker: IsoMultiProcessWorker,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    lock = threading.Lock()

    def objective(config: dict) -> float:
        with lock:
            return 1.0

    assert run(worker, objective, [{}])[0].score == 1.0  # fork: nothing is pickled
    monkeypatch.setenv("CIQ_PROCESS_MODE", "forkserver")
    with pytest.raises(TypeError, match="cannot be pickled"):
        run(worker, objective, [{}])
