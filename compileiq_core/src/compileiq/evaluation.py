"""Helpers for worker authors: call the objective safely, baseline, normalize, warn once.

A failed evaluation is a `Score` of `INVALID_SCORE` whose metadata holds `failure` (the kind:
"exception", "invalid_return", "timeout", "crash", ...) and `error` (what happened).
"""

from __future__ import annotations

import asyncio
import math
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from compileiq.errors import ScoreValidationError
from compileiq.score import BASELINE_CONFIG, INVALID_SCORE, ParamArg, Score, normalize_scores

__all__ = [
    "FailureWarnings",
    "apply_normalization",
    "baseline_from",
    "crash_reason",
    "evaluate",
    "evaluate_async",
    "exception_score",
    "failed_score",
    "measure_baseline",
    "score_from_return",
    "timeout_score",
]


def failed_score(
    param_id: int | str,
    params: ParamArg | None,
    num_objectives: int,
    failure: str,
    error: str,
    **metadata: Any,
) -> Score:
    """An `INVALID_SCORE` Score whose metadata says why (`failure` kind and `error` text)."""
    return Score(
        score=INVALID_SCORE,
        param_id=param_id,
        params=params,
        num_objectives=num_objectives,
        metadata={**metadata, "failure": failure, "error": error},
    )


def _has_non_finite(value: object) -> bool:
    items = value if isinstance(value, (list, tuple)) else (value,)
    return any(isinstance(v, float) and not math.isfinite(v) for v in items)


def score_from_return(
    value: Any,
    params: ParamArg | None,
    *,
    param_id: int | str,
    num_objectives: int,
    duration_s: float | None = None,
    **metadata: Any,
) -> Score:
    """The Score for what an objective returned; a bad value becomes INVALID with its reason.

    A value of the wrong type or shape gives `failure="invalid_return"`; NaN or an infinity
    gives `failure="non_finite"` (the value is INVALID either way).
    """
    if duration_s is not None:
        metadata["duration_s"] = duration_s
    try:
        score = Score(score=value, param_id=param_id, params=params, num_objectives=num_objectives,
                      metadata=metadata)
    except ScoreValidationError as exc:
        return failed_score(param_id, params, num_objectives, "invalid_return", str(exc), **metadata)
    if score.failed and _has_non_finite(value):
        return failed_score(
            param_id, params, num_objectives, "non_finite",
            f"objective returned {value!r}; NaN and infinities count as INVALID_SCORE", **metadata,
        )
    return score


