"""`RayWorker`: one Ray task per candidate, on the cluster the user joined or a local one.

Driver side only. The task bodies live in `compileiq_ray._task`; ray is imported when the
worker connects (in `setup()` or the first `run()`), never when this module is imported.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from compileiq.evaluation import baseline_from, failed_score
from compileiq.score import ParamArg, Score
from compileiq.worker import BaseWorker
from compileiq_ray import _task

__all__ = ["RAY_TASK_OPTIONS", "RayWorker", "task_options"]

RAY_TASK_OPTIONS = frozenset({
    "accelerator_type", "enable_task_events", "fallback_strategy", "label_selector", "max_calls",
    "memory", "name", "num_cpus", "num_gpus", "object_store_memory", "placement_group",
    "placement_group_bundle_index", "placement_group_capture_child_tasks", "resources",
    "runtime_env", "scheduling_strategy",
})
"""Ray task options `Search.start()` passes on to every task (see `ray.remote`)."""

_RESERVED = {
    "num_returns": "every task returns exactly one Score",
    "max_retries": "a failed evaluation is never retried (only a task lost with its node is "
                   "rescheduled, once)",
    "retry_exceptions": "an objective's exception scores INVALID_SCORE and is never retried",
}
_COMPILEIQ_KWARGS = ("num_workers", "task_timeout", "tracker")
_POLL_S = 0.5
"""Longest single wait in the driver loop, so Ctrl-C and timeouts are seen promptly."""
_BATCH_S = 0.05
"""While results flow, the longest a finished result waits before the driver takes it."""
_PG_READY_S = 5.0


def task_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Check the Ray task options given to `start()`; raise TypeError for anything unknown."""
    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _COMPILEIQ_KWARGS:
            continue
        if key in _RESERVED:
            raise TypeError(
                f"Ray option {key}={value!r} cannot be set for RayWorker: {_RESERVED[key]}. "
                f"Remove it from start(); use task_timeout to bound an evaluation."
            )
        if key not in RAY_TASK_OPTIONS:
            close = difflib.get_close_matches(key, RAY_TASK_OPTIONS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TypeError(
                f"start() got {key}={value!r}, which is not a Ray task option.{hint} RayWorker "
                f"passes these to every task: {', '.join(sorted(RAY_TASK_OPTIONS))} (plus compileiq's "
                f"own {', '.join(_COMPILEIQ_KWARGS)}). Remove it or fix its name."
            )
        options[key] = value
    return options


@dataclass
class _Job:
    """One task to run: a candidate or a baseline, and what the driver knows about it."""

    param_id: int | str
    params: ParamArg | None
    args: tuple[Any, ...]
    options: dict[str, Any]
    baseline: bool = False
    attempts: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    started: float | None = None


class RayWorker(BaseWorker):
    """Evaluates every candidate as a Ray task (`worker_type="ray"`).

    Ray is imported and connected in `setup()` (or the first `run()`): to the cluster this
    process already joined with `ray.init(...)`, else to `RAY_ADDRESS`, else to a new local
    Ray bound to 127.0.0.1. `close()` disconnects only what this worker connected. Extra
    `start()` keywords are Ray task options (`RAY_TASK_OPTIONS`) applied to every task.

    Failures score `INVALID_SCORE` with the reason in the row's metadata and are never retried:
    exceptions, invalid returns, crashed worker processes, and tasks running longer than
    `task_timeout` (cancelled with force, which kills their process). A task lost with its
    node is rescheduled once elsewhere. With normalization, a baseline is measured on each node
    (each GPU of each node when `num_gpus=1`) at the start of every `run()` that finds one
    missing; `baseline_score` maps node id (and GPU id) to the baseline Score.

    Asynchronous scheduling uses the submission contract: `open_submissions()` measures the
    missing baselines as `run()` does, `submit()` starts one task per candidate with the same
    options, `collect()` takes finished tasks as they land (timeouts, crashes and lost nodes as
    in `run()`), and `cancel()` cancels every task in flight with force.
    """

    name = "ray"
    respects_num_workers = False
    supports_timeout = True
    isolates_crashes = True  # a task's process dying costs only that candidate
    reports_exit_status = False  # Ray reports a dead worker process, not its exit code
    validates_start_kwargs = True  # unknown Ray task options are a clear error
    one_baseline_per_search = False  # one baseline per node
    supports_submission = True  # asynchronous scheduling: one task per candidate, collected as they finish
    init_options: ClassVar[dict[str, Any]] = {"include_dashboard": False}
    """Extra `ray.init` arguments used only when this worker starts a Ray of its own."""

    def __init__(self, *args: Any, init_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if init_options is not None:
            self.init_options = {**type(self).init_options, **init_options}
        self._owns_ray = False
        self._dead_nodes: set[str] | None = None  # nodes known dead before the current run
        self._functions: dict[tuple[bytes, bool, bool], Any] = {}  # exported task functions
        self._submissions: _Dispatch | None = None  # open submissions (asynchronous scheduling)
        self._submission_options: dict[str, Any] = {}

    # -- connection --------------------------------------------------------------------------

    def setup(self) -> None:
        """Connect to Ray (see the class docstring); nothing happens if already connected."""
        self._connect()

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS")
            if address:
                ray.init(address=address)
            else:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                ray.init(address="local", _node_ip_address="127.0.0.1", **self.init_options)
            self._owns_ray = True
        if self._dead_nodes is None:
            self._dead_nodes = _dead_nodes(ray)
        return ray

    def close(self) -> None:
        """Cancel open submissions; disconnect from Ray if this worker connected (a local Ray it
        started stops)."""
        self.close_submissions()
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False
        self._dead_nodes = None
        self._functions.clear()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_owns_ray"] = False
        state["_dead_nodes"] = None
        state["_functions"] = {}
        state["_submissions"] = None
        state["_submission_options"] = {}
        return state

    # -- run -------------------------------------------------------------------------------------

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        options = task_options(kwargs)
        timeout = _check_timeout(kwargs.get("task_timeout"))
        tracker = kwargs.get("tracker")
        _check_serializable(function, tracker)
        ray = self._connect()
        try:
            return self._run(ray, function, params_pool, params_ids, num_function_returns, options, timeout, tracker)
        finally:
            self._dead_nodes = None  # looked up again at the next run

    def _run(
        self, ray: Any, function: Callable[..., Any], params_pool: list[ParamArg], params_ids: list[int | str],
        num_function_returns: int, options: dict[str, Any], timeout: float | None, tracker: Any,
    ) -> list[Score]:
        out: list[Score] = []
        per_gpu = False
        baselines: dict[tuple[str, str | None], Any] | None = None
        if self.normalize:
            per_gpu = _per_gpu(options)
            context = _task.TaskContext(function, num_function_returns, None, False, tracker)
            out += self._measure_baselines(_Dispatch(self, ray, timeout, context), options, per_gpu)
            baselines = self._baseline_values(per_gpu)
        context = _task.TaskContext(function, num_function_returns, baselines, per_gpu, tracker)
        jobs = [_Job(pid, params, (params, pid), options) for params, pid in zip(params_pool, params_ids)]
        out += _Dispatch(self, ray, timeout, context).run(jobs)
        return out

    # -- submission contract (asynchronous scheduling) ----------------------------------------

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        """Connect, check the options as `run()` does and, when normalizing, measure the baseline
        of every node (or node GPU) that has none, reporting each; then take single submissions."""
        self.close_submissions()
        options = task_options(kwargs)
        timeout = _check_timeout(kwargs.get("task_timeout"))
        tracker = kwargs.get("tracker")
        _check_serializable(function, tracker)
        ray = self._connect()
        self._dead_nodes = _dead_nodes(ray)
        _warn_small_window(ray, kwargs.get("num_workers"), options)
        per_gpu = False
        baselines: dict[tuple[str, str | None], Any] | None = None
        try:
            if self.normalize:
                per_gpu = _per_gpu(options)
                context = _task.TaskContext(function, num_function_returns, None, False, tracker)
                self._measure_baselines(_Dispatch(self, ray, timeout, context), options, per_gpu)
                baselines = self._baseline_values(per_gpu)
        except BaseException:
            self._dead_nodes = None
            raise
        context = _task.TaskContext(function, num_function_returns, baselines, per_gpu, tracker)
        self._submissions = _Dispatch(self, ray, timeout, context)
        self._submission_options = options

    def _stream(self) -> _Dispatch:
        if self._submissions is None:
            raise RuntimeError(
                f"{type(self).__name__}: submit()/collect() called before open_submissions(); call "
                "open_submissions(function=...) first."
            )
        return self._submissions

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        """Submit one Ray task for `params` with the options of `open_submissions`; returns at once."""
        self._stream().add(_Job(param_id, params, (params, param_id), self._submission_options))

    def collect(self, timeout: float | None = None) -> list[Score]:
        """The Scores of the tasks finished since the last call (see `BaseWorker.collect`)."""
        if self._submissions is None:
            return []
        return self._submissions.collect(timeout)

    def cancel(self) -> None:
        """Cancel every task in flight with force (killing their processes); idempotent."""
        if self._submissions is not None:
            self._submissions.cancel()

    def close_submissions(self) -> None:
        """Cancel what is in flight and drop the submission state; `run()` works as before."""
        try:
            self.cancel()
        finally:
            if self._submissions is not None:
                self._dead_nodes = None  # looked up again at the next run or open
            self._submissions = None
            self._submission_options = {}

    def _function(self, ray: Any, context: _task.TaskContext, baseline: bool, streaming: bool) -> Any:
        """The Ray remote function for tasks of `context`, reused while the context is unchanged.

        The context travels inside the exported function (like a plain `@ray.remote` function),
        so each task carries only its params and id, and a search whose function and baselines
        do not change exports it once.
        """
        from ray import cloudpickle

        key = (hashlib.sha256(cloudpickle.dumps(context)).digest(), baseline, streaming)
        remote = self._functions.get(key)
        if remote is None:
            if len(self._functions) >= 16:
                self._functions.clear()
            body = _task.bind(context, baseline=baseline, streaming=streaming)
            extra: dict[str, Any] = {"num_returns": "streaming"} if streaming else {}
            remote = self._functions[key] = ray.remote(max_retries=0, retry_exceptions=False, **extra)(body)
        return remote

    # -- baselines -------------------------------------------------------------------------------

    def _baseline_values(self, per_gpu: bool) -> dict[tuple[str, str | None], Any]:
        values: dict[tuple[str, str | None], Any] = {}
        for node_id, entry in (self.baseline_score or {}).items():
            if isinstance(entry, Score):
                values[node_id, None] = entry.score
            elif isinstance(entry, dict) and per_gpu:
                for gpu_id, score in entry.items():
                    values[node_id, gpu_id] = score.score
        return values

    def _measure_baselines(self, dispatch: _Dispatch, options: dict[str, Any], per_gpu: bool) -> list[Score]:
        """Baseline every alive node (or node GPU) that has none yet; return the new Scores.

        A failed baseline raises RuntimeError (nothing can be normalized against it); one lost
        with its node is skipped.
        """
        ray = dispatch.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not isinstance(self.baseline_score, dict):
            self.baseline_score = {}
        base_options = {k: v for k, v in options.items() if not k.startswith("placement_group")
                        and k != "scheduling_strategy"}
        args: tuple[Any, ...] = ()
        jobs: list[_Job] = []
        groups: list[Any] = []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            node_id, resources = node["NodeID"], node.get("Resources", {})
            if per_gpu:
                gpus = int(resources.get("GPU", 0))
                known = self.baseline_score.get(node_id) or {}
                if gpus < 1 or len(known) >= gpus:
                    continue
                group = _gpu_group(ray, node_id, gpus, options)
                if group is None:
                    continue
                groups.append(group)
                from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

                for index in range(gpus):
                    strategy = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=index)
                    jobs.append(_Job("baseline", None, args, {**base_options, "scheduling_strategy": strategy},
                                     baseline=True))
            elif resources.get("CPU", 0) > 0 and node_id not in self.baseline_score:
                strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
                jobs.append(_Job("baseline", None, args, {**base_options, "scheduling_strategy": strategy},
                                 baseline=True))
        try:
            scores = dispatch.run(jobs, report=False) if jobs else []
        finally:
            for group in groups:
                ray.util.remove_placement_group(group)
        measured: list[Score] = []
        for score in scores:
            if score.metadata_dict.get("failure") == "node_lost":
                continue  # the node went away: nothing to normalize against there
            baseline = baseline_from(score)  # raises RuntimeError when the baseline failed
            meta = baseline.metadata_dict
            if per_gpu:
                self.baseline_score.setdefault(meta["node_id"], {})[meta.get("gpu_id")] = baseline
            else:
                self.baseline_score[meta["node_id"]] = baseline
            self.report_score(baseline)
            measured.append(baseline)
        return measured


class _Dispatch:
    """Submits jobs, streams each result to the search as it lands, enforces the timeout."""

    def __init__(self, worker: RayWorker, ray: Any, timeout: float | None, context: _task.TaskContext) -> None:
        self.worker = worker
        self.ray = ray
        self.timeout = timeout
        self.context = context
        self.num_objectives = context.num_objectives
        self.streaming = timeout is not None
        self._remotes: dict[bool, Any] = {}
        self._flowing = False
        self._submitters: dict[tuple[bool, int], Any] = {}
        self._keep: list[dict[str, Any]] = []  # keeps the ids used as keys above valid
        self.pending: dict[Any, _Job] = {}
        """Tasks in flight: handle -> job."""

    def _submit(self, job: _Job) -> Any:
        key = (job.baseline, id(job.options))
        submit = self._submitters.get(key)
        if submit is None:  # one `.options()` per distinct option set, not per task
            remote = self._remotes.get(job.baseline)
            if remote is None:
                remote = self._remotes[job.baseline] = self.worker._function(
                    self.ray, self.context, job.baseline, self.streaming)
            submit = self._submitters[key] = remote.options(**job.options) if job.options else remote
            self._keep.append(job.options)
        return submit.remote(*job.args)

    def add(self, job: _Job) -> None:
        """Submit `job` as a Ray task; it is in flight until a step gives its Score."""
        self.pending[self._submit(job)] = job

    def run(self, jobs: Iterable[_Job], report: bool = True) -> list[Score]:
        """Run every job to a Score (failures included); cancels everything on any interruption."""
        done: list[Score] = []
        try:
            for job in jobs:
                self.add(job)
            while self.pending:
                for score in self._step(self._wait_s(self.pending), batched=True):
                    self._finish(score, done, report)
        except BaseException:
            self.cancel()
            raise
        return done

    def collect(self, timeout: float | None) -> list[Score]:
        """The Scores of the jobs that finished (timeouts and crashes included), each delivered,
        waiting up to `timeout` s (None: until one finishes) when none is ready; cancels
        everything in flight on any interruption (Ctrl-C, an exception from the score sink)."""
        out: list[Score] = []
        end = None if timeout is None else time.monotonic() + timeout
        try:
            while self.pending:
                wait_s = self._wait_s(self.pending)
                if end is not None:
                    wait_s = min(wait_s, max(0.0, end - time.monotonic()))
                for score in self._step(wait_s, batched=False):
                    if self.worker.normalize and score.failed and score.norm_score is None:
                        score.norm_score = score.score
                    out.append(self.worker.deliver(score))
                if out or (end is not None and time.monotonic() >= end):
                    break
        except BaseException:
            self.cancel()
            raise
        return out

    def cancel(self) -> None:
        """Cancel (with force: their processes are killed) every task in flight; forget them."""
        handles = list(self.pending)
        self.pending.clear()
        _cancel_all(self.ray, handles)

    def _step(self, wait_s: float, batched: bool) -> list[Score]:
        """Wait up to `wait_s` for results; the Scores of finished, failed and expired tasks."""
        ready = self._wait(self.pending, wait_s, batched)
        scores = self._collect(ready, self.pending)
        if self.timeout is not None:
            scores += self._expire(self.pending)
        return scores

    def _wait(self, pending: dict[Any, _Job], wait_s: float, batched: bool) -> list[Any]:
        """The handles with a result now, waiting up to `wait_s` for the first one.

        `ray.wait` costs O(handles) per call, so in a large batch (`batched`), while results flow,
        they are taken in batches (each reported at most `_BATCH_S` late); otherwise, and when
        none is ready, it wakes on the first one and takes every other one ready then.
        """
        ray = self.ray
        handles = list(pending)
        if batched and self._flowing:
            ready, _ = ray.wait(handles, num_returns=len(handles), timeout=min(wait_s, _BATCH_S))
        else:
            ready, rest = ray.wait(handles, num_returns=1, timeout=wait_s)
            if ready and rest:
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
        self._flowing = bool(ready)
        return ready

    def _finish(self, score: Score, done: list[Score], report: bool) -> None:
        if self.worker.normalize and score.failed and score.norm_score is None:
            score.norm_score = score.score
        done.append(score)
        if report:
            self.worker.report_score(score)

    def _wait_s(self, pending: dict[Any, _Job]) -> float:
        if self.timeout is None:
            return _POLL_S
        now = time.monotonic()
        left = [job.started + self.timeout - now for job in pending.values() if job.started is not None]
        return max(0.0, min([_POLL_S, *left]))

    def _collect(self, ready: list[Any], pending: dict[Any, _Job]) -> list[Score]:
        ray = self.ray
        if not ready:
            return []
        if not self.streaming:
            try:
                values = ray.get(ready)
            except Exception:  # noqa: BLE001 - one of them failed: take them one by one
                values = [self._get_one(h) for h in ready]
            settled = [self._settle(h, v, pending) for h, v in zip(ready, values)]
            return [s for s in settled if not isinstance(s, _Retry)]
        out: list[Score] = []
        for handle in ready:
            try:
                value = ray.get(next(handle))
            except StopIteration:
                value = RuntimeError("the task ended without returning a Score")
            except Exception as exc:  # noqa: BLE001 - classified below
                value = exc
            if isinstance(value, dict):  # the task started: where it runs
                job = pending[handle]
                job.meta, job.started = value, time.monotonic()
                continue
            if isinstance(value, BaseException):
                value = self._failure(handle, value, pending)
                if isinstance(value, _Retry):
                    continue
            out.append(self._settle(handle, value, pending))
        return out

    def _get_one(self, handle: Any) -> Any:
        try:
            return self.ray.get(handle)
        except Exception as exc:  # noqa: BLE001 - classified in _settle
            return exc

    def _settle(self, handle: Any, value: Any, pending: dict[Any, _Job]) -> Any:
        if isinstance(value, BaseException):
            value = self._failure(handle, value, pending)
            if isinstance(value, _Retry):
                return value
        job = pending.pop(handle)
        if isinstance(value, (tuple, list)):
            value = _task.unpack(value, job.param_id, job.params, self.num_objectives)
        if job.attempts and isinstance(value, Score):
            value.metadata = json.dumps({**value.metadata_dict, "rescheduled": job.attempts}, default=str)
        return value

    def _failure(self, handle: Any, exc: BaseException, pending: dict[Any, _Job]) -> Score | _Retry:
        """A Score for a task that failed in Ray (not in the objective), or a resubmission."""
        from ray import exceptions as rex

        job = pending[handle]
        _raise_if_refused(exc)
        if isinstance(exc, rex.TaskCancelledError):
            kind, text = "cancelled", "the Ray task was cancelled"
        elif isinstance(exc, (rex.NodeDiedError, rex.ObjectLostError)) or (
            isinstance(exc, rex.WorkerCrashedError) and _dead_nodes(self.ray) - (self.worker._dead_nodes or set())
        ):
            if job.attempts < 1 and not job.baseline:
                job.attempts += 1
                job.started, job.meta = None, {}
                del pending[handle]
                pending[self._submit(job)] = job
                return _Retry()
            kind = "node_lost"
            text = f"the node running it left the cluster ({_first_line(exc)})"
            if job.attempts:
                text = f"lost with its node twice, also after being rescheduled once ({_first_line(exc)})"
        elif isinstance(exc, (rex.WorkerCrashedError, rex.OutOfMemoryError)):
            kind = "crash"
            text = f"the Ray worker process died while evaluating it (exit, signal or out of memory): " \
                   f"{_first_line(exc)}"
        elif isinstance(exc, rex.RayTaskError):
            kind, text = "exception", _first_line(exc)
        else:
            kind, text = "error", f"{type(exc).__name__}: {_first_line(exc)}"
        meta = {**job.meta} or {"worker": "ray", "task_id": _task_id(handle)}
        return failed_score(job.param_id, job.params, self.num_objectives, kind, text, **meta)

    def _expire(self, pending: dict[Any, _Job]) -> list[Score]:
        assert self.timeout is not None
        now = time.monotonic()
        out: list[Score] = []
        for handle, job in list(pending.items()):
            if job.started is None or now - job.started < self.timeout:
                continue
            _cancel(self.ray, handle)
            del pending[handle]
            out.append(failed_score(
                job.param_id, job.params, self.num_objectives, "timeout",
                f"it ran longer than task_timeout={self.timeout:g}s; its Ray task was cancelled with "
                f"force, killing its worker process (pid {job.meta.get('pid')})",
                **{**job.meta, "timeout_s": self.timeout},
            ))
        return out


class _Retry:
    """Marks a job resubmitted after its node was lost."""


def _cancel(ray: Any, handle: Any) -> None:
    try:
        ray.cancel(handle, force=True)
    except Exception:  # noqa: BLE001, S110 - already finished or gone
        pass


def _cancel_all(ray: Any, handles: list[Any]) -> None:
    """Cancel with force every task of `handles`, twice: a task caught between queue and worker
    by the first cancel is killed by the second."""
    for handle in handles:
        _cancel(ray, handle)
    if handles:
        time.sleep(0.5)
        for handle in handles:
            _cancel(ray, handle)


def _capacity(ray: Any, options: dict[str, Any]) -> int:
    """How many tasks with `options` the cluster's resources hold at once (Ray's defaults: 1 CPU)."""
    need: dict[str, float] = {"CPU": options.get("num_cpus", 1), "GPU": options.get("num_gpus") or 0,
                              **(options.get("resources") or {})}
    total = ray.cluster_resources()
    counts = [int(total.get(name, 0) // amount) for name, amount in need.items() if amount and amount > 0]
    return min(counts) if counts else 0


def _warn_small_window(ray: Any, num_workers: Any, options: dict[str, Any]) -> None:
    """Asynchronous scheduling keeps `num_workers` tasks in flight: say so when one task is all it
    keeps on a cluster that runs several (num_workers left at its default, most likely)."""
    if num_workers != 1 or "placement_group" in options:
        return
    capacity = _capacity(ray, options)
    if capacity > 1:
        import warnings

        warnings.warn(
            f"Asynchronous scheduling on Ray keeps num_workers=1 task in flight, but the cluster can run "
            f"{capacity} at once with these task options; pass start(num_workers={capacity}) to use it all.",
            UserWarning,
            stacklevel=2,
        )


def _dead_nodes(ray: Any) -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if not n.get("Alive")}


def _task_id(handle: Any) -> str | None:
    try:
        return handle.task_id().hex()
    except Exception:  # noqa: BLE001 - generators have no task_id()
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if isinstance(exc, _ray_task_error()) and lines else (lines[0] if lines else repr(exc)))[:500]


def _ray_task_error() -> type:
    from ray.exceptions import RayTaskError

    return RayTaskError


def _check_serializable(function: Callable[..., Any], tracker: Any) -> None:
    from ray import cloudpickle

    try:
        cloudpickle.dumps((function, tracker))
    except Exception as exc:
        raise TypeError(
            f"objective_function {function!r} cannot be serialized for Ray tasks "
            f"({type(exc).__name__}: {exc}). Make everything it uses picklable, or create "
            "unpicklable resources inside the objective."
        ) from exc


def _check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"task_timeout={value!r} is not a positive number of seconds; pass e.g. task_timeout=60, "
            "or None for no limit."
        )
    return float(value)


