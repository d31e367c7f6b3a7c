"""Asynchronous scheduling on Ray: whole Searches through the submission contract, on one
single-node loopback Ray shared by the module (4 CPUs)."""

from __future__ import annotations

import functools
import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from ray_objectives import faults_in_order, where
from ray_support import wait_gone

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq.journal import Journal
from compileiq.score import Score
from compileiq_ray import RayWorker

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("local_ray")]


def search(tmp_path: Path, objective: Any, space: dict[str, Any], worker: Any = "ray", **config: Any) -> Search:
    options = {"generations": 2, "pool_size": 6, "scheduling": "asynchronous", **config}
    return Search(objective_function=objective, search_space=space, search_config=SearchConfiguration(**options),
                  worker_type=worker, engine=EngineConfig("random", {"seed": 5}), cache_folder=tmp_path / "runs",
                  disable_progress_bar=True, exit_on_failure=False)


def pids_in(folder: Path, names: list[str]) -> set[int]:
    return {int((folder / name).read_text().split()[0]) for name in names}


def wait_for_files(folder: Path, names: list[str], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not all((folder / n).exists() and (folder / n).read_text() for n in names):
        assert time.monotonic() < deadline, f"tasks {names} did not start within {seconds} s"
        time.sleep(0.05)


def test_asynchronous_search_runs_on_ray_and_journals_every_score_once(tmp_path: Path) -> None:
    tuner = search(tmp_path, where, {"x": ss.range(1, 200), "sleep": ss.choice([0.05, 0.2, 0.5])}, normalize=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no fallback to generational batches
        frame = tuner.start(num_workers=3).get_results()
    journal = Journal.open(tuner.cache_folder)
    assert journal.meta()["scheduling"] == {"mode": "asynchronous", "window": 3}
    candidates = frame[~frame["is_baseline"]]
    assert len(candidates) == 12 and candidates["failure_reason"].isna().all()
    assert sorted(candidates["generation"]) == [0] * 6 + [1] * 6
    baselines = frame[frame["is_baseline"]]
    assert len(baselines) == 1 and baselines["score_1"].iloc[0] == 2.0  # one node: one baseline
    assert all(n == p["x"] / 2.0 for n, p in zip(candidates["norm_score_1"], candidates["params"]))
    scored = [str(s.param_id) for s in journal.scores() if not s.is_baseline]
    assert len(scored) == len(set(scored)) == 12, "every Score is journaled exactly once"
    assert [s.is_baseline for s in journal.scores()].count(True) == 1


def test_hangs_time_out_and_crashes_score_invalid_while_the_search_goes_on(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    objective = functools.partial(faults_in_order, str(marks), ("hang", "exit", "sigkill"))
    tuner = search(tmp_path, objective, {"x": ss.range(1, 200)})
    frame = tuner.start(num_workers=3, task_timeout=3).get_results()
    fault_of = {int((marks / name).read_text().split()[1]): name for name in ("0", "1", "2")}  # x -> fault
    by_fault = {fault_of.get(p["x"], "?"): json.loads(m) for p, m, r in
                zip(frame["params"], frame["metadata"], frame["failure_reason"]) if isinstance(r, str)}
    assert frame["failure_reason"].isna().sum() == 12, "the budget is met despite the failures"
    assert sorted(by_fault) == ["0", "1", "2"], by_fault
    assert by_fault["0"]["failure"] == "timeout" and "task_timeout=3s" in by_fault["0"]["error"]
    assert by_fault["0"]["timeout_s"] == 3
    assert by_fault["1"]["failure"] == "crash" and by_fault["2"]["failure"] == "crash"
    assert all("worker process died" in by_fault[k]["error"] for k in "12")
    assert not wait_gone(pids_in(marks, ["0"]), 15), "the hung task's process was not killed"


def test_cancel_kills_every_task_in_flight_and_the_worker_goes_on(tmp_path: Path) -> None:
    worker = RayWorker()
    worker.open_submissions(function=functools.partial(faults_in_order, str(tmp_path), ("hang",) * 3),
                            num_workers=3, task_timeout=None)
    try:
        for i in range(3):
            worker.submit({"x": i}, f"hang{i}")
        wait_for_files(tmp_path, ["0", "1", "2"])
        worker.cancel()
        worker.cancel()
        assert not wait_gone(pids_in(tmp_path, ["0", "1", "2"]), 15), "cancel() left tasks running"
        assert worker.collect(0.5) == []
        worker.submit({"x": 7}, "after")
        after: list[Score] = []
        deadline = time.monotonic() + 120  # Ray replaces the killed processes first: slow on loaded cores
        while not after and time.monotonic() < deadline:
            after = worker.collect(5)
        assert [(s.param_id, s.score) for s in after] == [("after", 7.0)]
    finally:
        worker.close_submissions()
        worker.close_submissions()


class InterruptedRay(RayWorker):
    """Ctrl-C in the driver the moment the first Score arrives, once both hung tasks run."""

    marks: Path

    def deliver(self, score: Score) -> Score:
        wait_for_files(self.marks, ["0", "1"])
        raise KeyboardInterrupt


def test_ctrl_c_leaves_no_task_running_and_the_run_resumes(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    InterruptedRay.marks = marks
    objective = functools.partial(faults_in_order, str(marks), ("hang", "hang"))
    tuner = search(tmp_path, objective, {"x": ss.range(1, 200)}, worker=InterruptedRay)
    with pytest.raises(KeyboardInterrupt):
        tuner.start(num_workers=3)
    assert not wait_gone(pids_in(marks, ["0", "1"]), 15), "Ctrl-C left tasks running"
    journal = Journal.open(tuner.cache_folder)
    assert journal.meta()["status"] == "interrupted"
    resumed = Search.resume(tuner.cache_folder, objective_function=objective, worker_type="ray",
                            disable_progress_bar=True).start(num_workers=3)
    frame = resumed.get_results()
    assert frame["failure_reason"].isna().sum() == 12
    ids = [str(s.param_id) for s in Journal.open(tuner.cache_folder).scores()]
    assert len(ids) == len(set(ids)) == 12
