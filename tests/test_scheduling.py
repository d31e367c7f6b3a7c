"""Asynchronous scheduling: the budget, the generation column, no duplicates, busy workers, exact resume."""

from __future__ import annotations

import asyncio
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from runs_support import SPACE, objective

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Score, Search, SearchConfiguration
from compileiq.errors import ConfigurationError, SearchAbortedError
from compileiq.evaluation import evaluate
from compileiq.journal import Journal
from compileiq.worker import BaseWorker

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def make(tmp_path: Path, scheduling: str = "asynchronous", engine: str = "genetic", **kwargs: Any) -> Search:
    options: dict[str, Any] = {
        "objective_function": objective,
        "search_space": SPACE,
        "search_config": SearchConfiguration(generations=4, pool_size=6, scheduling=scheduling),
        "worker_type": "sequential",
        "engine": EngineConfig(engine, {"seed": 11}),
        "cache_folder": tmp_path / "runs",
        "exit_on_failure": False,
        "disable_progress_bar": True,
    }
    options.update(kwargs)
    return Search(**options)


def test_scheduling_is_validated() -> None:
    assert SearchConfiguration(generations=1).scheduling == "generational"
    with pytest.raises(ConfigurationError, match="'generational', 'asynchronous'"):
        SearchConfiguration(generations=1, scheduling="async")


