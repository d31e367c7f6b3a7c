"""What runs inside a Ray task: evaluate one candidate (or a baseline) and describe where it ran.

The driver wraps the closures `bind()` makes with `ray.remote`; they call the functions here, so
worker nodes import this module (compileiq-ray must be installed on every node). They never
raise for an objective's failure: `compileiq.evaluation.evaluate` turns exceptions and bad
returns into INVALID Scores.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from compileiq.evaluation import apply_normalization, evaluate
from compileiq.score import BASELINE_CONFIG, ParamArg, Score

__all__ = ["TaskContext", "baseline_key", "bind", "pack", "placement", "run_baseline", "run_candidate", "unpack"]


def placement() -> dict[str, Any]:
    """Where this task runs: node id and address, GPU id(s), Ray task id and process id."""
    import ray

    ctx = ray.get_runtime_context()
    if _PROCESS.get("pid") != os.getpid():  # constant for the life of a worker process
        _PROCESS.update(node_id=ctx.get_node_id(), node_address=ray.util.get_node_ip_address(), pid=os.getpid())
    gpus = [str(g) for g in ray.get_gpu_ids()]
    gpu_id = ",".join(gpus) if gpus else os.environ.get("CUDA_VISIBLE_DEVICES") or None
    return {
        "worker": "ray",
        "node_id": _PROCESS["node_id"],
        "node_address": _PROCESS["node_address"],
        "gpu_id": gpu_id,
        "task_id": ctx.get_task_id(),
        "pid": _PROCESS["pid"],
    }


_PROCESS: dict[str, Any] = {}


def baseline_key(meta: dict[str, Any], per_gpu: bool) -> tuple[str, str | None]:
    """The normalization key of a placement: the node, and the GPU when baselining per GPU."""
    return (meta["node_id"], meta.get("gpu_id") if per_gpu else None)


def _call_tracker(tracker: Any, hook: str, *args: Any, **kwargs: Any) -> None:
    if tracker is None:
        return
    try:
        getattr(tracker, hook)(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a tracker must never fail an evaluation
        import warnings

        warnings.warn(f"tracker {hook} failed ({type(exc).__name__}: {exc}); the evaluation goes on.",
                      RuntimeWarning, stacklevel=2)


class TaskContext(NamedTuple):
    """What every task of one `run()` shares; built into the exported task function."""

    function: Callable[[Any], Any]
    num_objectives: int
    baselines: dict[tuple[str, str | None], Any] | None
    per_gpu: bool
    tracker: Any = None


def run_candidate(
    context: TaskContext, params: ParamArg, param_id: int | str, meta: dict[str, Any] | None = None
) -> Score:
    """Evaluate one candidate; normalize it when `baselines` is given (a dict, maybe empty).

    A candidate on a node (or GPU) without a stored baseline measures a local baseline first;
    it is used for this candidate only and recorded as `local_baseline` in the metadata.
    """
    function, num_objectives, baselines, per_gpu, tracker = context
    meta = meta if meta is not None else placement()
    _call_tracker(tracker, "pre_objective", params, gpu_id=meta["gpu_id"], task_id=meta["task_id"],
                  node_id=meta["node_id"])
    score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **meta)
    if baselines is not None:
        key = baseline_key(meta, per_gpu)
        base = baselines.get(key)
        if base is None:
            local = evaluate(function, dict(BASELINE_CONFIG), param_id="baseline", num_objectives=num_objectives)
            base = local.score
            extra = {"local_baseline": base}
            if local.failed:
                extra["local_baseline_error"] = local.metadata_dict.get("error", "returned INVALID_SCORE")
            score.metadata = _merge(score, extra)
        reference = Score(score=base, param_id="baseline", num_objectives=num_objectives, is_baseline=True)
        try:
            apply_normalization([score], reference)
        except (ValueError, RuntimeError) as exc:
            import warnings

            warnings.warn(f"normalizing {score.score!r} against {base!r} failed: {exc}", RuntimeWarning,
                          stacklevel=2)
            score = Score(score="*", param_id=param_id, params=params, num_objectives=num_objectives,
                          norm_score="*", metadata={**meta, "failure": "normalization", "error": str(exc)})
    _call_tracker(tracker, "post_objective", score.metadata, task_id=meta["task_id"])
    return score


def run_baseline(context: TaskContext, meta: dict[str, Any] | None = None) -> Score:
    """Evaluate the objective on `BASELINE_CONFIG` where this task was placed."""
    function, num_objectives, _, _, tracker = context
    meta = meta if meta is not None else placement()
    _call_tracker(tracker, "pre_objective", dict(BASELINE_CONFIG), gpu_id=meta["gpu_id"],
                  task_id=meta["task_id"], node_id=meta["node_id"])
    score = evaluate(function, dict(BASELINE_CONFIG), param_id="baseline", num_objectives=num_objectives, **meta)
    _call_tracker(tracker, "post_objective", score.metadata, task_id=meta["task_id"])
    return score


Packed = tuple
"""A Score as plain values (score, norm_score, metadata): Ray ships these far cheaper than an object."""


def pack(score: Score) -> Packed:
    """`score` as plain values for the trip back to the driver (see `unpack`)."""
    return (score.score, score.norm_score, score.metadata)


def unpack(packed: Packed, param_id: int | str, params: ParamArg | None, num_objectives: int) -> Score:
    """The Score a task packed, with the id and params the driver already holds."""
    value, norm, metadata = packed
    baseline = param_id == "baseline" and params is None
    return Score(score=value, norm_score=norm, metadata=metadata, param_id=param_id,
                 params=dict(BASELINE_CONFIG) if baseline else params, num_objectives=num_objectives)


def bind(context: TaskContext, *, baseline: bool, streaming: bool) -> Callable[..., Any]:
    """The body of the Ray tasks of one run, with `context` built in; they return `pack`ed Scores."""
    if baseline and streaming:
        def baseline_stream() -> Iterator[Any]:
            meta = placement()
            yield meta
            yield pack(run_baseline(context, meta=meta))
        return baseline_stream
    if baseline:
        def baseline_task() -> Packed:
            return pack(run_baseline(context))
        return baseline_task
    if streaming:
        def candidate_stream(params: ParamArg, param_id: int | str) -> Iterator[Any]:
            meta = placement()
            yield meta
            yield pack(run_candidate(context, params, param_id, meta=meta))
        return candidate_stream

    def candidate(params: ParamArg, param_id: int | str) -> Packed:
        return pack(run_candidate(context, params, param_id))
    return candidate


def _merge(score: Score, extra: dict[str, Any]) -> str:
    import json

    return json.dumps({**score.metadata_dict, **extra}, default=str)


def _mark_if_ray_worker() -> None:
    """In a Ray worker process (not the driver), mark the process as one compileiq started, so
    that a script imported there to load the objective cannot start a Search of its own. Runs
    when this module is imported: unpickling a task's context imports it before the objective."""
    worker = sys.modules.get("ray._private.worker")
    mode = getattr(getattr(worker, "global_worker", None), "mode", None)
    if worker is not None and mode is not None and mode == getattr(worker, "WORKER_MODE", None):
        from compileiq.processes import mark_worker_process

        mark_worker_process()


_mark_if_ray_worker()
