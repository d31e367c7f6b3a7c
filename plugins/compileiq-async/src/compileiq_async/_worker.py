"""`AsyncWorker`: awaits an async objective for every candidate, `num_workers` at a time."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from compileiq.errors import ScoreValidationError
from compileiq.evaluation import (
    evaluate_async,
    exception_score,
    score_from_return,
)
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker
from compileiq_async._watch import LoopWatch

__all__ = ["AsyncWorker"]


def _is_async(function: Any) -> bool:
    call = type(function).__call__ if not inspect.isfunction(function) else None
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


class _Submissions:
    """Asynchronous scheduling: an event loop on its own thread; finished Scores in a queue."""

    def __init__(self, function: Callable[..., Any], num_objectives: int, timeout: float | None,
                 worker: str) -> None:
        self.function, self.num_objectives, self.timeout, self.worker = function, num_objectives, timeout, worker
        self.loop = asyncio.new_event_loop()
        self.done: queue.SimpleQueue[Score] = queue.SimpleQueue()
        self.futures: dict[int | str, concurrent.futures.Future[Score]] = {}
        self.thread = threading.Thread(target=self.loop.run_forever, name="compileiq-async-submissions",
                                       daemon=True)
        self.thread.start()

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        coroutine = evaluate_async(self.function, params, param_id=param_id, num_objectives=self.num_objectives,
                                   timeout=self.timeout, worker=self.worker)
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        self.futures[param_id] = future
        future.add_done_callback(self._finished)

    def _finished(self, future: concurrent.futures.Future[Score]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.done.put(future.result())

    def collect(self, timeout: float | None) -> list[Score]:
        if not self.futures:
            return []
        out: list[Score] = []
        try:
            out.append(self.done.get(timeout=timeout))
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                break
        for score in out:
            self.futures.pop(score.param_id, None)
        return out

    def cancel(self) -> None:
        for future in self.futures.values():
            future.cancel()
        self.futures.clear()

    def close(self) -> None:
        self.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


class AsyncWorker(BaseWorker):
    """Runs an `async def` objective concurrently: at most `num_workers` candidates in flight.

    `task_timeout` cancels an evaluation that takes longer (it scores INVALID). Cancellation is
    cooperative: an objective that blocks the loop (time.sleep, heavy CPU, a blocking call) cannot
    be interrupted, and a crash of the objective (os._exit, a segfault) ends the driver's process.
    When the loop stays blocked past `task_timeout`, a `BlockedLoopWarning` (once per worker) says
    where, and points to the isolated worker.
    """

    name = "async"
    respects_num_workers = True
    supports_timeout = True
    requires_async_objective = True
    supports_submission = True
    _submissions: _Submissions | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runner: asyncio.Runner | None = None
        self._lock = threading.Lock()
        self._blocked_warned = [False]

    def setup(self) -> None:
        """Nothing to acquire: the event loop is made on the first batch."""

    # -- submission contract (asynchronous scheduling) ------------------------------------------

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        if not _is_async(function):
            raise TypeError(
                f"AsyncWorker requires an async objective function (async def); got {function!r}. "
                "Declare it with `async def`, or choose another worker_type such as 'multiprocess'."
            )
        self.close_submissions()
        self._submissions = _Submissions(function, num_function_returns, kwargs.get("task_timeout"), self.name)

    def _open(self) -> _Submissions:
        if self._submissions is None:
            raise RuntimeError("AsyncWorker: submit()/collect() before open_submissions(); open them first.")
        return self._submissions

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        self._open().submit(params, param_id)

    def collect(self, timeout: float | None = None) -> list[Score]:
        return [self.deliver(score) for score in self._open().collect(timeout)]

    def cancel(self) -> None:
        if self._submissions is not None:
            self._submissions.cancel()

    def close_submissions(self) -> None:
        submissions, self._submissions = self._submissions, None
        if submissions is not None:
            submissions.close()

    def close(self) -> None:
        """Close the worker's event loop; safe to call twice."""
        self.close_submissions()
        with self._lock:
            if self._runner is not None:
                self._runner.close()
                self._runner = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_runner=None, _lock=None, _submissions=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        if not _is_async(function):
            raise TypeError(
                f"AsyncWorker requires an async objective function (async def); got {function!r}. "
                "Declare it with `async def`, or choose another worker_type such as 'multiprocess'."
            )
        limit = max(1, int(kwargs.get("num_workers") or 1))
        batch = self._batch(function, params_pool, params_ids, num_function_returns, limit, kwargs.get("task_timeout"))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._run_here(batch)
        # Called from inside a running loop (a notebook): run the batch on our loop in a helper thread.
        result: list[Score] = []
        failure: list[BaseException] = []

        def target() -> None:
            try:
                result.extend(self._run_here(batch))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)

        thread = threading.Thread(target=target, name="compileiq-async-batch", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return result

    def _run_here(self, batch: Coroutine[Any, Any, list[Score]]) -> list[Score]:
        with self._lock:
            if self._runner is None:
                self._runner = asyncio.Runner()
            runner = self._runner
            return runner.run(batch)

    async def _batch(
        self, function: Callable[..., Any], params_pool: list[ParamArg], params_ids: list[int | str],
        num_objectives: int, limit: int, timeout: float | None,
    ) -> list[Score]:
        out: list[Score] = []
        if self.normalize and self.baseline_score is None:
            measured = await evaluate_async(function, dict(BASELINE_CONFIG), param_id="baseline",
                                            num_objectives=num_objectives, timeout=timeout, worker=self.name)
            out = self.ensure_baseline(lambda: measured)
        semaphore = asyncio.Semaphore(limit)
        meta = json.dumps({"worker": self.name})

        async def one(params: ParamArg, param_id: int | str) -> Score:
            async with semaphore:
                if timeout is None:  # fast path: no wait_for task, no timing, one shared metadata text
                    try:
                        value = await function(params)
                    except Exception as exc:  # noqa: BLE001 - every objective error becomes INVALID
                        return exception_score(exc, params, param_id=param_id, num_objectives=num_objectives,
                                               worker=self.name)
                    try:
                        score = Score(score=value, param_id=param_id, params=params,
                                      num_objectives=num_objectives, metadata=meta)
                    except ScoreValidationError:
                        score = None
                    if score is not None and not score.failed:
                        return score
                    return score_from_return(value, params, param_id=param_id, num_objectives=num_objectives,
                                             worker=self.name)
                return await evaluate_async(function, params, param_id=param_id, num_objectives=num_objectives,
                                            timeout=timeout, worker=self.name)

        async def delivered(params: ParamArg, param_id: int | str) -> Score:
            return self.deliver(await one(params, param_id))  # normalized and reported as it arrives

        if timeout is None:
            batch = list(await asyncio.gather(*(delivered(p, i) for p, i in zip(params_pool, params_ids))))
        else:
            async with LoopWatch(timeout, self._blocked_warned):
                batch = list(await asyncio.gather(*(delivered(p, i) for p, i in zip(params_pool, params_ids))))
        return out + batch
