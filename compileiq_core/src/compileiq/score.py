"""`Score`: one evaluation's result, validated against the number of objectives."""

from __future__ import annotations

import json
import math
import numbers
from typing import Any, Final, Literal, SupportsFloat, Union, cast

from compileiq.errors import ScoreValidationError

__all__ = [
    "BASELINE_CONFIG",
    "INVALID_SCORE",
    "MultiScore",
    "ParamArg",
    "Score",
    "SingleScore",
    "invalidate_score",
    "normalize_scores",
    "validate_inf_nan",
    "validate_scores",
]

INVALID_SCORE: Final[Literal["*"]] = "*"
"""The sentinel for a failed evaluation, as a whole score or as one objective's value."""

BASELINE_CONFIG: Final[dict[str, Any]] = {}
"""What the objective receives for a baseline run (normalization)."""

SingleScore = Union[int, float, Literal["*"]]
MultiScore = Union[list[SingleScore], tuple[SingleScore, ...]]
ParamArg = Union[dict[str, Any], str, list[Any]]


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


UPSTREAM_TYPE_MESSAGE = (
    "One or more return types of your objective function does not match expected types: int | float | '*'"
)
"""Upstream's words for a bad return value, kept at the start of ours: scripts match on them."""


def validate_inf_nan(value: float) -> float | Literal["*"]:
    """Return `INVALID_SCORE` for NaN or an infinity, else the value unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return INVALID_SCORE
    return value


def _single(value: object, num_objectives: int) -> SingleScore:
    if isinstance(value, str):
        if value == INVALID_SCORE:
            return INVALID_SCORE
    elif isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        pass
    elif isinstance(value, int):
        return value
    elif isinstance(value, float):
        return validate_inf_nan(value)
    elif isinstance(value, numbers.Real) or type(value).__name__ == "Decimal":
        return validate_inf_nan(float(cast(SupportsFloat, value)))  # numpy scalars, Fraction, Decimal
    expected = "a number" if num_objectives == 1 else f"a list or tuple of {num_objectives} numbers"
    raise ScoreValidationError(
        f"{UPSTREAM_TYPE_MESSAGE}: objective returned {_describe(value)}; expected {expected} or {INVALID_SCORE!r} "
        f"(num_objectives={num_objectives}). Return a plain int or float per objective, "
        f"or INVALID_SCORE for a failed configuration."
    )


def validate_scores(value: object, num_objectives: int) -> SingleScore | tuple[SingleScore, ...]:
    """Check an objective's return value and give it its canonical form.

    One objective: an int, a float (NaN and infinities become `INVALID_SCORE`) or `"*"`.
    Several: a list, tuple or array of exactly `num_objectives` such values, stored as a tuple;
    a bare `"*"` stands for all of them. Anything else raises `ScoreValidationError`.
    """
    if num_objectives == 1:
        return _single(value, 1)
    if isinstance(value, str) and value == INVALID_SCORE:
        return (INVALID_SCORE,) * num_objectives
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()  # numpy arrays
    if not isinstance(value, (list, tuple)) or len(value) != num_objectives:
        raise ScoreValidationError(
            f"{UPSTREAM_TYPE_MESSAGE}: objective returned {_describe(value)}; expected a list or tuple of exactly "
            f"{num_objectives} numbers (num_objectives={num_objectives}). Return one value per "
            f"objective, or set SearchConfiguration(num_objectives=...) to match what it returns."
        )
    return tuple(_single(v, num_objectives) for v in value)


def invalidate_score(num_objectives: int) -> str | list[str]:
    """The failed score for `num_objectives` objectives: `"*"` or a list of them."""
    return INVALID_SCORE if num_objectives == 1 else [INVALID_SCORE] * num_objectives


def _ratio(current: object, baseline: object) -> float | Literal["*"]:
    numeric = (int, float)
    if (
        not isinstance(current, numeric)
        or not isinstance(baseline, numeric)
        or isinstance(current, bool)
        or isinstance(baseline, bool)
        or baseline == 0
    ):
        return INVALID_SCORE
    return validate_inf_nan(current / baseline)


def normalize_scores(current_score: object, baseline_score: object) -> SingleScore | list[SingleScore]:
    """`current / baseline`, element-wise for several objectives (a list then).

    An element whose baseline is zero or whose values are not numbers becomes `"*"`. The same
    ratio serves min and max problems, so a negative baseline flips the ordering.
    """
    if baseline_score is None:
        raise RuntimeError(
            "Trying to normalize score without configuring a baseline value. Measure the "
            "baseline (the objective on BASELINE_CONFIG) before normalizing."
        )
    if isinstance(current_score, (list, tuple)):
        base = baseline_score if isinstance(baseline_score, (list, tuple)) else None
        if base is None or len(base) != len(current_score):
            return [INVALID_SCORE for _ in current_score]
        return [_ratio(c, b) for c, b in zip(current_score, base)]
    if isinstance(current_score, (int, float, str)):
        return _ratio(current_score, baseline_score)
    raise ValueError(
        f"Score type not recognized for normalization: {_describe(current_score)}; expected a "
        "number, '*', or a list or tuple of them."
    )


def _invalid(value: Any) -> bool:
    """True when a (validated) raw or normalized score is or holds `INVALID_SCORE`."""
    if value.__class__ is float:
        return False
    return bool(value == INVALID_SCORE or (isinstance(value, tuple) and INVALID_SCORE in value))


class Score:
    """The result of one evaluation (or of a baseline run).

    Args:
        score: what the objective returned, validated by `validate_scores`.
        param_id: the id the engine issued for this configuration ("baseline" for a baseline).
        num_objectives: how many values `score` must hold.
        params: the configuration evaluated.
        norm_score: the score divided by the baseline, when normalizing.
        metadata: a JSON string (a dict is encoded) kept in the results' `metadata` column.
        is_baseline: True for a baseline run; stored but never shown to the engine.
    """

    __slots__ = (
        "score",
        "norm_score",
        "params",
        "metadata",
        "param_id",
        "num_objectives",
        "is_baseline",
    )

    def __init__(
        self,
        *,
        score: Any,
        param_id: int | str,
        num_objectives: int,
        params: ParamArg | None = None,
        norm_score: Any = None,
        metadata: str | dict[str, Any] = "",
        is_baseline: bool = False,
    ) -> None:
        if not isinstance(num_objectives, int) or isinstance(num_objectives, bool) or num_objectives < 1:
            raise ScoreValidationError(
                f"num_objectives={num_objectives!r} is not a positive int; pass the number of "
                "values the objective returns."
            )
        self.num_objectives = num_objectives
        self.score = validate_scores(score, num_objectives)
        self.norm_score = None if norm_score is None else validate_scores(norm_score, num_objectives)
        self.params = params
        self.metadata = json.dumps(metadata, default=str) if isinstance(metadata, dict) else str(metadata)
        self.param_id = param_id
        self.is_baseline = bool(is_baseline)

    @property
    def failed(self) -> bool:
        """True when any raw or normalized value is `INVALID_SCORE`."""
        # a plain float (the common case) is never INVALID: no loop, this runs several times per Score
        return _invalid(self.score) or (self.norm_score is not None and _invalid(self.norm_score))

    @property
    def metadata_dict(self) -> dict[str, Any]:
        """The metadata decoded from JSON ({} when empty or not a JSON object)."""
        if not self.metadata:
            return {}
        try:
            decoded = json.loads(self.metadata)
        except ValueError:
            return {"text": self.metadata}
        return decoded if isinstance(decoded, dict) else {"value": decoded}

    def values(self, normalized: bool = False) -> tuple[SingleScore, ...]:
        """The raw (or normalized) score as a tuple, one element per objective."""
        value = self.norm_score if normalized else self.score
        if value is None:
            return (INVALID_SCORE,) * self.num_objectives
        return value if isinstance(value, tuple) else (value,)

    def model_dump(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return {name: getattr(self, name) for name in self.__slots__}

    def model_dump_json(self) -> str:
        """The fields as a JSON string."""
        return json.dumps(self.model_dump(), default=str)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Score) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Score(score={self.score!r}, norm_score={self.norm_score!r}, param_id={self.param_id!r}, "
            f"is_baseline={self.is_baseline}, metadata={self.metadata!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_score, (self.model_dump(),))


def _rebuild_score(fields: dict[str, Any]) -> Score:
    score = Score.__new__(Score)
    for name, value in fields.items():
        setattr(score, name, value)
    return score
