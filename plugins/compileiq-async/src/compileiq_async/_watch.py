"""Noticing an event loop that an objective blocks: asyncio timeouts cannot interrupt it.

A heartbeat coroutine stamps the time every `interval` seconds; a watchdog thread checks the
stamp. When the loop has not run for longer than `task_timeout`, the objective is blocking it
(time.sleep, CPU work, a blocking call), so `task_timeout` cannot stop that evaluation:
`BlockedLoopWarning` is issued once per worker, naming where the loop is stuck and the isolated
worker, whose timeouts kill the process.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
import warnings

__all__ = ["BlockedLoopWarning", "LoopWatch"]


class BlockedLoopWarning(RuntimeWarning):
    """The async worker's event loop was blocked for longer than `task_timeout`."""


def _where(thread_id: int) -> str:
    frame = sys._current_frames().get(thread_id)
    if frame is None:
        return "an unknown place"
    stack = traceback.extract_stack(frame)
    user = [f for f in stack if "asyncio" not in f.filename and "compileiq_async" not in f.filename]
    last = (user or stack)[-1]
    return f"{last.name}() at {last.filename}:{last.lineno}"


class LoopWatch:
    """Watches the running loop for the length of one batch: `async with LoopWatch(timeout, warned):`."""

    def __init__(self, timeout: float, warned: list[bool]) -> None:
        self.timeout = float(timeout)
        self.interval = min(self.timeout / 4, 0.25)
        self._warned = warned  # shared with the worker: once per search, not once per batch
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> LoopWatch:
        self._beat = time.monotonic()
        self._loop_thread = threading.get_ident()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="compileiq-async-watch", daemon=True)
        self._thread.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._thread is not None:
            self._thread.join()

    async def _heartbeat(self) -> None:
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(self.interval)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            blocked = time.monotonic() - self._beat
            if blocked > self.timeout + self.interval and not self._warned[0]:
                self._warned[0] = True
                warnings.warn(
                    f"The async worker's event loop has been blocked for {blocked:.1f} s, past task_timeout="
                    f"{self.timeout:g} s, in {_where(self._loop_thread)}. An async objective that blocks "
                    "(time.sleep, CPU-bound work, a blocking call) cannot be timed out, and stalls every other "
                    "evaluation: await non-blocking calls (asyncio.sleep, asyncio.to_thread, "
                    "asyncio.create_subprocess_exec), or use worker_type='isolated', whose task_timeout kills "
                    "the evaluation's process.",
                    BlockedLoopWarning,
                    stacklevel=1,
                )
                return
