"""compileiq-threads against the worker conformance kit, plus what is particular to threads."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from compileiq.testing import WorkerConformanceSuite, run_batch, running_worker
from compileiq.testing.objectives import async_square
from compileiq_threads import ThreadPoolWorker


class TestThreadsConformance(WorkerConformanceSuite):
    __test__ = True
    worker_type = "threads"


def test_runs_in_this_process_on_at_most_num_workers_threads() -> None:
    names: set[str] = set()

    def objective(config: dict[str, Any]) -> float:
        names.add(threading.current_thread().name)
        return float(os.getpid())

    with running_worker(ThreadPoolWorker) as worker:
        scores = run_batch(worker, objective, [{}] * 12, num_workers=3)
    assert {s.score for s in scores.values()} == {float(os.getpid())}
    assert 1 <= len(names) <= 3 and all(n.startswith("compileiq-threads") for n in names)


def test_clear_errors_for_an_async_objective_and_a_bad_num_workers() -> None:
    with running_worker(ThreadPoolWorker) as worker:
        with pytest.raises(TypeError, match="async def; use worker_type='async'"):
            run_batch(worker, async_square, [{"x": 1.0}])
        with pytest.raises(ValueError, match="num_workers=0 must be a positive int"):
            run_batch(worker, lambda config: 1.0, [{}], num_workers=0)


def test_built_on_public_core_apis_only() -> None:
    import ast
    from pathlib import Path

    import compileiq_threads

    tree = ast.parse(Path(compileiq_threads.__file__).read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    ours = {m for m in modules if m.split(".")[0] == "compileiq"}
    assert ours == {"compileiq.evaluation", "compileiq.score", "compileiq.worker"}
    assert not {m for m in modules if any(part.startswith("_") for part in m.split(".")) and m != "__future__"}
