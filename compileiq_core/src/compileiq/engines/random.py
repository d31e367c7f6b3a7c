"""The `random` engine: every candidate is a fresh draw from the initial distribution."""

from __future__ import annotations

from collections.abc import Sequence

from compileiq.engines.base import Engine, Evaluation
from compileiq.search_spaces.space import Genome

__all__ = ["RandomEngine"]


class RandomEngine(Engine):
    """Random search without repeats; honours knockout priors and seeded-range windows."""

    name = "random"

    def ask(self, n: int, generation: int) -> list[Genome]:
        return self.fresh_random(n)

    def tell(self, evaluations: Sequence[Evaluation]) -> None:
        """Random search learns nothing."""
