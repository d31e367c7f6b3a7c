"""`WorkerConformanceSuite`: the worker contract as a pytest test class to subclass."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from compileiq.evaluation import FailureWarnings
from compileiq.registry import resolve_worker
from compileiq.score import INVALID_SCORE, Score
from compileiq.testing import objectives as toys
from compileiq.testing.helpers import by_id, time_scale
from compileiq.testing.processes import descendants, leftover_processes
from compileiq.worker import PLUGIN_API, BaseWorker

__all__ = ["WorkerConformanceSuite"]


_by_id = by_id

_LEGACY_FLAGS = {
    "streams_scores": "streams_scores",
    "validates_start_kwargs": "validates_start_kwargs",
    "one_baseline_per_search": "one_baseline_per_search",
    "reports_exit_status": "crash_reason_names_exit",
}
"""Capabilities that suites used to declare, by their old suite attribute."""
_FLAG_DEFAULTS = {"reports_exit_status": True, "streams_scores": True, "one_baseline_per_search": True}


class WorkerConformanceSuite:
    """Checks a worker against the compileiq worker contract. Subclass it in three lines::

        from compileiq.testing import WorkerConformanceSuite

        class TestMyWorker(WorkerConformanceSuite):
            __test__ = True
            worker_type = "mine"      # resolved through the real registry

    What is checked follows the capability flags the worker class declares (see `BaseWorker`:
    `supports_timeout`, `isolates_crashes`, `reports_exit_status`, `respects_num_workers`,
    `requires_async_objective`, `streams_scores`, `validates_start_kwargs`,
    `one_baseline_per_search`, `supports_submission`); the class attributes below adjust the checks themselves (time
    bounds scale with `timing_scale`). Every test also fails if a process the worker started
    is still alive after `close()`.
    """

    __test__ = False

    worker_type: str = ""
    """The `worker_type` name under test."""
    worker_kwargs: dict[str, Any] = {}
    """Extra keywords given to every `run()` (as `Search.start(**kwargs)` would)."""
    num_workers: int = 2
    task_timeout: float = 1.0
    """The `task_timeout` of the hang test, in seconds."""
    timeout_slack: float = 4.0
    """How long after `task_timeout` the hang test allows the batch to finish."""
    heavy_modules: Sequence[str] = ("ray", "torch", "tensorflow", "jax", "cloudpickle")
    """Modules the plugin must not import at import time."""
    requires_entry_point: bool = True
    """False for a worker registered in-process only (no distribution to discover)."""
    check_leftover_processes: bool = True
    leftover_grace_s: float = 3.0
    """How long after a test its processes may take to disappear (scaled by `timing_scale`)."""
    timing_scale: float | None = None
    """Multiplier of every time tolerance (`timeout_slack`, the parallelism bound,
    `leftover_grace_s`); None: the `COMPILEIQ_TEST_TIME_SCALE` environment variable, else 1."""

    # -- fixtures -------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _no_process_left_behind(self) -> Iterator[None]:
        before = set(descendants())
        yield
        if self.check_leftover_processes and sys.platform.startswith("linux"):
            left = leftover_processes(before, timeout=self.leftover_grace_s * self.scale)
            assert not left, f"worker {self.worker_type!r} left processes behind after close(): {left}"

    @pytest.fixture
    def worker_cls(self) -> type[BaseWorker]:
        """The worker class, resolved by name through the real registry."""
        assert self.worker_type, "set worker_type on your WorkerConformanceSuite subclass"
        return resolve_worker(self.worker_type)

    @pytest.fixture
    def make_worker(self, worker_cls: type[BaseWorker], tmp_path: Path) -> Iterator[Callable[..., BaseWorker]]:
        """`make_worker(normalize=False)`: a set-up worker, closed at the end of the test."""
        made: list[BaseWorker] = []

        def make(normalize: bool = False) -> BaseWorker:
            worker = worker_cls.create(cache_folder=tmp_path, normalize=normalize, tracker=None)
            worker.setup()
            made.append(worker)
            return worker

        yield make
        for worker in made:
            worker.close()

    # -- helpers --------------------------------------------------------------------------

    @property
    def scale(self) -> float:
        """The multiplier of time tolerances (`timing_scale`, else `COMPILEIQ_TEST_TIME_SCALE`, else 1)."""
        return self.timing_scale if self.timing_scale is not None else time_scale()

    def capability(self, flag: str) -> bool:
        """The worker class's capability `flag`. A suite attribute of the old name still wins,
        with a DeprecationWarning: declare capabilities on the worker class."""
        legacy = _LEGACY_FLAGS.get(flag)
        if legacy is not None and hasattr(type(self), legacy):
            warnings.warn(
                f"{type(self).__name__}.{legacy} is deprecated: declare `{flag}` on the worker class instead.",
                DeprecationWarning, stacklevel=2,
            )
            return bool(getattr(self, legacy))
        return bool(getattr(resolve_worker(self.worker_type), flag, _FLAG_DEFAULTS.get(flag, False)))

    @property
    def is_async(self) -> bool:
        return self.capability("requires_async_objective")

    def objective(self, name: str) -> Callable[..., Any]:
        """The toy objective `name` from `compileiq.testing.objectives`, async when the worker wants it."""
        function: Callable[..., Any] = getattr(toys, f"async_{name}" if self.is_async else name)
        return function

    def run_worker(
        self, worker: BaseWorker, function: Callable[..., Any], pool: list[Any],
        ids: list[Any] | None = None, num_objectives: int = 1, **kwargs: Any,
    ) -> list[Score]:
        """Call `worker.run` the way the driver does and check the basic shape of the answer."""
        ids = list(range(len(pool))) if ids is None else ids
        options = {"num_workers": self.num_workers, "task_timeout": None, "tracker": None,
                   **self.worker_kwargs, **kwargs}
        scores = worker.run(function=function, params_pool=pool, params_ids=ids,
                            num_function_returns=num_objectives, **options)
        assert isinstance(scores, list), f"run() returned {type(scores).__name__}, not a list of Score"
        assert all(isinstance(s, Score) for s in scores), "run() returned something that is not a Score"
        got = [s.param_id for s in scores if not s.is_baseline]
        assert sorted(map(str, got)) == sorted(map(str, ids)), f"run() must return one Score per id: {got} vs {ids}"
        return scores

    def assert_failed(self, score: Score, *kinds: str) -> dict[str, Any]:
        assert all(v == INVALID_SCORE for v in score.values()), f"expected INVALID_SCORE, got {score!r}"
        meta = score.metadata_dict
        assert meta.get("failure") in kinds, f"expected failure in {kinds}, got metadata {meta}"
        assert meta.get("error"), f"a failed score must say why in metadata['error']: {meta}"
        return meta

    # -- discovery and hygiene --------------------------------------------------------------

    def test_resolves_through_registry(self, worker_cls: type[BaseWorker]) -> None:
        assert issubclass(worker_cls, BaseWorker)
        assert worker_cls.name == self.worker_type, "the class attribute `name` must equal its worker_type"
        assert worker_cls.plugin_api == PLUGIN_API

    def test_entry_point_matches_name(self, worker_cls: type[BaseWorker]) -> None:
        if not self.requires_entry_point:
            pytest.skip("registered in-process")
        eps = [ep for ep in entry_points(group="compileiq.workers") if ep.name == self.worker_type]
        dists = {ep.dist.name if ep.dist else ep.value for ep in eps}
        assert len(dists) == 1, f"expected one 'compileiq.workers' entry point named {self.worker_type!r}: {eps}"
        assert eps[0].load() is worker_cls

    def test_listed_by_cli(self) -> None:
        if not self.requires_entry_point:
            pytest.skip("registered in-process")
        out = subprocess.run([sys.executable, "-m", "compileiq", "workers", "--json"],
                             capture_output=True, text=True, timeout=120, check=False)
        rows = {row["name"]: row for row in json.loads(out.stdout)}
        assert self.worker_type in rows, f"`compileiq workers --json` does not list it: {out.stdout}{out.stderr}"
        assert rows[self.worker_type]["status"] == "ok", rows[self.worker_type]

    def test_import_hygiene(self, worker_cls: type[BaseWorker]) -> None:
        module = worker_cls.__module__
        code = (
            "import json, multiprocessing, sys, threading\n"
            f"import {module}\n"
            "print(json.dumps({'start_method': multiprocessing.get_start_method(allow_none=True),"
            " 'modules': sorted(sys.modules), 'children': len(multiprocessing.active_children()),"
            " 'threads': threading.active_count()}))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
        assert out.returncode == 0, out.stderr
        state = json.loads(out.stdout.strip().splitlines()[-1])
        assert state["start_method"] is None, f"importing {module} set the start method {state['start_method']!r}"
        heavy = sorted(set(self.heavy_modules) & set(state["modules"]))
        assert not heavy, f"importing {module} imported {heavy}; import them in setup()/run() instead"
        assert state["children"] == 0 and state["threads"] == 1, f"importing {module} started something: {state}"

    # -- results --------------------------------------------------------------------------

    def test_one_score_per_id(self, make_worker: Callable[..., BaseWorker]) -> None:
        pool = [{"x": float(i)} for i in range(7)]
        ids = [uuid.uuid4().hex for _ in pool]
        scores = _by_id(self.run_worker(make_worker(), self.objective("square"), pool, ids))
        for pid, config in zip(ids, pool):
            assert scores[pid].score == toys.expected_square(config), f"wrong score for id {pid}: {scores[pid]!r}"
            assert scores[pid].params in (None, config)

    def test_int_ids(self, make_worker: Callable[..., BaseWorker]) -> None:
        pool = [{"x": float(i)} for i in range(3)]
        scores = _by_id(self.run_worker(make_worker(), self.objective("square"), pool, [10, 11, 12]))
        assert {k: s.score for k, s in scores.items()} == {10: 0.0, 11: 1.0, 12: 4.0}

    def test_empty_pool(self, make_worker: Callable[..., BaseWorker]) -> None:
        assert _by_id(self.run_worker(make_worker(), self.objective("square"), [], [])) == {}

    def test_multi_objective_arity(self, make_worker: Callable[..., BaseWorker]) -> None:
        pool = [{"x": 1.0}, {"x": 4.0}]
        scores = _by_id(self.run_worker(make_worker(), self.objective("two_objectives"), pool, num_objectives=2))
        assert scores[0].score == (2.0, 9.0) and scores[1].score == (5.0, 6.0)
        bad = _by_id(self.run_worker(make_worker(), self.objective("square"), pool, num_objectives=2))
        for score in bad.values():
            meta = self.assert_failed(score, "invalid_return")
            assert "2" in meta["error"], "the reason must say how many values num_objectives expects"

    # -- the submission contract (asynchronous scheduling), where the worker declares it ------

    def collect_all(self, worker: BaseWorker, count: int, limit_s: float = 60.0) -> list[Score]:
        """`collect()` until `count` Scores came back (fails after `limit_s`, scaled)."""
        got: list[Score] = []
        deadline = time.monotonic() + limit_s * self.scale
        while len(got) < count:
            assert time.monotonic() < deadline, f"collect() gave {len(got)} of {count} Scores in {limit_s} s"
            batch = worker.collect(1.0)
            assert isinstance(batch, list) and all(isinstance(s, Score) for s in batch), (
                f"collect() must return a list of Score, got {batch!r}"
            )
            got.extend(batch)
        return got

    def open_submissions(self, worker: BaseWorker, function: Callable[..., Any], **kwargs: Any) -> None:
        options = {"num_workers": self.num_workers, "task_timeout": None, "tracker": None,
                   **self.worker_kwargs, **kwargs}
        worker.open_submissions(function=function, num_function_returns=1, **options)

    def test_submission_contract(self, make_worker: Callable[..., BaseWorker]) -> None:
        if not self.capability("supports_submission"):
            pytest.skip("supports_submission is False")
        worker = make_worker(normalize=True)
        worker.baseline_score = Score(score=1.0, param_id="baseline", num_objectives=1, is_baseline=True,
                                      norm_score=1.0)
        reported: list[Score] = []
        worker.score_sink = reported.append
        self.open_submissions(worker, self.objective("faulty"))
        try:
            assert worker.collect(0.05) == [], "collect() with nothing in flight must return []"
            pool: dict[str, dict[str, Any]] = {"a": {"x": 1.0}, "b": {"x": 2.0}, "c": {"fault": "raise"},
                                              "d": {"x": 3.0}}
            for pid, config in pool.items():
                worker.submit(config, pid)
            scores = {s.param_id: s for s in self.collect_all(worker, len(pool))}
            assert sorted(scores) == sorted(pool), f"collect() must give one Score per submission: {sorted(scores)}"
            assert [scores[k].score for k in "abd"] == [1.0, 4.0, 9.0]
            self.assert_failed(scores["c"], "exception")
            assert all(s.norm_score is not None for k, s in scores.items() if k != "c"), (
                "collected Scores come finished: normalized against baseline_score (use deliver)"
            )
            # (a worker with a baseline per node or device, e.g. Ray, reports the baselines it measures too)
            assert sorted(str(s.param_id) for s in reported if not s.is_baseline) == sorted(pool), (
                "every collected Score must also reach report_score (deliver does both)"
            )
            # more submissions than workers: they queue, and all come back
            more = {f"m{i}": {"x": float(i)} for i in range(2 * self.num_workers + 1)}
            for pid, config in more.items():
                worker.submit(config, pid)
            again = {s.param_id: s for s in self.collect_all(worker, len(more))}
            assert {k: s.score for k, s in again.items()} == {k: c["x"] ** 2 for k, c in more.items()}
            # cancel: what is in flight never comes back, and the worker goes on
            for i in range(self.num_workers):
                worker.submit({"fault": "hang", "hang_s": 30.0}, f"slow{i}")
            worker.cancel()
            worker.cancel()  # idempotent
            worker.submit({"x": 5.0}, "after")
            after = self.collect_all(worker, 1, limit_s=20.0)
            assert [s.param_id for s in after] == ["after"] and after[0].score == 25.0, (
                f"after cancel() only the new submission may come back, got {after}"
            )
        finally:
            worker.close_submissions()
            worker.close_submissions()  # safe twice
            worker.score_sink = None
        assert self.run_worker(worker, self.objective("square"), [{"x": 2.0}])[0].score == 4.0, (
            "run() must still work after close_submissions()"
        )

    def test_submission_timeout(self, make_worker: Callable[..., BaseWorker]) -> None:
        if not (self.capability("supports_submission") and self.capability("supports_timeout")):
            pytest.skip("supports_submission or supports_timeout is False")
        worker = make_worker()
        bound = self.task_timeout + self.timeout_slack * self.scale
        self.open_submissions(worker, self.objective("faulty"), task_timeout=self.task_timeout)
        try:
            start = time.monotonic()
            worker.submit({"fault": "hang", "hang_s": bound + 1}, "hang")
            worker.submit({"x": 2.0}, "ok")
            scores = {s.param_id: s for s in self.collect_all(worker, 2, limit_s=bound + 5)}
            elapsed = time.monotonic() - start
            assert elapsed < bound, f"a hung submission was collected after {elapsed:.1f} s (bound {bound:.1f} s)"
            self.assert_failed(scores["hang"], "timeout")
            assert scores["ok"].score == 4.0
        finally:
            worker.close_submissions()

    def test_scores_are_reported_as_they_arrive(self, make_worker: Callable[..., BaseWorker]) -> None:
        if not self.capability("streams_scores"):
            pytest.skip("streams_scores is False")
        worker = make_worker(normalize=True)
        reported: list[Score] = []
        worker.score_sink = reported.append  # what the search's journal listens to
        try:
            scores = self.run_worker(worker, self.objective("faulty"), [{"x": 1.0}, {"x": 2.0}, {"fault": "raise"}])
        finally:
            worker.score_sink = None
        got = sorted(str(s.param_id) for s in reported if not s.is_baseline)
        assert got == ["0", "1", "2"], f"report_score() must see every candidate's Score once, got {got}"
        assert any(s.is_baseline for s in reported), "the baseline Score must be reported too"
        assert all(s.norm_score is not None for s in reported if not s.is_baseline), (
            "Scores are reported finished: normalized (use BaseWorker.deliver)"
        )
        assert {id(s) for s in reported if not s.is_baseline} == {id(s) for s in scores if not s.is_baseline}

    def test_extra_start_kwargs_accepted(self, make_worker: Callable[..., BaseWorker]) -> None:
        if self.capability("validates_start_kwargs"):
            with pytest.raises(TypeError, match="compileiq_kit_unknown_option"):
                self.run_worker(make_worker(), self.objective("square"), [{"x": 1.0}],
                                compileiq_kit_unknown_option=1)
            return
        self.run_worker(make_worker(), self.objective("square"), [{"x": 1.0}], compileiq_kit_unknown_option=1)

    def test_baseline_and_normalization(self, make_worker: Callable[..., BaseWorker]) -> None:
        worker = make_worker(normalize=True)
        pool = [{"x": 1.0}, {"x": 4.0}, {"fault": "raise"}]
        first = self.run_worker(worker, self.objective("faulty"), pool)
        baselines = [s for s in first if s.is_baseline]
        if self.capability("one_baseline_per_search"):
            assert len(baselines) == 1, f"the first batch must carry exactly one baseline Score, got {baselines}"
        else:
            assert baselines, "the first batch must carry the baseline Score(s)"
        base = baselines[0]
        assert base.param_id == "baseline" and base.score == 4.0 and base.norm_score == 1.0
        assert worker.baseline_score is not None
        scores = _by_id(first)
        assert scores[0].norm_score == 0.25 and scores[1].norm_score == 4.0
        assert scores[2].norm_score == INVALID_SCORE
        second = self.run_worker(worker, self.objective("faulty"), [{"x": 2.0}])
        assert not [s for s in second if s.is_baseline], "the baseline is measured once per search"
        assert _by_id(second)[0].norm_score == 1.0

    def test_failed_baseline_is_an_error(self, make_worker: Callable[..., BaseWorker]) -> None:
        with pytest.raises(RuntimeError, match="[Bb]aseline"):
            self.run_worker(make_worker(normalize=True), self.objective("fails_on_empty"), [{"x": 1.0}])

    # -- robustness -----------------------------------------------------------------------

    def test_exception_scores_invalid(self, make_worker: Callable[..., BaseWorker]) -> None:
        pool = [{"x": 1.0}, {"fault": "raise"}, {"x": 3.0}]
        scores = _by_id(self.run_worker(make_worker(), self.objective("faulty"), pool))
        meta = self.assert_failed(scores[1], "exception")
        assert "deliberate failure" in meta["error"]
        assert scores[0].score == 1.0 and scores[2].score == 9.0

    @pytest.mark.parametrize("kind", sorted(toys.INVALID_RETURNS))
    def test_invalid_return_scores_invalid(self, make_worker: Callable[..., BaseWorker], kind: str) -> None:
        pool = [{"x": 1.0}, {"fault": kind}, {"x": 3.0}]
        scores = _by_id(self.run_worker(make_worker(), self.objective("faulty"), pool))
        self.assert_failed(scores[1], "invalid_return", "non_finite")
        assert scores[0].score == 1.0 and scores[2].score == 9.0

    def test_timeout(self, make_worker: Callable[..., BaseWorker], worker_cls: type[BaseWorker]) -> None:
        if not self.capability("supports_timeout"):
            pytest.skip("supports_timeout is False")
        worker = make_worker()
        bound = self.task_timeout + self.timeout_slack * self.scale
        pool = [{"fault": "hang", "hang_s": bound + 1}, {"x": 1.0}, {"x": 2.0}]
        start = time.monotonic()
        scores = _by_id(self.run_worker(worker, self.objective("faulty"), pool, task_timeout=self.task_timeout))
        elapsed = time.monotonic() - start
        assert elapsed < bound, f"a hung evaluation held the batch {elapsed:.1f} s (bound {bound:.1f} s)"
        self.assert_failed(scores[0], "timeout")
        assert scores[1].score == 1.0 and scores[2].score == 4.0
        again = _by_id(self.run_worker(worker, self.objective("square"), [{"x": 3.0}]))
        assert again[0].score == 9.0, "the worker must keep working after a timeout"

    @pytest.mark.parametrize("kind", toys.CRASH_FAULTS)
    def test_crash(self, make_worker: Callable[..., BaseWorker], worker_cls: type[BaseWorker], kind: str) -> None:
        if not self.capability("isolates_crashes"):
            pytest.skip("isolates_crashes is False")
        worker = make_worker()
        pool = [{"x": 1.0}, {"fault": kind}, {"x": 3.0}, {"x": 4.0}]
        scores = _by_id(self.run_worker(worker, self.objective("faulty"), pool))
        meta = self.assert_failed(scores[1], "crash")
        if self.capability("reports_exit_status"):
            expected = {"exit": "code 3", "segfault": "SIGSEGV", "sigkill": "SIGKILL"}[kind]
            assert expected in meta["error"], f"the reason must name the exit code or signal: {meta}"
        assert [scores[i].score for i in (0, 2, 3)] == [1.0, 9.0, 16.0]
        again = _by_id(self.run_worker(worker, self.objective("square"), [{"x": 5.0}]))
        assert again[0].score == 25.0, "the worker must keep working after a crash"

    def test_parallelism(self, make_worker: Callable[..., BaseWorker], worker_cls: type[BaseWorker]) -> None:
        if not self.capability("respects_num_workers"):
            pytest.skip("respects_num_workers is False")
        worker = make_worker()
        sleepy = self.objective("sleepy")
        self.run_worker(worker, sleepy, [{"sleep": 0.0}] * 2, num_workers=2)  # start-up is not measured
        nap = 0.4
        start = time.monotonic()
        self.run_worker(worker, sleepy, [{"sleep": nap}] * 4, num_workers=2)
        elapsed = time.monotonic() - start
        assert elapsed >= 2 * nap * 0.95, f"4 x {nap} s on 2 workers took {elapsed:.2f} s: more than 2 ran at once"
        bound = 2 * nap + (nap + 0.3) * self.scale  # 2 rounds of naps, plus slack for dispatch
        assert elapsed < bound, f"4 x {nap} s on 2 workers took {elapsed:.2f} s (bound {bound:.2f} s): not 2 at a time"

    def test_unpicklable_objective_is_clear(self, make_worker: Callable[..., BaseWorker]) -> None:
        lock = threading.Lock()
        inner = self.objective("square")
        objective: Callable[[dict[str, Any]], Any]
        if self.is_async:
            async def async_objective(config: dict[str, Any]) -> Any:
                with lock:
                    return await inner(config)
            objective = async_objective
        else:
            def objective(config: dict[str, Any]) -> Any:
                with lock:
                    return inner(config)
        try:
            scores = _by_id(self.run_worker(make_worker(), objective, [{"x": 2.0}]))
        except (TypeError, ValueError) as exc:  # pickle.PicklingError subclasses neither; wrap it
            assert "pickl" in str(exc).lower() and "objective" in str(exc).lower(), str(exc)
        else:
            assert scores[0].score == 4.0, "a worker that does not pickle must evaluate it"

    def test_warns_once_per_failure_kind(self, make_worker: Callable[..., BaseWorker]) -> None:
        pool = [{"fault": "raise"}, {"fault": "raise"}, {"fault": "none"}]
        scores = self.run_worker(make_worker(), self.objective("faulty"), pool)
        observer = FailureWarnings()
        with pytest.warns(RuntimeWarning) as caught:
            for score in scores:
                observer.observe(score)
        assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 2

    # -- lifecycle ------------------------------------------------------------------------

    def test_setup_and_close_are_idempotent(self, worker_cls: type[BaseWorker], tmp_path: Path) -> None:
        worker = worker_cls.create(cache_folder=tmp_path, normalize=False, tracker=None)
        worker.close()  # before setup: harmless
        worker.setup()
        worker.setup()
        assert _by_id(self.run_worker(worker, self.objective("square"), [{"x": 1.0}]))[0].score == 1.0
        worker.close()
        worker.close()
        with worker as again:  # a second start() of the same Search
            assert _by_id(self.run_worker(again, self.objective("square"), [{"x": 2.0}]))[0].score == 4.0

    def _search(self, tmp_path: Path, normalize: bool) -> Any:
        import compileiq.search_spaces.base as ss
        from compileiq.ciq import Search
        from compileiq.types import SearchConfiguration

        search = Search(
            objective_function=self.objective("square"),
            search_space={"x": ss.range(0, 40)},
            search_config=SearchConfiguration(generations=2, pool_size=6, normalize=normalize),
            worker_type=self.worker_type,
            engine="random",
            cache_folder=tmp_path,
        )
        with _quiet():
            result = search.start(num_workers=self.num_workers, **self.worker_kwargs)
        frame = result.get_results()
        rows = frame[~frame["is_baseline"].astype(bool)] if "is_baseline" in frame else frame
        assert len(rows) == 12, f"2 generations x 6 must give 12 evaluations, got {len(rows)}"
        for _, row in rows.iterrows():
            assert math.isclose(row["score_1"], float(row["params"]["x"]) ** 2), row.to_dict()
        best: Any = result.get_best_result()
        assert best["score_1"] == rows["score_1"].min()
        return result, frame, best

    def test_end_to_end_search(self, tmp_path: Path) -> None:
        self._search(tmp_path, normalize=False)

    def test_end_to_end_normalized_search(self, tmp_path: Path) -> None:
        _, frame, best = self._search(tmp_path, normalize=True)
        baselines = int(frame["is_baseline"].astype(bool).sum())
        if self.capability("one_baseline_per_search"):
            assert baselines == 1, "one baseline row per search"
        else:
            assert baselines >= 1, "the baseline rows are kept in the result"
        assert not bool(best.get("is_baseline", False)), "the baseline row must never be the best result"


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the 'not supported' UserWarnings of workers that ignore num_workers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield
