"""MultiProcessWorker specifics: persistent pool, GPU slots, CPU pinning, by-value objectives."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from compileiq.processes import resolve_cpus, resolve_gpus
from compileiq.testing import leftover_processes, running_worker
from compileiq.testing import run_batch as run
from compileiq.testing.processes import alive, descendants
from compileiq_multiprocess import MultiProcessWorker


def env_probe(config: dict[str, Any]) -> float:
    """Writes what the evaluating process sees to config['out'] / <pid>; returns the slot's GPU as a number."""
    cores = sorted(os.sched_getaffinity(0))
    Path(config["out"], f"{os.getpid()}-{config['x']}").write_text(
        f"{os.environ.get('CUDA_VISIBLE_DEVICES')}|{','.join(map(str, cores))}"
    )
    time.sleep(0.05)
    return float(os.environ.get("CUDA_VISIBLE_DEVICES", "-1"))


def pid_of(config: dict[str, Any]) -> float:
    time.sleep(config.get("nap", 0.0))
    return float(os.getpid())


@pytest.fixture
def worker() -> Any:
    with running_worker(MultiProcessWorker) as w:
        yield w


def test_pool_persists_across_batches(worker: MultiProcessWorker) -> None:
    first = {s.score for s in run(worker, pid_of, [{"nap": 0.2}] * 6).values()}
    second = {s.score for s in run(worker, pid_of, [{"nap": 0.2}] * 6).values()}
    assert first == second and len(first) == 2, "the same 2 processes serve every batch"
    assert os.getpid() not in first


def test_each_slot_gets_its_gpu(worker: MultiProcessWorker, tmp_path: Path) -> None:
    pool = [{"x": i, "out": str(tmp_path)} for i in range(8)]
    scores = run(worker, env_probe, pool, gpus=[3, "5"])
    seen: dict[str, set[str]] = {}
    for path in tmp_path.iterdir():
        seen.setdefault(path.name.split("-")[0], set()).add(path.read_text().split("|")[0])
    assert all(len(v) == 1 for v in seen.values()), f"a process changed GPU: {seen}"
    for score in scores.values():
        meta = score.metadata_dict
        assert meta["gpu_id"] == ["3", "5"][meta["slot"]], meta  # slot i gets gpus[i]
        assert str(int(score.score)) == meta["gpu_id"], "the objective saw another GPU than recorded"


def test_gpus_all_reads_cuda_visible_devices(worker: MultiProcessWorker, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    assert resolve_gpus("all", 2) == ["6", "7"]
    scores = run(worker, env_probe, [{"x": i, "out": str(tmp_path)} for i in range(4)], gpus="all")
    for score in scores.values():
        meta = score.metadata_dict
        assert meta["gpu_id"] == ["6", "7"][meta["slot"]] == str(int(score.score)), meta


def test_bad_gpus_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"gpus=\{'a': 1\}.*expected a list of GPU ids"):
        resolve_gpus({"a": 1}, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ValueError, match="found no GPU"):
        resolve_gpus("all", 2)
    with pytest.warns(UserWarning, match="share"):
        assert resolve_gpus([0], 2) == ["0", "0"]


def test_cpu_affinity_pins_each_slot(worker: MultiProcessWorker, tmp_path: Path) -> None:
    cores = sorted(os.sched_getaffinity(0))
    run(worker, env_probe, [{"x": i, "out": str(tmp_path)} for i in range(4)], cpu_affinity=True)
    pinned = {p.read_text().split("|")[1] for p in tmp_path.iterdir()}
    assert pinned <= {str(c) for c in cores[:2]}
    with pytest.raises(ValueError, match="cpu_affinity"):
        resolve_cpus("fast", 2)
    assert resolve_cpus([[0, 1], 1], 3) == [[0, 1], [1], [0, 1]]


def test_unpicklable_objective_fails_before_any_evaluation(worker: MultiProcessWorker, tmp_path: Path) -> None:
    lock = threading.Lock()
    marker = tmp_path / "ran"

    def objective(config: dict) -> float:
        with lock:
            marker.write_text("ran")
        return 1.0

    with pytest.raises(TypeError, match="cannot be pickled.*lock"):
        run(worker, objective, [{}])
    assert not marker.exists()


