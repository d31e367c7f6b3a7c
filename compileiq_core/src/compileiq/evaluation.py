"""Helpers for worker authors: call the objective safely, baseline, normalize, warn once.

A failed evaluation is a `Score` of `INVALID_SCORE` whose metadata holds `failure` (the kind:
"exception", "invalid_return", "timeout", "crash", ...) and `error` (what happened).
"""

from __future__ import annotations

import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from compileiq.errors import ScoreValidationError
from compileiq.score import BASELINE_CONFIG, INVALID_SCORE, ParamArg, Score, normalize_scores

__all__ = [
    "FailureWarnings",
    "apply_normalization",
    "evaluate",
    "failed_score",
    "measure_baseline",
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
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        return failed_score(
            param_id, params, num_objectives, "exception", f"{type(exc).__name__}: {exc}",
            traceback="".join(tb[-6:]), duration_s=time.perf_counter() - start, **metadata,
        )
    duration = time.perf_counter() - start
    try:
        return Score(
            score=value, param_id=param_id, params=params, num_objectives=num_objectives,
            metadata={**metadata, "duration_s": duration},
        )
    except ScoreValidationError as exc:
        return failed_score(
            param_id, params, num_objectives, "invalid_return", str(exc), duration_s=duration, **metadata
        )


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
    "exception": "Your objective function raised an exception",
    "invalid_return": "Your objective function returned a value of the wrong type or shape",
    "timeout": "An evaluation exceeded task_timeout and was stopped",
    "crash": "A process evaluating the objective died (exit, signal or out of memory)",
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
        lead = _KIND_TEXT.get(kind, f"An evaluation failed ({kind})")
        warnings.warn(
            f"{lead}: {str(meta.get('error', '')).rstrip('.')}. The configuration scores {INVALID_SCORE!r} and the "
            f"search goes on; the reason is in the result's metadata column. Further "
            f"'{kind}' failures are not warned about again.",
            RuntimeWarning,
            stacklevel=3,
        )