@pytest.mark.parametrize("engine", ["genetic", "random"])
def test_budget_generations_and_no_duplicates(tmp_path: Path, engine: str) -> None:
    frame = make(tmp_path, engine=engine).start(num_workers=3).get_results()
    ok = frame[frame["failure_reason"].isna()]
    assert len(ok) == 4 * 6, "the budget is generations x pool_size successful evaluations"
    assert ok.groupby("generation").size().to_dict() == {0: 6, 1: 6, 2: 6, 3: 6}
    keys = [tuple(sorted(p.items())) for p in frame["params"]]
    assert len(set(keys)) == len(keys), "no configuration is evaluated twice"
    journal = Journal.open(next((tmp_path / "runs").iterdir()))
    assert journal.meta()["scheduling"] == {"mode": "asynchronous", "window": 3}
    assert all(len(a.genomes) == 1 for a in journal.asks()), "one ask per candidate"
    # a Score's generation is the number of groups of pool_size completed before it arrived
    successes = 0
    for generation, failed in zip(frame["generation"], frame["failure_reason"].notna()):
        assert generation == min(successes // 6, 3)
        successes += not failed


class Spy:
    """Records when each candidate (by its x) starts and ends; the first candidate is slow (2 s)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, float]] = []
        self.running = 0
        self.most = 0
        self.slow: int | None = None

    async def __call__(self, config: dict[str, Any]) -> float:
        self.running += 1
        self.most = max(self.most, self.running)
        self.events.append(("start", config["x"], time.monotonic()))
        if self.slow is None:
            self.slow = config["x"]
        await asyncio.sleep(2.0 if config["x"] == self.slow else 0.005)
        self.events.append(("end", config["x"], time.monotonic()))
        self.running -= 1
        return float(config["x"])


def test_workers_stay_busy_past_a_slow_candidate(tmp_path: Path) -> None:
    """A slow evaluation does not hold the next generation back (impossible when generational)."""
    spy = Spy()
    search = make(tmp_path, objective_function=spy, worker_type="async", engine="random",
                  search_space={"x": ss.range(0, 400)},
                  search_config=SearchConfiguration(generations=5, pool_size=6, scheduling="asynchronous"))
    frame = search.start(num_workers=3).get_results()
    assert spy.most == 3, f"num_workers=3 candidates must be in flight at once, saw at most {spy.most}"
    assert len(frame) == 5 * 6
    slow = spy.slow
    slow_end = next(t for kind, x, t in spy.events if kind == "end" and x == slow)
    done_meanwhile = [x for kind, x, t in spy.events if kind == "end" and x != slow and t < slow_end]
    # generational scheduling would let at most pool_size - 1 = 5 others finish before the slow one
    assert len(done_meanwhile) >= 2 * 6, (
        f"while the first (slow) candidate ran, only {len(done_meanwhile)} others finished: the other workers "
        "must go on past its generation")


def test_interrupted_asynchronous_run_resumes_exactly(tmp_path: Path) -> None:
    calls: list[Any] = []
    armed = [True]

    def stops(config: dict) -> Any:
        calls.append(config)
        if armed[0] and len(calls) == 14:
            raise KeyboardInterrupt
        return objective(config)

    search = make(tmp_path, objective_function=stops)
    with pytest.raises(KeyboardInterrupt):
        search.start(num_workers=3)
    done = len(calls) - 1
    calls.clear()
    armed[0] = False
    resumed = Search.resume(search.cache_folder, objective_function=stops).start(num_workers=3)
    reference = make(tmp_path / "ref").start(num_workers=3)
    assert len(calls) + done == len(reference), "the resume evaluates only what was never scored"
    assert list(resumed.df_results["params"]) == list(reference.df_results["params"])
    assert list(resumed.df_results["generation"]) == list(reference.df_results["generation"])


class OnlyRun(BaseWorker):
    name = "only-run"

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs: Any) -> list[Score]:
        return [evaluate(function, p, param_id=i, num_objectives=num_function_returns)
                for p, i in zip(params_pool, params_ids)]


def test_worker_without_submission_falls_back_to_generational(tmp_path: Path) -> None:
    search = make(tmp_path, worker_type=OnlyRun)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = search.start().get_results()
    assert any("runs generational batches" in str(w.message) for w in caught)
    assert Journal.open(search.cache_folder).meta()["scheduling"]["mode"] == "generational"
    assert (frame[frame["failure_reason"].isna()].groupby("generation").size() == 6).all()


def test_exit_on_failure_in_asynchronous_mode(tmp_path: Path) -> None:
    search = make(tmp_path, objective_function=lambda c: "*", exit_on_failure=True)
    with pytest.raises(SearchAbortedError, match="All objective functions failed in the first gen") as info:
        search.start(num_workers=2)
    assert info.value.result is not None and len(info.value.result) >= 6


def test_normalized_asynchronous_run_has_one_baseline(tmp_path: Path) -> None:
    def with_default(config: dict) -> Any:
        return objective({"x": 31, "y": "a", **config})

    search = make(tmp_path, objective_function=with_default,
                  search_config=SearchConfiguration(generations=3, pool_size=6, normalize=True,
                                                    scheduling="asynchronous"))
    frame = search.start(num_workers=2).get_results()
    assert frame["is_baseline"].sum() == 1 and frame["is_baseline"].iloc[0]
    assert frame[~frame["is_baseline"]]["norm_score_1"].notna().all()


def test_multiprocess_asynchronous_timeouts_and_crashes(tmp_path: Path) -> None:
    """Hangs time out and crashes are isolated in asynchronous mode; the budget is still met."""
    from fault_objectives import hangs_or_crashes

    search = make(tmp_path, objective_function=hangs_or_crashes, worker_type="multiprocess", engine="random",
                  search_space={"x": ss.range(0, 10_000)},
                  search_config=SearchConfiguration(generations=3, pool_size=6, scheduling="asynchronous"))
    start = time.monotonic()
    frame = search.start(num_workers=2, task_timeout=0.5).get_results()
    assert time.monotonic() - start < 60
    reasons = frame["failure_reason"].dropna()
    assert frame["failure_reason"].isna().sum() == 18
    xs = [p["x"] for p in frame["params"]]
    for x, reason in zip(xs, frame["failure_reason"]):
        if x % 11 == 3:
            assert str(reason).startswith("timeout")
        elif x % 11 == 5:
            assert str(reason).startswith("crash") and "code 3" in str(reason)
        else:
            assert reason is None or reason != reason
    assert any(r.startswith("timeout") for r in reasons) and any(r.startswith("crash") for r in reasons), (
        "seeded: some candidates hang and some crash"
    )
