"""compileiq.testing: the worker conformance kit (install `compileiq-core[testing]`).

A worker author gets the whole worker contract checked by subclassing one class::

    from compileiq.testing import WorkerConformanceSuite

    class TestMyWorker(WorkerConformanceSuite):
        __test__ = True
        worker_type = "mine"

It is also a pytest plugin, opt-in with `pytest_plugins = ["compileiq.testing"]` in a
conftest.py, which adds the `fresh_plugin_manager` and `no_leftover_processes` fixtures. It is
never registered automatically.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from compileiq.testing._suite import WorkerConformanceSuite
from compileiq.testing.processes import descendants, leftover_processes

__all__ = ["WorkerConformanceSuite", "descendants", "fresh_plugin_manager", "leftover_processes",
           "no_leftover_processes"]


@pytest.fixture
def fresh_plugin_manager() -> Iterator[Any]:
    """A plugin manager and worker/engine registries that forget what the test registered."""
    from compileiq import plugins, registry

    saved_manual = {r: dict(r._manual) for r in (registry.worker_registry, registry.engine_registry)}
    plugins.reset_plugin_manager()
    registry.reset_registries()
    yield plugins.get_plugin_manager()
    for reg, manual in saved_manual.items():
        reg._manual.clear()
        reg._manual.update(manual)
    plugins.reset_plugin_manager()
    registry.reset_registries()


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fails the test if a process it started is still alive (3 s grace) when it ends."""
    before = set(descendants())
    yield
    left = leftover_processes(before, timeout=3.0)
    assert not left, f"processes left behind: {left}"
