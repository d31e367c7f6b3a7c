"""The pytest plugin half of compileiq.testing: fixtures (loaded through `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from compileiq.testing.processes import descendants, leftover_processes

__all__ = ["fresh_plugin_manager", "no_leftover_processes"]


@pytest.fixture
def fresh_plugin_manager() -> Iterator[Any]:
    """A plugin manager and worker/engine/tracker registries that forget what the test registered."""
    from compileiq import plugins, registry

    saved = registry.snapshot()
    plugins.reset_plugin_manager()
    yield plugins.get_plugin_manager()
    registry.restore(saved)
    plugins.reset_plugin_manager()


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test if a process it started is still alive (3 s grace) when it ends."""
    before = set(descendants())
    yield
    left = leftover_processes(before, timeout=3.0)
    assert not left, f"processes left behind: {left}"
