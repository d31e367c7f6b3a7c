"""The sequential worker: results, failures with reasons, baseline and streaming."""

from __future__ import annotations

import math

import pytest

from compileiq.score import Score
from compileiq_sequential import SequentialWorker


def objective(config: dict):
    x = config.get("x", 4)
    if x == 1:
        raise ValueError("x=1 does not compile")
    return {2: None, 3: "fast", 5: (1.0, 2.0), 6: math.nan}.get(x, float(x))


def test_one_score_per_id_with_reasons_for_every_failure() -> None:
    worker = SequentialWorker()
    streamed: list[Score] = []
    worker.score_sink = streamed.append
    params = [{"x": x} for x in range(8)]
    scores = worker.run(function=objective, params_pool=params, params_ids=list("abcdefgh"))
    by_id = {s.param_id: s for s in scores}
    assert [s.param_id for s in streamed] == list("abcdefgh")
    assert by_id["a"].score == 0.0 and by_id["e"].score == 4.0 and by_id["h"].score == 7.0
    reasons = {pid: by_id[pid].metadata_dict for pid in "bcdfg"}
    assert reasons["b"]["failure"] == "exception" and "x=1 does not compile" in reasons["b"]["error"]
    assert reasons["c"]["failure"] == "invalid_return" and "None (NoneType)" in reasons["c"]["error"]
    assert "'fast' (str)" in reasons["d"]["error"] and "(1.0, 2.0) (tuple)" in reasons["f"]["error"]
    assert by_id["g"].score == "*" and by_id["g"].metadata_dict["failure"] == "non_finite"  # NaN is INVALID


def test_baseline_once_and_normalized_scores() -> None:
    worker = SequentialWorker(normalize=True)
    first = worker.run(function=objective, params_pool=[{"x": 8}], params_ids=[1])
    second = worker.run(function=objective, params_pool=[{"x": 2}, {"x": 6}], params_ids=[2, 3])
    assert [s.is_baseline for s in first] == [True, False] and not any(s.is_baseline for s in second)
    assert first[0].score == 4.0 and first[0].norm_score == 1.0 and first[1].norm_score == 2.0
    assert all(s.norm_score == "*" for s in second)


def test_failed_baseline_is_a_clear_error() -> None:
    worker = SequentialWorker(normalize=True)
    with pytest.raises(RuntimeError, match="Baseline measurement for normalization failed"):
        worker.run(function=lambda c: None, params_pool=[{"x": 1}], params_ids=[1])
