"""The parameter models the search-space builders return."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Union

__all__ = ["ChoiceParamConfig", "LiteralParamConfig", "ParamConfig", "RangeParamConfig"]


@dataclass(frozen=True)
class _Base:
    type: ClassVar[str] = ""
    knockout_prob: float | None = None

    @property
    def knockout_threshold(self) -> float | None:
        """Upstream's legacy form: the probability that the key is kept (1 - knockout_prob)."""
        return None if self.knockout_prob is None else 1.0 - self.knockout_prob

    @property
    def size(self) -> int:
        """How many values the parameter can take (knockout not counted)."""
        raise NotImplementedError

    def at(self, index: int) -> Any:
        """The value at position `index` of the parameter's domain."""
        raise NotImplementedError


@dataclass(frozen=True)
class RangeParamConfig(_Base):
    """A stepped range: values `low + i*step` for `i = 0 .. floor((high-low)/step)`."""

    type: ClassVar[str] = "range"
    low: int | float = 0
    high: int | float = 1
    step: int | float = 1
    seed_low: int | float | None = None
    seed_high: int | float | None = None

    @property
    def size(self) -> int:
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1

    def at(self, index: int) -> int | float:
        return self.low + index * self.step

    def index_of(self, value: float) -> int:
        """The grid position nearest to `value`, clipped to the domain."""
        index = round((value - self.low) / self.step)
        return min(max(index, 0), self.size - 1)

    def seed_window(self) -> tuple[int, int] | None:
        """Grid positions of `[seed_low, seed_high]` (inclusive), or None when unseeded."""
        if self.seed_low is None and self.seed_high is None:
            return None
        lo = 0 if self.seed_low is None else math.ceil((self.seed_low - self.low) / self.step - 1e-9)
        hi = self.size - 1 if self.seed_high is None else math.floor((self.seed_high - self.low) / self.step + 1e-9)
        lo, hi = max(lo, 0), min(hi, self.size - 1)
        return (lo, hi) if lo <= hi else None


@dataclass(frozen=True)
class ChoiceParamConfig(_Base):
    """One of a list of values; each keeps its own type."""

    type: ClassVar[str] = "enum"
    vals: tuple[Any, ...] = ()

    @property
    def size(self) -> int:
        return len(self.vals)

    def at(self, index: int) -> Any:
        return self.vals[index]


@dataclass(frozen=True)
class LiteralParamConfig(_Base):
    """A constant; with `knockout_prob` it is an on/off flag."""

    type: ClassVar[str] = "literal"
    value: str | int | float = 0

    @property
    def size(self) -> int:
        return 1

    def at(self, index: int) -> str | int | float:
        return self.value


ParamConfig = Union[RangeParamConfig, ChoiceParamConfig, LiteralParamConfig]
PARAM_TYPES = (RangeParamConfig, ChoiceParamConfig, LiteralParamConfig)
