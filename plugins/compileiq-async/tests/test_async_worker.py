"""AsyncWorker specifics: running inside an event loop, the concurrency bound, sync objectives."""

from __future__ import annotations

import asyncio
import time

import pytest

from compileiq.testing import run_batch as run
from compileiq.testing.objectives import async_square, square
from compileiq_async import AsyncWorker


def test_usable_from_a_running_event_loop() -> None:
    worker = AsyncWorker(normalize=True)

    async def notebook_cell() -> dict:
        await asyncio.sleep(0)
        return run(worker, async_square, [{"x": 3.0}, {"x": 1.0}])

    scores = asyncio.run(notebook_cell())
    assert scores[0].score == 9.0 and scores[1].norm_score == 0.25
    worker.close()


def test_concurrency_is_bounded_by_num_workers() -> None:
    state = {"now": 0, "peak": 0}

    async def objective(config: dict) -> float:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.02)
        state["now"] -= 1
        return 1.0

    worker = AsyncWorker()
    run(worker, objective, [{}] * 12, num_workers=3)
    assert state["peak"] == 3
    start = time.monotonic()
    run(worker, objective, [{}] * 12, num_workers=12)
    assert state["peak"] == 12 and time.monotonic() - start < 0.2
    worker.close()


def test_sync_objective_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="requires an async objective function"):
        run(AsyncWorker(), square, [{}])
