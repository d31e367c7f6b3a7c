"""RayWorker without a cluster: discovery, import hygiene, option and timeout checks."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from compileiq_ray import RayWorker
from compileiq_ray._worker import RAY_TASK_OPTIONS, _check_timeout, _per_gpu, task_options


def test_import_leaves_ray_out() -> None:
    code = "import sys, compileiq_ray, compileiq.worker; compileiq_ray.RayWorker; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolved_by_name_and_through_compileiq_worker() -> None:
    from compileiq.registry import resolve_worker
    from compileiq.worker import RayWorker as Lazy

    assert resolve_worker("ray") is RayWorker is Lazy
    assert RayWorker.name == "ray" and RayWorker.supports_timeout and not RayWorker.respects_num_workers


def test_ray_options_pass_compileiq_kwargs_drop() -> None:
    kwargs = {"num_cpus": 2, "num_gpus": 0, "resources": {"x": 1}, "memory": 10, "scheduling_strategy": "SPREAD",
              "accelerator_type": "A100", "runtime_env": {}, "num_workers": 4, "task_timeout": 3, "tracker": None}
    assert task_options(kwargs) == {k: v for k, v in kwargs.items() if k in RAY_TASK_OPTIONS}


def test_unknown_option_is_an_error_listing_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"num_cpu=1.*Did you mean 'num_cpus'.*num_gpus.*scheduling_strategy"):
        task_options({"num_cpu": 1})
    with pytest.raises(TypeError, match="bogus_option=True, which is not a Ray task option"):
        task_options({"bogus_option": True})
    with pytest.raises(TypeError, match="max_retries=3 cannot be set.*never retried"):
        task_options({"max_retries": 3})


def test_bad_timeout_and_gpu_counts() -> None:
    assert _check_timeout(None) is None and _check_timeout(2) == 2.0
    for bad in (0, -1, "5", float("nan"), True):
        with pytest.raises(ValueError, match="task_timeout=.* is not a positive number"):
            _check_timeout(bad)
    assert _per_gpu({"num_gpus": 1}) and not _per_gpu({}) and not _per_gpu({"num_gpus": 0.5})
    with pytest.raises(ValueError, match="num_gpus=2 with normalization"):
        _per_gpu({"num_gpus": 2})


def test_unknown_option_fails_before_connecting() -> None:
    worker = RayWorker()
    with pytest.raises(TypeError, match="not a Ray task option"):
        worker.run(function=abs, params_pool=[{}], params_ids=[1], bogus=1)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_worker_pickles_without_its_connection() -> None:
    worker = RayWorker(normalize=True, init_options={"num_cpus": 1})
    clone = pickle.loads(pickle.dumps(worker))
    assert clone.normalize and clone.init_options["num_cpus"] == 1 and clone._owns_ray is False


def test_unserializable_objective_is_named_before_connecting() -> None:
    import threading

    lock = threading.Lock()

    def objective(config: dict) -> float:
        with lock:
            return 1.0

    with pytest.raises(TypeError, match="cannot be serialized for Ray tasks.*lock"):
        RayWorker().run(function=objective, params_pool=[{}], params_ids=[1])
    assert not sys.modules["ray"].is_initialized()


class _FakeRay:
    def __init__(self, resources: dict) -> None:
        self.resources = resources

    def cluster_resources(self) -> dict:
        return self.resources


def test_capacity_counts_what_one_task_needs_and_a_window_of_one_is_warned() -> None:
    from compileiq_ray._worker import _capacity, _warn_small_window

    ray = _FakeRay({"CPU": 16.0, "GPU": 4.0, "box": 2.0})
    assert _capacity(ray, {}) == 16  # Ray's default: one CPU per task
    assert _capacity(ray, {"num_cpus": 2}) == 8
    assert _capacity(ray, {"num_gpus": 1, "num_cpus": 1}) == 4
    assert _capacity(ray, {"num_cpus": 0.5, "resources": {"box": 1}}) == 2
    assert _capacity(ray, {"num_cpus": 0}) == 0
    with pytest.warns(UserWarning, match=r"num_workers=1 task in flight.*start\(num_workers=4\)"):
        _warn_small_window(ray, 1, {"num_gpus": 1})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_small_window(ray, 4, {"num_gpus": 1})  # a real window: no warning
        _warn_small_window(_FakeRay({"CPU": 1.0}), 1, {})  # a one-slot cluster: nothing to say
