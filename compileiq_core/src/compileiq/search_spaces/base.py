"""Search-space builders, usually imported as `import compileiq.search_spaces.base as ss`.

A search space is a dict (nested to any depth) whose leaves are made by these builders, or a
list of such dicts. The objective receives a dict of the same shape, with knocked-out keys
omitted.
"""

from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Sequence
from typing import Any, cast

from compileiq.errors import SearchSpaceError
from compileiq.search_spaces.models import ChoiceParamConfig, LiteralParamConfig, RangeParamConfig

__all__ = ["choice", "literal", "log_sampling", "range"]


def _plain(value: Any, what: str) -> Any:
    """bool -> int, numpy scalars -> Python numbers; other values unchanged."""
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        return int(value)
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    return value


def _number(value: Any, what: str) -> int | float:
    value = _plain(value, what)
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise SearchSpaceError(f"{what}={value!r} is not a finite number; pass an int or a float.")
    return value


def _knockout(knockout_prob: Any) -> float | None:
    if knockout_prob is None:
        return None
    if isinstance(knockout_prob, bool):
        raise TypeError(f"knockout_prob={knockout_prob!r} is a bool; pass a probability in [0, 1].")
    if not isinstance(knockout_prob, numbers.Real) or not 0 <= float(knockout_prob) <= 1:
        raise SearchSpaceError(
            f"knockout_prob={knockout_prob!r} must be a number in [0, 1] (the probability that "
            "the key is left out)."
        )
    return float(knockout_prob)


def range(  # noqa: A001 - upstream's public name
    start: int | float,
    end: int | float,
    step: int | float = 1,
    knockout_prob: float | None = None,
    seed_low: int | float | None = None,
    seed_high: int | float | None = None,
) -> RangeParamConfig:
    """Values `start + i*step` up to `end` inclusive: `range(0, 8, 2)` gives 0, 2, 4, 6, 8.

    `seed_low`/`seed_high` mark a window where most initial samples are drawn
    (`SearchConfiguration.init_with_true_random_threshold`).
    """
    start, end, step = _number(start, "start"), _number(end, "end"), _number(step, "step")
    if end <= start:
        raise SearchSpaceError(
            f"Please provide a proper range value where start < end (got start={start!r}, end={end!r})."
        )
    if step <= 0:
        raise SearchSpaceError(f"Range parameters require a positive step size (got step={step!r}).")
    if seed_low is not None:
        seed_low = _number(seed_low, "seed_low")
        if not start <= seed_low <= end:
            raise SearchSpaceError(
                f"`seed_low`={seed_low!r} falls outside the configured range [{start!r}, {end!r}]."
            )
    if seed_high is not None:
        seed_high = _number(seed_high, "seed_high")
        if not start <= seed_high <= end:
            raise SearchSpaceError(
                f"`seed_high`={seed_high!r} falls outside the configured range [{start!r}, {end!r}]."
            )
        if seed_low is not None and seed_high < seed_low:
            raise SearchSpaceError(
                f"`seed_high` must be greater than or equal to `seed_low` (got {seed_high!r} < {seed_low!r})."
            )
    return RangeParamConfig(
        low=start, high=end, step=step, knockout_prob=_knockout(knockout_prob),
        seed_low=seed_low, seed_high=seed_high,
    )


def choice(choice_list: Sequence[Any], knockout_prob: float | None = None) -> ChoiceParamConfig:
    """One value of `choice_list`; each value keeps its type (bools become 0/1)."""
    if isinstance(choice_list, (str, bytes)) or not isinstance(cast(object, choice_list), Sequence) and not hasattr(
        choice_list, "tolist"
    ):
        raise SearchSpaceError(
            f"choice_list={choice_list!r} is not a list; pass a list of values, e.g. ss.choice([1, 2, 4])."
        )
    values = tuple(_plain(v, "choice") for v in builtins.list(choice_list))
    if not values:
        raise SearchSpaceError("choice_list is empty; pass at least one value, e.g. ss.choice([1, 2, 4]).")
    for v in values:
        if isinstance(v, (dict, set)):
            raise SearchSpaceError(
                f"choice value {v!r} ({type(v).__name__}) is not supported; use str, int, float, "
                "None or a list/tuple of them."
            )
    return ChoiceParamConfig(vals=values, knockout_prob=_knockout(knockout_prob))


def literal(const_value: str | int | float, knockout_prob: float | None = None) -> LiteralParamConfig:
    """A constant; with `knockout_prob` it is an on/off flag (the key present or omitted)."""
    const_value = _plain(const_value, "const_value")
    if not isinstance(const_value, (str, int, float)):
        raise SearchSpaceError(
            f"`const_value` must be a str, int, or float (got {const_value!r} of type "
            f"{type(const_value).__name__})."
        )
    return LiteralParamConfig(value=const_value, knockout_prob=_knockout(knockout_prob))


def log_sampling(
    start: int | float, end: int | float, total: int = 10, knockout_prob: float | None = None
) -> ChoiceParamConfig:
    """A choice of `total` log-spaced values from `start` to `end` (both included)."""
    start, end = _number(start, "start"), _number(end, "end")
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise SearchSpaceError(f"total={total!r} must be a positive int (the number of values).")
    if start <= 0 or end <= 0:
        raise SearchSpaceError(
            f"log_sampling needs positive bounds (got start={start!r}, end={end!r})."
        )
    if total == 1:
        return choice([float(start)], knockout_prob)
    ratio = math.log(end / start)
    values = [start * math.exp(ratio * i / (total - 1)) for i in builtins.range(total)]
    values[0], values[-1] = float(start), float(end)
    return choice(values, knockout_prob)