def exception_score(
    exc: BaseException,
    params: ParamArg | None,
    *,
    param_id: int | str,
    num_objectives: int,
    duration_s: float | None = None,
    **metadata: Any,
) -> Score:
    """The INVALID Score for an objective that raised `exc` (text and traceback tail kept)."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False)
    if duration_s is not None:
        metadata["duration_s"] = duration_s
    return failed_score(
        param_id, params, num_objectives, "exception", f"{type(exc).__name__}: {exc}",
        traceback="".join(tb[-6:]), **metadata,
    )


def timeout_score(
    params: ParamArg | None, *, param_id: int | str, num_objectives: int, timeout: float, **metadata: Any
) -> Score:
    """The INVALID Score for an evaluation stopped after `timeout` seconds."""
    return failed_score(
        param_id, params, num_objectives, "timeout",
        f"no result after task_timeout={timeout:g} s; the evaluation was stopped", timeout_s=timeout, **metadata,
    )


def crash_reason(exitcode: int | None) -> str:
    """Words for a process exit status as `multiprocessing` reports it (negative: a signal)."""
    if exitcode is None:
        return "the process vanished without an exit status"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"the process was killed by {name}{hint}"
    return f"the process exited with code {exitcode} before returning a result"


def evaluate(
    function: Callable[[Any], Any],
    params: ParamArg,
    *,
    param_id: int | str,
    num_objectives: int,
    **metadata: Any,
) -> Score:
    """Call `function(params)` and return its Score; exceptions and bad returns become INVALID.

    Metadata gets `duration_s`, plus `failure`/`error` when the evaluation failed.
    """
    start = time.perf_counter()
    try:
        value = function(params)
    except Exception as exc:  # noqa: BLE001 - every objective error becomes INVALID
        return exception_score(exc, params, param_id=param_id, num_objectives=num_objectives,
                               duration_s=time.perf_counter() - start, **metadata)
    return score_from_return(value, params, param_id=param_id, num_objectives=num_objectives,
                             duration_s=time.perf_counter() - start, **metadata)


async def evaluate_async(
    function: Callable[[Any], Awaitable[Any]],
    params: ParamArg,
    *,
    param_id: int | str,
    num_objectives: int,
    timeout: float | None = None,
    **metadata: Any,
) -> Score:
    """Await `function(params)` (at most `timeout` seconds) and return its Score, like `evaluate`."""
    start = time.perf_counter()
    try:
        if timeout is None:
            value = await function(params)
        else:
            value = await asyncio.wait_for(function(params), timeout)
    except TimeoutError:
        return timeout_score(params, param_id=param_id, num_objectives=num_objectives, timeout=timeout or 0.0,
                             duration_s=time.perf_counter() - start, **metadata)
    except Exception as exc:  # noqa: BLE001 - every objective error becomes INVALID
        return exception_score(exc, params, param_id=param_id, num_objectives=num_objectives,
                               duration_s=time.perf_counter() - start, **metadata)
    return score_from_return(value, params, param_id=param_id, num_objectives=num_objectives,
                             duration_s=time.perf_counter() - start, **metadata)


def measure_baseline(function: Callable[[Any], Any], num_objectives: int, **metadata: Any) -> Score:
    """Run the objective on `BASELINE_CONFIG` and return the baseline Score (norm 1.0).

    Raises RuntimeError when the baseline fails: nothing can be normalized against it.
    """
    score = evaluate(function, dict(BASELINE_CONFIG), param_id="baseline", num_objectives=num_objectives, **metadata)
    return baseline_from(score)


def baseline_from(score: Score) -> Score:
    """Turn an evaluation of `BASELINE_CONFIG` into the baseline Score, or raise if it failed."""
    if score.failed:
        meta = score.metadata_dict
        raise RuntimeError(
            "Baseline measurement for normalization failed: the objective called with "
            f"BASELINE_CONFIG ({{}}) gave {score.score!r} ({meta.get('failure', 'invalid')}: "
            f"{meta.get('error', 'returned INVALID_SCORE')}). Make the objective handle the empty "
            "config (the default build), or set SearchConfiguration(normalize=False)."
        )
    score.param_id = "baseline"
    score.is_baseline = True
    score.params = dict(BASELINE_CONFIG)
    score.norm_score = (1.0,) * score.num_objectives if score.num_objectives > 1 else 1.0
    return score


def apply_normalization(scores: Iterable[Score], baseline: Score) -> None:
    """Set `norm_score` of every non-baseline score against `baseline` (failed ones stay INVALID)."""
    for score in scores:
        if score.is_baseline:
            continue
        if score.failed:
            score.norm_score = score.score
        else:
            value = list(score.score) if isinstance(score.score, tuple) else score.score
            norm = normalize_scores(value, baseline.score)
            score.norm_score = tuple(norm) if isinstance(norm, list) else norm


_KIND_TEXT = {
    # Upstream's sentences lead, so filters written for upstream's warnings keep matching.
    "exception": "Your objective function encountered an exception. Score will be set to *",
    "invalid_return": "Your objective function returned a value of the wrong type or shape. Score will be set to *",
    "timeout": "Objective function timed out after {timeout_s} seconds. Score will be set to *",
    "crash": "A process evaluating the objective died (exit, signal or out of memory). Score will be set to *",
    "out_of_memory": "Your objective function ran out of memory. Score will be set to *",
    "non_finite": "Your objective function returned NaN or an infinity. Score will be set to *",
}


class FailureWarnings:
    """Warns once per kind of failure (per instance), naming an example and the fix."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def observe(self, score: Score) -> None:
        """Warn about `score` if it failed in a way not yet reported."""
        if not score.failed:
            return
        meta = score.metadata_dict
        kind = meta.get("failure")
        if kind is None:
            return  # the objective itself returned INVALID_SCORE: nothing to warn about
        with self._lock:
            if kind in self._seen:
                return
            self._seen.add(kind)
        lead = _KIND_TEXT.get(kind, f"An evaluation failed ({kind})").format(timeout_s=meta.get("timeout_s", "?"))
        warnings.warn(
            f"{lead}: {str(meta.get('error', '')).rstrip('.')}. The configuration scores {INVALID_SCORE!r} and the "
            f"search goes on; the reason is in the result's metadata column. Further "
            f"'{kind}' failures are not warned about again.",
            RuntimeWarning,
            stacklevel=3,
        )
