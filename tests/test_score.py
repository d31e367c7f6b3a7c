"""Score validation and normalization (contract sections 5.2 and 6)."""

from __future__ import annotations

import math
import pickle
from decimal import Decimal

import numpy as np
import pytest

from compileiq.errors import ScoreValidationError
from compileiq.score import INVALID_SCORE, Score, normalize_scores, validate_scores
from compileiq.worker import BaseWorker


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (2.5, 2.5), (math.nan, "*"), (math.inf, "*"), (-math.inf, "*"), ("*", "*"),
     (np.float64(1.5), 1.5), (np.int64(4), 4.0), (np.float32(0.5), 0.5), (Decimal("1.25"), 1.25)],
)
def test_single_objective_accepts_numbers(value: object, expected: object) -> None:
    assert validate_scores(value, 1) == expected


@pytest.mark.parametrize("value", [None, (1.0,), [1.0], "abc", "1.5", True, {"a": 1}])
def test_single_objective_rejects_other_types_with_a_clear_message(value: object) -> None:
    with pytest.raises(ScoreValidationError, match="num_objectives=1"):
        validate_scores(value, 1)


def test_multi_objective_shapes() -> None:
    assert validate_scores([1, 2.0], 2) == (1, 2.0)
    assert validate_scores("*", 3) == ("*", "*", "*")
    assert validate_scores(np.array([1.0, math.nan]), 2) == (1.0, "*")
    for bad in (1.0, [1.0], (1, 2, 3), None):
        with pytest.raises(ScoreValidationError, match="exactly 2"):
            validate_scores(bad, 2)


def test_failed_looks_at_raw_and_normalized_values() -> None:
    assert Score(score="*", param_id=1, num_objectives=1).failed
    assert not Score(score=1.0, param_id=1, num_objectives=1).failed
    assert Score(score=(1.0, 2.0), norm_score=(1.0, "*"), param_id=1, num_objectives=2).failed


def test_score_pickles_and_keeps_metadata_as_json() -> None:
    score = Score(score=2, param_id="a", num_objectives=1, metadata={"pid": 7}, params={"x": 1})
    clone = pickle.loads(pickle.dumps(score))
    assert clone == score
    assert clone.metadata == '{"pid": 7}' and clone.metadata_dict == {"pid": 7}


def test_normalize_scores_matches_the_contract() -> None:
    assert normalize_scores(10.0, 5.0) == 2.0
    assert normalize_scores([10, 5], [0, 5]) == ["*", 1.0]
    assert normalize_scores("*", 2.0) == INVALID_SCORE
    assert BaseWorker.normalize_scores(3, 3) == 1.0
    with pytest.raises(RuntimeError, match="without configuring a baseline"):
        normalize_scores(1.0, None)
    with pytest.raises(ValueError, match="not recognized"):
        normalize_scores({"a": 1}, 1.0)
    assert BaseWorker.invalidate_score(1) == "*" and BaseWorker.invalidate_score(2) == ["*", "*"]
