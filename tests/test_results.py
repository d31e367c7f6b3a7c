"""SearchResult: layout, best result, Pareto front, CSV round trip (contract section 7)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from compileiq.results import SearchResult, pareto_mask, score_row
from compileiq.score import Score

pytestmark = pytest.mark.filterwarnings("error::FutureWarning")  # no pandas deprecation in results code


def result_of(scores: list[Score], problem_type: str = "min", normalize: bool = False) -> SearchResult:
    rows = [score_row(s, 0, normalize) for s in scores]
    return SearchResult.from_rows(rows, problem_type, scores[0].num_objectives, normalize)


def test_columns_in_contract_order() -> None:
    result = result_of([Score(score=1.0, norm_score=0.5, param_id="a", num_objectives=1, params={"x": 1})],
                       normalize=True)
    assert list(result.get_results().columns) == [
        "metadata", "generation", "score_1", "params", "norm_score_1", "param_id", "is_baseline",
        "wall_time", "worker", "failure_reason",
    ]
    assert result.score_columns == ["score_1"] and result.norm_score_columns == ["norm_score_1"]


def test_best_skips_invalid_and_never_returns_the_baseline() -> None:
    scores = [
        Score(score=0.1, param_id="baseline", num_objectives=1, params={}, is_baseline=True),
        Score(score="*", param_id="a", num_objectives=1, params={"x": 0}),
        Score(score=3.0, param_id="b", num_objectives=1, params={"x": 1}),
        Score(score=2.0, param_id="c", num_objectives=1, params={"x": 2}),
    ]
    assert result_of(scores).get_best_result()["param_id"] == "c"
    assert result_of(scores, "max").get_best_result()["param_id"] == "b"


def test_all_invalid_raises_the_contract_message() -> None:
    scores = [Score(score="*", param_id="a", num_objectives=1, params={})]
    with pytest.raises(ValueError, match="All resulting scores are marked as invalid"):
        result_of(scores).get_best_result()


def test_multi_objective_scopes_and_pareto_semantics() -> None:
    points = {"a": (1, 5), "b": (1, 1), "c": (2, 2), "d": (1, 1), "e": ("*", 0)}
    scores = [Score(score=v, param_id=k, num_objectives=2, params={"k": k}) for k, v in points.items()]
    result = result_of(scores)
    front = {row["param_id"] for row in result.get_best_result()}
    assert front == {"a", "b", "d"}  # ties kept, (2,2) dropped, invalid dropped
    assert result.get_best_result("avg")["param_id"] == "b"
    assert result.get_best_result("stddev")["param_id"] in {"b", "c", "d"}
    with pytest.raises(ValueError, match="multiscore_scope='best'"):
        result.get_best_result("best")
    assert list(pareto_mask([[1, 5], [1, 1], [2, 2]], "max")) == [True, False, True]
    with pytest.raises(ValueError, match="several objectives"):
        result_of([Score(score=1, param_id="x", num_objectives=1, params={})]).pareto_front()


def test_save_and_from_csv_round_trip(tmp_path: Path) -> None:
    scores = [
        Score(score=1.5, param_id="a", num_objectives=1, params={"x": 1, "n": {"y": "q"}}, metadata={"pid": 3}),
        Score(score="*", param_id="b", num_objectives=1, params=[{"a": 1}, {"b": "p"}]),
    ]
    result = result_of(scores)
    path = tmp_path / "results.csv"
    result.save(path)
    again = SearchResult.from_csv(path, "min", clear_duplicates=False)
    assert again.get_results()["params"].tolist() == [{"x": 1, "n": {"y": "q"}}, [{"a": 1}, {"b": "p"}]]
    assert again.get_results()["metadata"].tolist() == ['{"pid": 3}', ""]
    assert again.get_results()["is_baseline"].tolist() == [False, False]
    assert again.get_best_result()["param_id"] == "a"


def test_from_dataframe_validates_columns() -> None:
    with pytest.raises(ValueError, match="Must be named `score_<num>`"):
        SearchResult.from_dataframe(pd.DataFrame({"params": ["{}"], "baseline_score_1": [1]}), "min")
    with pytest.raises(ValueError, match="Missing 'params' column"):
        SearchResult.from_dataframe(pd.DataFrame({"score_1": [1]}), "min")


def test_clear_duplicates_and_add_result() -> None:
    result = result_of([Score(score=1.0, param_id="a", num_objectives=1, params={"x": 1})])
    result.add_result(Score(score=1.0, param_id="b", num_objectives=1, params={"x": 1}), 1)
    result.add_result(Score(score="*", param_id="c", num_objectives=1, params={"x": 2}), 1)
    assert len(result) == 3
    df = result.clear_duplicates()
    assert df["param_id"].tolist() == ["a", "c"] and pd.isna(df["score_1"].iloc[1])
    with pytest.raises(ValueError, match="2 objective"):
        result.add_result(Score(score=(1, 2), param_id="d", num_objectives=2, params={}), 1)
