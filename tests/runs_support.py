"""Helpers of the run, journal, tracker and report tests: a small seeded Search factory (`make_search`).

A module, not conftest.py, so it sits beside the core conftest; test modules import it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import compileiq.search_spaces.base as ss
from compileiq import INVALID_SCORE, EngineConfig, Search, SearchConfiguration

SPACE = {"x": ss.range(0, 60), "y": ss.choice(["a", "b", "c"])}


def objective(config: dict[str, Any]) -> Any:
    """Fails for multiples of 7, else a smooth bowl around x=30."""
    if config["x"] % 7 == 0:
        return INVALID_SCORE
    return (config["x"] - 30) ** 2 + {"a": 0, "b": 3, "c": 7}[config["y"]]


def make_search(tmp_path: Path, **kwargs: Any) -> Search:
    """A small seeded sequential Search writing its runs under `tmp_path / "runs"`."""
    options: dict[str, Any] = {
        "objective_function": objective,
        "search_space": SPACE,
        "search_config": SearchConfiguration(generations=3, pool_size=6),
        "worker_type": "sequential",
        "engine": EngineConfig("random", {"seed": 5}),
        "cache_folder": tmp_path / "runs",
        "exit_on_failure": False,
        "disable_progress_bar": True,
    }
    options.update(kwargs)
    return Search(**options)