def _per_gpu(options: dict[str, Any]) -> bool:
    gpus = options.get("num_gpus") or 0
    if gpus > 1:
        raise ValueError(
            f"num_gpus={gpus!r} with normalization: RayWorker baselines each GPU of each node, so "
            "an evaluation may use at most one GPU. Pass num_gpus=1 (or less), or "
            "SearchConfiguration(normalize=False)."
        )
    return gpus == 1


def _gpu_group(ray: Any, node_id: str, gpus: int, options: dict[str, Any]) -> Any:
    """A STRICT_PACK placement group with one {CPU, GPU: 1} bundle per GPU of `node_id`."""
    from ray.util.placement_group import placement_group

    cpus = options.get("num_cpus") or 1
    group = placement_group([{"CPU": cpus, "GPU": 1}] * gpus, strategy="STRICT_PACK",
                            _soft_target_node_id=node_id)
    ready, _ = ray.wait([group.ready()], timeout=_PG_READY_S)
    if not ready:
        print(
            f"compileiq-ray: the placement group for the GPU baselines of node {node_id} was not "
            f"ready within {_PG_READY_S:g}s (are {gpus} GPUs and {cpus * gpus} CPUs free there?); "
            "candidates on that node measure a local baseline instead.",
            file=sys.stderr,
        )
        ray.util.remove_placement_group(group)
        return None
    return group


def _raise_if_refused(exc: BaseException) -> None:
    """A task that refused to start a Search (an unguarded script imported on a Ray worker to
    load the objective) stops the whole search with its words, as the local workers do."""
    from compileiq.processes import RecursiveSearchError

    text = str(exc)
    marker = f"{RecursiveSearchError.__name__}: "
    if marker in text:
        raise RecursiveSearchError(text.split(marker, 1)[1].strip().splitlines()[0]) from None
