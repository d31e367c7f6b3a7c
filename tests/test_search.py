"""Search: batches, generations, refills, failure policy, exhaustion, kwargs, reproducibility."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from objectives import always_raises, fails_on_odd, quadratic

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Score, Search, SearchConfiguration
from compileiq.ciq import SearchAbortedError
from compileiq.errors import SearchSpaceExhaustedError, SearchSpaceExhaustedWarning, UnknownEngineError
from compileiq.worker import BaseWorker

SPACE = {"x": ss.range(-20, 20), "y": ss.choice([1, 2, 3])}


def make(cache_dir: Path, objective=quadratic, space=None, **kwargs: Any) -> Search:
    config = kwargs.pop("search_config", SearchConfiguration(generations=3, pool_size=8))
    return Search(objective_function=objective, search_space=space or SPACE, search_config=config,
                  worker_type=kwargs.pop("worker_type", "sequential"), cache_folder=cache_dir,
                  engine=kwargs.pop("engine", EngineConfig("random", {"seed": 1})), **kwargs)


def test_exact_pool_per_generation_and_numbering(cache_dir: Path) -> None:
    df = make(cache_dir).start().get_results()
    assert df["generation"].value_counts().sort_index().tolist() == [8, 8, 8]
    assert df["params"].map(lambda p: (p["x"], p["y"])).is_unique


def test_failures_are_refilled_within_the_generation(cache_dir: Path) -> None:
    with pytest.warns(UserWarning, match="left unfilled positions"):
        df = make(cache_dir, objective=fails_on_odd).start().get_results()
    ok = df[df["score_1"] != "*"]
    assert ok["generation"].value_counts().sort_index().tolist() == [8, 8, 8]
    failed = df[df["score_1"] == "*"]
    assert len(failed) > 0
    assert failed["metadata"].str.contains('"failure": "exception"').all()
    assert failed["metadata"].str.contains("odd x=").all()


def test_exit_on_failure_raises_with_the_reason_and_keeps_the_result(cache_dir: Path) -> None:
    with pytest.raises(SearchAbortedError, match="All objective functions failed in the first gen") as info:
        make(cache_dir, objective=always_raises).start()
    assert "objective is broken" in str(info.value)
    assert len(info.value.result.get_results()) == 8


def test_exit_on_failure_off_keeps_going_and_caps_refills(cache_dir: Path) -> None:
    search = make(cache_dir, objective=always_raises, exit_on_failure=False,
                  search_config=SearchConfiguration(generations=2, pool_size=6))
    search.max_refill_batches = 2
    with pytest.warns(RuntimeWarning, match="stays 6 short"):
        df = search.start().get_results()
    assert len(df) == 2 * 3 * 6 and (df["score_1"] == "*").all()


def test_small_space_ends_with_a_warning_and_tiny_space_raises(cache_dir: Path) -> None:
    cfg = SearchConfiguration(generations=5, pool_size=8)
    with pytest.warns(SearchSpaceExhaustedWarning, match="Ending the search after 1 of 5 generations"):
        df = make(cache_dir, space={"c": ss.choice(list(range(10)))}, search_config=cfg).start().get_results()
    assert len(df) == 8
    with pytest.raises(SearchSpaceExhaustedError, match="cannot fill even the first batch"):
        make(cache_dir, space={"c": ss.choice([1, 2, 3])}, search_config=cfg).start()


def test_same_seed_same_candidates_across_workers(cache_dir: Path) -> None:
    runs = []
    for worker in ("sequential", "multiprocess"):
        df = make(cache_dir, worker_type=worker).start(num_workers=2 if worker == "multiprocess" else None)
        runs.append(sorted(map(str, df.get_results()["params"])))
    assert runs[0] == runs[1]
    other = make(cache_dir, engine=EngineConfig("random", {"seed": 2})).start().get_results()
    assert sorted(map(str, other["params"])) != runs[0]


def test_max_problem_and_best_result(cache_dir: Path) -> None:
    cfg = SearchConfiguration(generations=2, pool_size=10, problem_type="max")
    result = make(cache_dir, search_config=cfg).start()
    df = result.get_results()
    assert result.get_best_result()["score_1"] == df["score_1"].max()


def test_dump_results_after_every_batch(cache_dir: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.csv"
    sizes = []

    class Spy(BaseWorker):
        name = "spy"

        def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
            if dump.exists():
                sizes.append(len(pd.read_csv(dump)))
            return [Score(score=function(p), param_id=i, params=p, num_objectives=1)
                    for p, i in zip(params_pool, params_ids)]

    make(cache_dir, worker_type=Spy, dump_results=dump).start()
    assert sizes == [8, 16] and len(pd.read_csv(dump)) == 24


def test_start_kwargs_reach_run_and_warnings_for_unsupported_options(cache_dir: Path) -> None:
    seen: dict[str, Any] = {}

    class Recorder(BaseWorker):
        name = "recorder"

        def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
            seen.update(kwargs)
            return [Score(score=1, param_id=i, num_objectives=1) for i in params_ids]

    search = make(cache_dir, worker_type=Recorder)
    with pytest.warns(UserWarning, match="num_workers is not supported by Recorder"):
        result = search.start(num_workers=3, task_timeout=5, custom_option="abc")
    assert seen["custom_option"] == "abc" and seen["num_workers"] == 3 and seen["task_timeout"] == 5
    assert "tracker" in seen
    assert result.get_results()["params"].iloc[0] is not None  # issued params substituted


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_num_workers_must_be_positive(cache_dir: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="num_workers must be a positive integer"):
        make(cache_dir).start(num_workers=bad)


def test_worker_returning_wrong_ids_is_an_error(cache_dir: Path) -> None:
    class Lossy(BaseWorker):
        name = "lossy"

        def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
            return [Score(score=1, param_id=i, num_objectives=1) for i in params_ids[1:]]

    with pytest.raises(RuntimeError, match="exactly one non-baseline score for every evaluated candidate ID"):
        make(cache_dir, worker_type=Lossy).start()


def test_sample_does_not_consume_the_search(cache_dir: Path) -> None:
    search = make(cache_dir)
    first = search.sample(50)
    assert len(first) == 50 and all(set(p) == {"x", "y"} for p in first)
    assert search.sample(50) == first
    assert len(search.start().get_results()) == 24
    with pytest.raises(ValueError, match="num_samples=0"):
        search.sample(0)


def test_start_twice_keeps_each_run_folder_with_its_journal(cache_dir: Path) -> None:
    search = make(cache_dir)
    assert search.cache_folder.parent == cache_dir and search.cache_folder.is_dir()
    first = search.cache_folder
    (first / "scratch.txt").write_text("scratch files are cleaned")
    assert len(search.start().get_results()) == 24
    kept = sorted(p.name for p in first.iterdir() if not p.name.startswith("journal.sqlite-"))
    assert kept == ["journal.sqlite", "meta.json", "run.lock"]
    assert len(search.start().get_results()) == 24
    assert search.cache_folder != first and (search.cache_folder / "journal.sqlite").is_file()


def test_bad_search_arguments_are_named(cache_dir: Path) -> None:
    with pytest.raises(TypeError, match="not callable"):
        make(cache_dir, objective=5)
    with pytest.raises(TypeError, match=r"'worker' \(did you mean 'worker_type'\?\)"):
        Search(objective_function=quadratic, search_space=SPACE, search_config={"generations": 1}, worker="x")
    with pytest.raises(UnknownEngineError, match="Did you mean 'random'"):
        make(cache_dir, engine="randon")
    with pytest.raises(TypeError, match="async def"):
        async def coroutine(config):
            return 1

        make(cache_dir, objective=coroutine)


def test_engine_options_are_checked_and_seed_is_fixed_per_search(cache_dir: Path) -> None:
    with pytest.raises(TypeError, match=r"does not take the option\(s\) \['bogus'\]"):
        make(cache_dir, engine=EngineConfig("random", {"bogus": 1}))
    search = make(cache_dir, engine="random")
    assert isinstance(search.seed, int)
    first = search.start().get_results()["params"].tolist()
    assert search.start().get_results()["params"].tolist() == first
    assert search.sample(3) == search.sample(3)


def test_objects_older_than_the_search_are_frozen_while_it_runs_only(cache_dir: Path) -> None:
    """The garbage collector leaves the objects that existed before the search out of its passes
    while it runs (gc.freeze: a full pass over pandas' objects would stall every process) and
    gets them back after, also when the search fails; objects frozen by the application stay so."""
    import gc

    seen: list[int] = []

    def objective(config: dict[str, Any]) -> float:
        seen.append(gc.get_freeze_count())
        return 1.0

    old = [object() for _ in range(10)]  # tracked, and older than the search
    assert gc.get_freeze_count() == 0
    make(cache_dir, objective=objective).start()
    assert seen and min(seen) >= len(old), "frozen while the objective ran (sequential: in this process)"
    assert gc.get_freeze_count() == 0, "given back after the search"

    def fails(config: dict[str, Any]) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(cache_dir, objective=fails).start()
    assert gc.get_freeze_count() == 0, "given back when the search is interrupted"

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        seen.clear()
        make(cache_dir, objective=objective).start()
        assert seen and max(seen) <= frozen, "nothing frozen on top of the application's freeze"
        assert gc.get_freeze_count() > frozen // 2, "the application's freeze is left alone"
    finally:
        gc.unfreeze()
