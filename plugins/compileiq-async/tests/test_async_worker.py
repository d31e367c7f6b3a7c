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


def test_a_loop_blocked_past_the_timeout_is_warned_about_once_naming_the_isolated_worker() -> None:
    from compileiq_async import BlockedLoopWarning

    async def blocks_the_loop(config: dict) -> float:
        time.sleep(1.2)  # a blocking call: asyncio cannot cancel it
        return float(config["x"])

    worker = AsyncWorker()
    with pytest.warns(BlockedLoopWarning) as caught:
        scores = run(worker, blocks_the_loop, [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}], task_timeout=0.2)
        later = run(worker, blocks_the_loop, [{"x": 4.0}], task_timeout=0.2)
    worker.close()
    blocked = [w for w in caught if issubclass(w.category, BlockedLoopWarning)]
    assert len(blocked) == 1  # once, not per candidate or per batch
    message = str(blocked[0].message)
    assert "worker_type='isolated'" in message and "task_timeout=0.2" in message
    assert "blocks_the_loop()" in message and "test_async_worker.py" in message  # where it is stuck
    # what the warning is about: the blocking candidates ran to the end, past their timeout
    assert [scores[i].score for i in range(3)] == [1.0, 2.0, 3.0] and later[0].score == 4.0


def test_an_objective_that_awaits_past_the_timeout_is_cancelled_without_that_warning() -> None:
    import warnings

    from compileiq_async import BlockedLoopWarning

    async def awaits(config: dict) -> float:
        await asyncio.sleep(1.2)
        return 1.0

    worker = AsyncWorker()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlockedLoopWarning)
        scores = run(worker, awaits, [{"x": 1.0}, {"x": 2.0}], task_timeout=0.2)
    worker.close()
    assert all(s.failed and "timeout" in s.metadata for s in scores.values())
