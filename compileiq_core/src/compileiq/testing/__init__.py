"""compileiq.testing: the worker and engine conformance kits (install `compileiq-core[testing]`).

A worker or engine author gets the whole contract checked by subclassing one class::

    from compileiq.testing import EngineConformanceSuite, WorkerConformanceSuite

    class TestMyWorker(WorkerConformanceSuite):
        __test__ = True
        worker_type = "mine"

    class TestMyEngine(EngineConformanceSuite):
        __test__ = True
        engine_name = "mine"

It is also a pytest plugin, opt-in with `pytest_plugins = ["compileiq.testing"]` in a
conftest.py, which adds the `fresh_plugin_manager` and `no_leftover_processes` fixtures. It is
never registered automatically.

This module stays light (no pytest import) because worker processes import the toy objectives
of `compileiq.testing.objectives`; the suite and fixtures load on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EngineConformanceSuite", "WorkerConformanceSuite", "by_id", "descendants", "drive", "fresh_plugin_manager",
           "genome_cost", "leftover_processes", "no_leftover_processes", "run_batch", "running_worker", "time_scale"]

pytest_plugins = ["compileiq.testing._plugin"]

_HOMES = {
    "WorkerConformanceSuite": "compileiq.testing._suite",
    "EngineConformanceSuite": "compileiq.testing._engine_suite",
    "drive": "compileiq.testing._engine_suite",
    "genome_cost": "compileiq.testing._engine_suite",
    "fresh_plugin_manager": "compileiq.testing._plugin",
    "no_leftover_processes": "compileiq.testing._plugin",
    "by_id": "compileiq.testing.helpers",
    "run_batch": "compileiq.testing.helpers",
    "running_worker": "compileiq.testing.helpers",
    "time_scale": "compileiq.testing.helpers",
    "descendants": "compileiq.testing.processes",
    "leftover_processes": "compileiq.testing.processes",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
