"""The progress bar of `Search.start()`: a tqdm bar driven by the search hooks."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compileiq.hookspecs import hookimpl

if TYPE_CHECKING:
    from compileiq.ciq import Search
    from compileiq.score import Score


class ProgressBar:
    """Shows generation, evaluations, failures, best score and ETA for one search (stderr)."""

    def __init__(self, search: Search) -> None:
        self.search = search
        config = search.search_config
        self.minimize = config.problem_type.value == "min"
        self.normalize = config.normalize
        self.single = config.num_objectives == 1
        self.bar: Any = None
        self.evaluations = 0
        self.failures = 0
        self.best: float | None = None
        self.best_gen: int | None = None
        self.generation = 0

    @staticmethod
    def wanted() -> bool:
        """True when stderr is a terminal (and `COMPILEIQ_PROGRESS` does not say otherwise)."""
        flag = os.environ.get("COMPILEIQ_PROGRESS", "").strip().lower()
        if flag in ("0", "false", "no", "off"):
            return False
        if flag in ("1", "true", "yes", "on"):
            return True
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    def _mine(self, search: Search) -> bool:
        return search is self.search

    @hookimpl
    def compileiq_search_start(self, search: Search, run_info: dict[str, Any]) -> None:
        if not self._mine(search):
            return
        from tqdm.auto import tqdm

        config = search.search_config
        self.evaluations = int(run_info.get("evaluations_done", 0))
        self.failures = int(run_info.get("failures_done", 0))
        self.bar = tqdm(
            total=config.generations * config.pool_size, initial=self.evaluations, unit="eval",
            desc=self._desc(), dynamic_ncols=True, file=sys.stderr, leave=True, ascii=" ▒█",
            bar_format="{desc} {n_fmt}/{total_fmt} evals |{bar}| [{elapsed} · eta {remaining}]{postfix}",
        )
        self._postfix()

    def _desc(self) -> str:
        return f"Generation {self.generation + 1}/{self.search.search_config.generations}"

    def _postfix(self) -> None:
        if self.bar is None:
            return
        parts = [f"failures={self.failures}"]
        if self.best is not None:
            parts.append(f"best={self.best:.4g} (gen {self.best_gen})")
        self.bar.set_postfix_str(", ".join(parts), refresh=False)

    @hookimpl
    def compileiq_generation_start(self, search: Search, generation: int, params_pool: Sequence[Any]) -> None:
        if self._mine(search) and self.bar is not None and generation != self.generation:
            self.generation = generation
            self.bar.set_description_str(self._desc(), refresh=False)

    @hookimpl
    def compileiq_evaluation(self, search: Search, score: Score, generation: int) -> None:
        if not self._mine(search) or self.bar is None or score.is_baseline:
            return
        self.evaluations += 1
        if score.failed:
            self.failures += 1
        elif self.single:
            value = float(score.values(normalized=self.normalize)[0])
            if math.isfinite(value) and (
                self.best is None or (value < self.best if self.minimize else value > self.best)
            ):
                self.best, self.best_gen = value, generation
        self._postfix()
        if self.evaluations > self.bar.total:
            self.bar.total = self.evaluations
        self.bar.update(1)

    @hookimpl
    def compileiq_search_end(self, search: Search, result: Any, error: BaseException | None) -> None:
        if self._mine(search) and self.bar is not None:
            self._postfix()
            self.bar.close()
            self.bar = None
