"""The conformance kit catches broken workers (run in a separate pytest through pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BROKEN = '''
import subprocess, sys
import pytest
from compileiq.evaluation import evaluate
from compileiq.registry import register_worker
from compileiq.score import BASELINE_CONFIG, Score
from compileiq.testing import WorkerConformanceSuite
from compileiq.worker import BaseWorker


class Good(BaseWorker):
    name = "kit-good"

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
        out = self.ensure_baseline(lambda: evaluate(function, dict(BASELINE_CONFIG), param_id="baseline",
                                                    num_objectives=num_function_returns))
        return out + [self.deliver(evaluate(function, p, param_id=i, num_objectives=num_function_returns))
                      for p, i in zip(params_pool, params_ids)]


class Batchy(Good):
    name = "kit-batchy"

    def run(self, **kwargs):  # returns everything at the end: nothing reaches the journal early
        sink, self.score_sink = self.score_sink, None
        try:
            return super().run(**kwargs)
        finally:
            self.score_sink = sink


class DropsOne(Good):
    name = "kit-drops-one"

    def run(self, **kwargs):
        return super().run(**kwargs)[:-1]


class NoCatch(Good):
    name = "kit-no-catch"

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, **kwargs):
        return [Score(score=function(p), param_id=i, params=p, num_objectives=num_function_returns)
                for p, i in zip(params_pool, params_ids)]


class IgnoresTimeout(Good):
    name = "kit-ignores-timeout"
    supports_timeout = True


class Leaks(Good):
    name = "kit-leaks"

    def setup(self):
        self.child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


class WrongName(Good):
    name = "kit-something-else"


class HonestBatchy(Batchy):
    name = "kit-honest-batchy"
    streams_scores = False  # declared by the worker: the streaming check is skipped


class SlowDispatch(Good):
    """Runs num_workers at a time, but spends a second dispatching each batch."""

    name = "kit-slow-dispatch"
    respects_num_workers = True

    def run(self, *, function, params_pool, params_ids, num_function_returns=1, num_workers=2, **kwargs):
        from concurrent.futures import ThreadPoolExecutor
        import time

        time.sleep(1.0)
        with ThreadPoolExecutor(num_workers) as pool:
            return list(pool.map(lambda p, i: self.deliver(evaluate(function, p, param_id=i,
                                 num_objectives=num_function_returns)), params_pool, params_ids))


class Submits(Good):
    """The submission contract, done right: submit queues, collect evaluates the oldest."""

    name = "kit-submits"
    supports_submission = True

    def open_submissions(self, *, function, num_function_returns=1, **kwargs):
        self.queue, self.function = [], function

    def submit(self, params, param_id):
        self.queue.append((params, param_id))

    def evaluate_next(self):
        params, pid = self.queue.pop(0)
        return evaluate(self.function, params, param_id=pid, num_objectives=1)

    def collect(self, timeout=None):
        return [self.deliver(self.evaluate_next())] if self.queue else []

    def cancel(self):
        self.queue.clear()

    def close_submissions(self):
        self.queue = []


class RawCollect(Submits):
    """collect() hands back Scores that were neither normalized nor reported."""

    name = "kit-raw-collect"

    def collect(self, timeout=None):
        return [self.evaluate_next()] if self.queue else []


for cls, key in [(Submits, "kit-submits"), (RawCollect, "kit-raw-collect")]:
    register_worker(key, cls)


for cls, key in [(Good, "kit-good"), (Batchy, "kit-batchy"), (DropsOne, "kit-drops-one"), (NoCatch, "kit-no-catch"),
                 (IgnoresTimeout, "kit-ignores-timeout"), (Leaks, "kit-leaks"), (WrongName, "kit-wrong-name"),
                 (HonestBatchy, "kit-honest-batchy"), (SlowDispatch, "kit-slow-dispatch")]:
    register_worker(key, cls)


class Base(WorkerConformanceSuite):
    requires_entry_point = False
    task_timeout = 0.2
    timeout_slack = 1.0
    leftover_grace_s = 0.3


for key in ["kit-good", "kit-submits", "kit-raw-collect",
            "kit-drops-one", "kit-no-catch", "kit-ignores-timeout", "kit-leaks", "kit-wrong-name",
            "kit-batchy", "kit-honest-batchy", "kit-slow-dispatch"]:
    title = "Test" + "".join(part.title() for part in key.removeprefix("kit-").split("-"))
    globals()[title] = type(title, (Base,), {"__test__": True, "worker_type": key})


class TestSlowDispatchScaled(Base):
    __test__ = True
    worker_type = "kit-slow-dispatch"
    timing_scale = 3.0  # a slow machine: 2 x 0.4 s + 3 x 0.7 s allowed
'''


@pytest.mark.slow
def test_kit_passes_a_good_worker_and_fails_broken_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=BROKEN)
    result = pytester.runpytest_subprocess(
        "-q", "-p", "no:cacheprovider", "-k",
        "one_score_per_id or exception_scores or test_timeout or int_ids or resolves_through or end_to_end_search"
        " or reported_as_they_arrive or parallelism or submission_contract",
    )
    outcomes = {}
    for line in result.outlines:
        for word in ("PASSED", "FAILED", "ERROR"):
            if line.startswith(word + " "):
                outcomes[line.split(" ")[1].split(" - ")[0]] = word
    result.stdout.no_fnmatch_line("*TestGood*FAILED*")
    assert not [k for k, v in outcomes.items() if "TestGood" in k], outcomes
    failed = " ".join(k for k, v in outcomes.items() if v in ("FAILED", "ERROR"))
    assert "TestDropsOne::test_one_score_per_id" in failed
    assert "TestNoCatch::test_exception_scores_invalid" in failed
    assert "TestIgnoresTimeout::test_timeout" in failed
    assert "TestLeaks::test_int_ids" in failed  # the leftover-process check fails its teardown
    assert "TestWrongName::test_resolves_through_registry" in failed
    assert "TestBatchy::test_scores_are_reported_as_they_arrive" in failed
    assert "TestRawCollect::test_submission_contract" in failed
    assert "TestGood" not in failed and "TestSubmits" not in failed
    assert "TestHonestBatchy::test_scores_are_reported_as_they_arrive" not in failed  # declared: skipped
    assert "TestSlowDispatch::test_parallelism" in failed  # 1 s of dispatch is over the default bound
    assert "TestSlowDispatchScaled::test_parallelism" not in failed  # and within the scaled one
    assert "TestSlowDispatchScaled::test_one_score_per_id" not in failed
    outcome = result.parseoutcomes()
    assert outcome.get("passed", 0) >= 5


def test_capabilities_come_from_the_worker_class_and_old_suite_attributes_still_work() -> None:
    from compileiq.testing import WorkerConformanceSuite

    class New(WorkerConformanceSuite):
        worker_type = "sequential"

    class Old(WorkerConformanceSuite):
        worker_type = "sequential"
        crash_reason_names_exit = False

    assert New().capability("reports_exit_status") is True
    assert New().capability("isolates_crashes") is False  # SequentialWorker declares none
    with pytest.warns(DeprecationWarning, match="declare `reports_exit_status` on the worker class"):
        assert Old().capability("reports_exit_status") is False


def test_time_tolerances_scale_by_attribute_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from compileiq.testing import WorkerConformanceSuite

    class Suite(WorkerConformanceSuite):
        worker_type = "sequential"

    monkeypatch.delenv("COMPILEIQ_TEST_TIME_SCALE", raising=False)
    assert Suite().scale == 1.0
    monkeypatch.setenv("COMPILEIQ_TEST_TIME_SCALE", "2.5")
    assert Suite().scale == 2.5
    Suite.timing_scale = 4.0
    assert Suite().scale == 4.0
    Suite.timing_scale = None
    monkeypatch.setenv("COMPILEIQ_TEST_TIME_SCALE", "slow")
    with pytest.raises(ValueError, match="COMPILEIQ_TEST_TIME_SCALE='slow' is not a number"):
        _ = Suite().scale
