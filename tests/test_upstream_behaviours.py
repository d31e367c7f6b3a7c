"""Upstream behaviours that upstream's own tests and scripts rely on (issue 14).

`SearchResult._initialize_empty` + `add_result`, `save`/`from_csv` keeping the frame's dtypes,
upstream's words in validation errors, and `compileiq.search_spaces.compilers`. Every test
here fails on a pandas FutureWarning or DeprecationWarning.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq.ciq import SearchAbortedError
from compileiq.results import SearchResult, score_row
from compileiq.score import Score, validate_scores
from compileiq.search_spaces.compilers import (
    CompilerSearchSpaceBase,
    LocalSearchSpaceBin,
    NvccSearchSpace,
    PtxasSearchSpace,
    SearchSpaceProvider,
    UnsupportedSearchSpaceError,
)
from compileiq.search_spaces.space import SearchSpace
from compileiq.types import ProblemType

pytestmark = [pytest.mark.filterwarnings("error::FutureWarning"),
              pytest.mark.filterwarnings("error::DeprecationWarning")]

UPSTREAM_WORDS = "does not match expected types"


def round_trip(result: SearchResult, path: Path, clear_duplicates: bool = True) -> SearchResult:
    result.save(path)
    again = SearchResult.from_csv(path, result.problem_type, clear_duplicates=clear_duplicates)
    pd.testing.assert_frame_equal(result.get_results(), again.get_results())
    return again


# -- _initialize_empty and add_result ---------------------------------------------------------


def test_initialize_empty_then_add_result_builds_the_result_upstream_tests_build() -> None:
    result = SearchResult._initialize_empty(num_scores=1, problem_type="min")
    assert len(result) == 0 and result.num_scores == 1 and result.problem_type is ProblemType.MIN
    assert result.score_columns == ["score_1"] and not result.is_normalized
    for generation, (x, value) in enumerate([(1, 3.0), (2, 1.5), (3, "*"), (4, 2)]):
        result.add_result(Score(score=value, param_id=x, num_objectives=1, params={"x": x}), generation)
    df = result.get_results()
    assert df["score_1"].tolist() == [3.0, 1.5, "*", 2] and df["generation"].tolist() == [0, 1, 2, 3]
    assert df["params"].tolist() == [{"x": 1}, {"x": 2}, {"x": 3}, {"x": 4}]
    assert str(df["generation"].dtype) == "int64" and str(df["wall_time"].dtype) == "float64"
    assert result.get_best_result()["params"] == {"x": 2}
    assert SearchResult._initialize_empty(1, "max").problem_type is ProblemType.MAX


def test_add_result_with_normalized_scores_and_several_objectives() -> None:
    result = SearchResult._initialize_empty(2, ProblemType.MAX, norm_scores=True)
    assert result.norm_score_columns == ["norm_score_1", "norm_score_2"] and result.is_normalized
    result.add_result(Score(score=(1, 8), norm_score=(0.5, 4.0), param_id="a", num_objectives=2, params={"k": "a"}),
                      0, normalize=True)
    result.add_result(Score(score=(2, 2), norm_score=(1.0, 1.0), param_id="b", num_objectives=2, params={"k": "b"}),
                      0, normalize=True)
    result.add_result(Score(score=(1, 1), norm_score=(0.5, 0.5), param_id="c", num_objectives=2, params={"k": "c"}),
                      1, normalize=True)
    df = result.get_results()
    assert df[["norm_score_1", "norm_score_2"]].values.tolist() == [[0.5, 4.0], [1.0, 1.0], [0.5, 0.5]]
    assert {row["param_id"] for row in result.get_best_result()} == {"a", "b"}  # (1,1) is dominated
    assert result.get_best_result("avg")["param_id"] == "a"
    with pytest.raises(ValueError, match="Expected 2 objective values"):
        result.add_result(Score(score=3, param_id="d", num_objectives=1, params={}), 1)
    with pytest.raises(ValueError, match="needs a score with norm_score"):
        result.add_result(Score(score=(1, 2), param_id="e", num_objectives=2, params={}), 1, normalize=True)
    assert len(result) == 3  # a refused row is not appended


# -- save / from_csv keep the dtypes ----------------------------------------------------------


def test_integer_metadata_column_stays_integer_through_save_and_from_csv(tmp_path: Path) -> None:
    df = pd.DataFrame({"metadata": [11, 12, 13], "generation": [0, 0, 1], "score_1": [1.0, 2.5, 0.5],
                       "params": [{"x": 1}, {"x": [2, 3]}, {"x": {"y": "z"}}]})
    again = round_trip(SearchResult(df, ProblemType.MIN, 1), tmp_path / "r.csv")
    assert str(again.get_results()["metadata"].dtype) == "int64"
    assert again.get_results()["params"].tolist() == [{"x": 1}, {"x": [2, 3]}, {"x": {"y": "z"}}]


def test_a_result_built_with_add_result_round_trips(tmp_path: Path) -> None:
    result = SearchResult._initialize_empty(2, "min", norm_scores=True)
    result.add_result(Score(score=(1, 2), norm_score=(0.5, 1.0), param_id="a", num_objectives=2,
                            params={"opt": "-O2"}, metadata={"host": "n1"}), 0, normalize=True)
    result.add_result(Score(score=(3, 4), norm_score=(1.5, 2.0), param_id="b", num_objectives=2,
                            params={"opt": "-O3"}), 1, normalize=True)
    again = round_trip(result, tmp_path / "r.csv")
    assert again.get_results()["metadata"].tolist() == ['{"host": "n1"}', ""]
    assert again.get_results()["worker"].tolist() == [None, None]


def test_a_search_result_round_trips(tmp_path: Path) -> None:
    rows = [score_row(Score(score=v, param_id=f"p{i}", num_objectives=1, params={"x": i}), i // 2, False,
                      wall_time=0.25 * i, worker="multiprocess") for i, v in enumerate([3.0, 1.0, "*", 2.0])]
    result = SearchResult.from_rows(rows, "min", 1, False)
    result.clear_duplicates()  # as Search leaves it: scores numeric, INVALID_SCORE as NaN
    again = round_trip(result, tmp_path / "r.csv")
    assert again.get_results()["failure_reason"].tolist()[2] == "INVALID_SCORE returned"
    assert again.get_best_result()["param_id"] == "p1"


# -- validation messages ----------------------------------------------------------------------


def test_validation_errors_carry_upstreams_words_and_ours() -> None:
    with pytest.raises(ValueError, match=UPSTREAM_WORDS) as one:
        validate_scores("fast", 1)
    assert "objective returned 'fast' (str)" in str(one.value)
    with pytest.raises(ValueError, match=UPSTREAM_WORDS) as several:
        validate_scores((1, 2, 3), 2)
    assert "exactly 2 numbers" in str(several.value)


def returns_text(config: dict) -> str:
    return "fast"


def test_a_search_whose_objective_returns_text_reports_upstreams_words() -> None:
    def search(exit_on_failure: bool) -> Search:
        return Search(objective_function=returns_text, search_space={"x": ss.range(0, 999)},
                      search_config=SearchConfiguration(generations=1, pool_size=6), worker_type="sequential",
                      engine=EngineConfig("random", {"seed": 1}), exit_on_failure=exit_on_failure,
                      disable_progress_bar=True)

    with pytest.warns(RuntimeWarning, match=UPSTREAM_WORDS), pytest.raises(SearchAbortedError, match=UPSTREAM_WORDS):
        search(True).start()
    with pytest.warns(RuntimeWarning, match=UPSTREAM_WORDS), pytest.warns(UserWarning, match="refills"):
        result = search(False).start()
    reasons = result.get_results()["failure_reason"].tolist()
    assert len(reasons) >= 6 and all(UPSTREAM_WORDS in r for r in reasons)


# -- compileiq.search_spaces.compilers --------------------------------------------------------


@pytest.mark.parametrize("provider", [PtxasSearchSpace(), NvccSearchSpace(version="12.8", variant="sm90")])
def test_nvidias_prebuilt_compiler_spaces_say_they_are_not_supported(provider: CompilerSearchSpaceBase) -> None:
    assert isinstance(provider, SearchSpaceProvider)
    with pytest.raises(UnsupportedSearchSpaceError) as info:
        Search(objective_function=returns_text, search_space=provider,
               search_config=SearchConfiguration(generations=1, pool_size=6), worker_type="sequential")
    message = str(info.value)
    assert type(provider).__name__ in message and f"prebuilt {provider.compiler} search space" in message
    assert "does not support" in message and "compileiq.search_spaces.base builders" in message
    assert isinstance(info.value, ValueError)


def test_local_bin_reads_a_json_space_and_refuses_a_protected_binary(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LocalSearchSpaceBin(tmp_path / "missing.bin")
    binary = tmp_path / "ptxas.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnsupportedSearchSpaceError, match="protected binary"):
        LocalSearchSpaceBin(binary).retrieve()
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SearchSpace.from_input({"x": ss.range(0, 9), "o": ss.choice(["a", "b"])}).to_json()))
    seen: list[dict] = []

    def objective(config: dict) -> int:
        seen.append(config)
        return config["x"]

    result = Search(objective_function=objective, search_space=LocalSearchSpaceBin(space),
                    search_config=SearchConfiguration(generations=1, pool_size=6), worker_type="sequential",
                    engine=EngineConfig("random", {"seed": 2}), disable_progress_bar=True).start()
    assert len(result) == 6 and all(set(c) == {"x", "o"} and 0 <= c["x"] <= 9 for c in seen)


class DictProvider:
    """A provider of the protocol's shape whose retrieve() returns a dict of builders."""

    def __init__(self) -> None:
        self.calls = 0

    def retrieve(self) -> dict:
        self.calls += 1
        return {"block": ss.range(16, 64, 16), "unroll": ss.choice([1, 2, 4])}


def test_any_provider_returning_a_dict_is_a_search_space() -> None:
    provider = DictProvider()
    assert isinstance(provider, SearchSpaceProvider)
    seen: list[dict] = []

    def objective(config: dict) -> int:
        seen.append(config)
        return config["block"] * config["unroll"]

    result = Search(objective_function=objective, search_space=provider,
                    search_config=SearchConfiguration(generations=2, pool_size=6), worker_type="sequential",
                    engine=EngineConfig("random", {"seed": 3}), disable_progress_bar=True).start()
    assert provider.calls == 1 and len(result) == 12
    assert all(c["block"] in {16, 32, 48, 64} and c["unroll"] in {1, 2, 4} for c in seen)
    assert result.get_best_result()["score_1"] == min(c["block"] * c["unroll"] for c in seen)
