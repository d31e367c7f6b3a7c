"""The multiprocess worker: parallel results, failures with reasons, baseline, unpicklable objectives."""

from __future__ import annotations

import os

import pytest

from compileiq_multiprocess import MultiProcessWorker


def objective(config: dict):
    x = config.get("x", 4)
    if x == 1:
        raise ValueError("x=1 does not compile")
    if x == 2:
        return None
    return float(x)


def pid_objective(config: dict) -> float:
    return float(os.getpid())


def test_results_failures_and_baseline() -> None:
    with MultiProcessWorker(normalize=True) as worker:
        scores = worker.run(function=objective, params_pool=[{"x": x} for x in range(6)],
                            params_ids=list(range(6)), num_workers=2)
    by_id = {s.param_id: s for s in scores if not s.is_baseline}
    assert sorted(by_id) == list(range(6)) and sum(s.is_baseline for s in scores) == 1
    assert by_id[3].score == 3.0 and by_id[3].norm_score == 0.75
    assert by_id[1].metadata_dict["failure"] == "exception"
    assert by_id[2].metadata_dict["failure"] == "invalid_return"


def test_evaluations_run_in_other_processes() -> None:
    with MultiProcessWorker() as worker:
        scores = worker.run(function=pid_objective, params_pool=[{}] * 8, params_ids=list(range(8)), num_workers=2)
    assert os.getpid() not in {s.score for s in scores}


def test_unpicklable_objective_is_a_clear_error() -> None:
    with MultiProcessWorker() as worker, pytest.raises(TypeError, match="cannot be pickled"):
        worker.run(function=lambda c: 1.0, params_pool=[{}], params_ids=[0])