def test_timeout_kills_what_the_objective_started(worker: MultiProcessWorker, tmp_path: Path) -> None:
    from compileiq.testing.objectives import spawns_grandchild

    pidfile = tmp_path / "grandchild"
    start = time.monotonic()
    scores = run(worker, spawns_grandchild, [{"pidfile": str(pidfile)}], task_timeout=1.0)
    assert time.monotonic() - start < 4
    assert scores[0].metadata_dict["failure"] == "timeout"
    assert scores[0].metadata_dict["kill_latency_s"] < 0.1
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(grandchild), "the compiler-like grandchild survived the timeout"


SCRIPT = textwrap.dedent("""
    import os, sys
    with open(sys.argv[1], "a") as fh:          # top level: runs on every import of this script
        fh.write(f"{os.getpid()}\\n")
    from compileiq_multiprocess import MultiProcessWorker

    SCALE = 3.0

    def objective(config):                      # lives in __main__: must travel by value
        if config.get("crash"):
            os._exit(9)
        return SCALE * config["x"]

    if __name__ == "__main__":
        worker = MultiProcessWorker()
        with worker:
            pool = [{"x": float(i)} for i in range(6)] + [{"x": 0.0, "crash": True}]
            scores = worker.run(function=objective, params_pool=pool, params_ids=list(range(7)), num_workers=2)
            scores += worker.run(function=objective, params_pool=pool[:4], params_ids=list(range(4)), num_workers=2)
        print(sorted(s.score for s in scores if s.score != "*"))
""")


@pytest.mark.parametrize("mode", ["forkserver", "fork"])
def test_main_script_objective_travels_by_value(tmp_path: Path, mode: str) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    log = tmp_path / "imports.log"
    out = subprocess.run([sys.executable, str(script), str(log)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "CIQ_PROCESS_MODE": mode}, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sorted([3.0 * i for i in range(6)] + [3.0 * i for i in range(4)]))
    imports = log.read_text().split()
    # Only the driver runs the script: no pool process re-imports it, not even the one started
    # after the crash (the stdlib's forkserver children would, once each).
    assert len(imports) == 1, imports


def test_close_ends_everything_and_is_idempotent() -> None:
    before = set(descendants())
    worker = MultiProcessWorker()
    run(worker, pid_of, [{}] * 2)
    assert set(descendants()) - before
    worker.close()
    worker.close()
    assert not leftover_processes(before, timeout=2.0)


def test_bad_process_mode_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIQ_PROCESS_MODE", "threads")
    with pytest.raises(ValueError, match="CIQ_PROCESS_MODE='threads'.*expected one of"):
        run(MultiProcessWorker(), pid_of, [{}])


def test_submissions_start_on_a_pool_whose_processes_are_all_up_and_loaded(worker: MultiProcessWorker) -> None:
    """open_submissions waits for every process to start and load the objective, so the first
    candidates start together, not one by one as processes come up; all of them run."""
    worker.open_submissions(function=pid_of, num_workers=4, task_timeout=None, tracker=None)
    try:
        slots = worker._slots
        assert len(slots) == 4
        assert all(s.state.ready and s.state.blob_id == worker._blob_id and s.task is None for s in slots)
        for i in range(8):
            worker.submit({"nap": 0.05}, i)
        scores = []
        while len(scores) < 8:
            scores += worker.collect(None)
        assert sorted(s.param_id for s in scores) == list(range(8))
        assert len({s.score for s in scores}) == 4, "every process took candidates"
    finally:
        worker.close_submissions()


class _GroupRecorder(MultiProcessWorker):
    """Records each group of Scores handed over together; slow to take a single one."""

    groups: list[list[float]]

    def report_score(self, score: Any) -> None:
        # a driver busy with one Score while both processes finish their next quick candidates:
        # the wake-up after it reads both, so groups form on any machine, loaded or not
        time.sleep(0.005)
        super().report_score(score)

    def report_scores(self, scores: Any) -> None:
        self.groups.append([s.score for s in scores])
        super().report_scores(scores)


def test_a_process_has_at_most_one_finished_score_unrecorded() -> None:
    """Scores read in one wake-up are recorded together, but never two of the same process: a
    killed driver loses at most, per process, the candidate it ran and one finished before it."""
    with running_worker(_GroupRecorder) as w:
        w.groups = []
        for _ in range(3):
            scores = run(w, pid_of, [{"nap": 0.0}] * 400)
            assert len(scores) == 400, f"{len(scores)} Scores for 400 candidates"
    assert len(w.groups) >= 10, f"only {len(w.groups)} groups of Scores handed over together in 1,200 candidates"
    for group in w.groups:
        assert len(group) == len(set(group)), f"two Scores of one process in one group: {group}"
