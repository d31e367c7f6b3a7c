"""`MultiProcessWorker`: one task per candidate on a process pool kept for the whole search."""

from __future__ import annotations

import multiprocessing
import pickle
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from compileiq.evaluation import crash_reason
from compileiq.processes import (
    Child,
    ChildSupervisor,
    SigtermAsExit,
    kill_group,
    process_class,
    remove_spool,
    resolve_cpus,
    resolve_gpus,
    serialize_objective,
    start_method,
    start_process,
)
from compileiq.score import ParamArg, Score
from compileiq.worker import BaseWorker
from compileiq_multiprocess._child import LOAD_FAILED, LOADED, READY, slot_main

__all__ = ["MultiProcessWorker"]

_CLOSE_GRACE_S = 0.5
_WARM_LIMIT_S = 30.0
"""How long asynchronous scheduling waits for the pool to come up before submitting anyway."""


@dataclass(frozen=True)
class _Layout:
    size: int
    mode: str
    gpus: tuple[str, ...] | None
    cpus: tuple[tuple[int, ...], ...] | None


@dataclass
class _SlotState:
    ready: bool = False
    blob_id: int = 0  # which objective it holds; negative while loading one


def _stop_slots(slots: list[Child], grace: float = _CLOSE_GRACE_S) -> None:
    """End every slot: idle ones see their pipe close and exit; busy ones, stragglers and
    anything still alive after `grace` seconds are killed with their process group. Their
    output spools are removed."""
    for slot in slots:
        if slot.task is not None:
            kill_group(slot.process.pid)
        try:
            slot.conn.close()
        except OSError:
            pass
    deadline = time.monotonic() + grace
    alive = {slot.process.sentinel for slot in slots}
    while alive and (left := deadline - time.monotonic()) > 0:
        alive -= set(wait(list(alive), left))
    for slot in slots:
        kill_group(slot.process.pid)  # not reaped yet, so the group id is still ours
        slot.process.join()
        remove_spool(slot.run_folder, slot.process.pid)
    slots.clear()


class _Pool(ChildSupervisor):
    """The pool's processes (`slots`, shared with the worker) under the shared supervision loop."""

    def __init__(self, worker_name: str, layout: _Layout, slots: list[Child]) -> None:
        super().__init__(worker_name)
        self.layout = layout
        self.slots = slots
        self.idle: deque[Child] = deque()
        self.blob: bytes | None = None
        self.blob_id = 0
        self.function_name = ""
        self.log_folder: str | None = None
        for index in range(layout.size):
            self.slots.append(self._start_slot(index))

    def _start_slot(self, index: int) -> Child:
        layout = self.layout
        ctx = multiprocessing.get_context(layout.mode)
        parent, child = ctx.Pipe(duplex=True)
        env: dict[str, str] = {}
        meta: dict[str, Any] = {"worker": self.worker_name, "slot": index}
        if layout.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = meta["gpu_id"] = layout.gpus[index]
        cpus = layout.cpus[index] if layout.cpus is not None else None
        process = process_class(layout.mode, preload=["compileiq_multiprocess._child"])(
            target=slot_main, args=(child, env, cpus, meta), name=f"compileiq-slot-{index}"
        )
        start_process(process)
        child.close()
        slot = Child(process, parent, index, meta={"slot": index})
        slot.state = _SlotState()
        self.watch(slot)
        return slot

    def start_task(self, key: int) -> Child | None:
        dumps = pickle.dumps
        while self.idle:
            slot = self.idle.popleft()
            if slot.retired:
                continue
            try:
                if slot.state.blob_id != self.blob_id:  # load the objective first, off the task clock
                    slot.conn.send_bytes(dumps(("F", self.blob), pickle.HIGHEST_PROTOCOL))
                    slot.state.blob_id = -self.blob_id
                    continue
                slot.conn.send_bytes(dumps((self.params_pool[key], self.params_ids[key], self.num_objectives,
                                            self.log_folder, self.memory_limit), pickle.HIGHEST_PROTOCOL))
            except OSError:  # it just died: its sentinel reports it
                continue
            return slot
        return None

    def after_task(self, child: Child) -> None:
        self.idle.append(child)

    def replace(self, child: Child) -> None:
        self.slots[child.slot] = self._start_slot(child.slot)

    def on_control(self, child: Child, data: bytes) -> None:
        if data == READY:
            child.state.ready = True
        elif data == LOADED:
            child.state.blob_id = -child.state.blob_id  # the one it was loading
        elif data[:1] == LOAD_FAILED:
            self.raise_if_refused()
            raise TypeError(
                f"objective_function {self.function_name} cannot be loaded in a worker process "
                f"({data[1:].decode(errors='replace')}). Make the module that defines it "
                "importable there (installed, or on sys.path), or define it in your script."
            )
        self.idle.append(child)

    def on_idle_exit(self, child: Child, exitcode: int | None) -> None:
        if not child.state.ready:
            raise RuntimeError(
                f"A {self.worker_name} worker process exited while starting ({crash_reason(exitcode)}); see its "
                "error output above. Check that compileiq-multiprocess imports cleanly in a fresh "
                "interpreter, or set CIQ_PROCESS_MODE=fork."
            )
        if child.state.blob_id < 0:
            raise RuntimeError(
                f"A {self.worker_name} worker process died while loading the objective ({crash_reason(exitcode)}). "
                "Importing the objective's module crashes the process; import it in a plain `python -c` "
                "to see why, or move the crashing import inside the objective."
            )

    def supervise(self, params_pool: list[ParamArg], params_ids: list[int | str], num_objectives: int,
                  timeout: float | None, deliver: Callable[[Score], Score]) -> list[Score]:
        self.idle = deque(s for s in self.slots if s.state.ready and s.task is None and s.state.blob_id >= 0)
        return super().supervise(params_pool, params_ids, num_objectives, timeout, deliver)

    def open_stream(self, num_objectives: int, timeout: float | None, deliver: Callable[[Score], Score]) -> None:
        self.idle = deque(s for s in self.slots if s.state.ready and s.task is None and s.state.blob_id >= 0)
        super().open_stream(num_objectives, timeout, deliver)

    def warm(self, limit: float = _WARM_LIMIT_S) -> None:
        """Wait until every slot has started and loaded the objective (at most `limit` seconds),
        so the first candidates start together instead of one by one as processes come up."""
        end = time.monotonic() + limit
        current = self.blob_id
        while (left := end - time.monotonic()) > 0:
            for slot in [s for s in self.idle if s.state.blob_id >= 0 and s.state.blob_id != current]:
                self.idle.remove(slot)
                try:
                    slot.conn.send_bytes(pickle.dumps(("F", self.blob), pickle.HIGHEST_PROTOCOL))
                except OSError:  # it just died: its sentinel reports it
                    continue
                slot.state.blob_id = -current
            if all(s.state.ready and s.state.blob_id == current for s in self.slots):
                return
            finished: list[Score] = []
            for selected, _ in self.selector.select(left):
                child, what = selected.data
                if not child.retired:
                    self._on_event(child, what, finished)  # READY, LOADED, or a death while starting


class MultiProcessWorker(BaseWorker):
    """Evaluates candidates in parallel on `num_workers` local processes kept for the whole search.

    Options given to `Search.start()`: `num_workers`, `task_timeout` (the hung process and its
    children are killed and replaced), `gpus` (a list of ids or "all": each slot sees one GPU
    through CUDA_VISIBLE_DEVICES) and `cpu_affinity` (True, or cores per slot). A candidate whose
    process dies (exit, signal, out of memory) scores INVALID and its process is replaced.
    """

    name = "multiprocess"
    respects_num_workers = True
    supports_timeout = True
    isolates_crashes = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots: list[Child] = []
        self._pool: _Pool | None = None
        self._sigterm = SigtermAsExit()
        self._blob: bytes | None = None
        self._blob_id = 0
        self._finalizer = weakref.finalize(self, _stop_slots, self._slots, 0.0)

    # -- lifecycle -------------------------------------------------------------------------

    def setup(self) -> None:
        """Make SIGTERM end the search cleanly; the pool itself starts on the first `run()`."""
        self._sigterm.install()

    def close(self) -> None:
        """Stop every pool process (and what it started); safe to call twice."""
        try:
            self._stop_pool()
        finally:
            self._sigterm.restore()

    def _stop_pool(self) -> None:
        self._streaming = None
        try:
            _stop_slots(self._slots)
        finally:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_slots=[], _pool=None, _finalizer=None, _sigterm=SigtermAsExit(), _streaming=None)
        return state

    def _ensure_pool(self, layout: _Layout) -> _Pool:
        pool = self._pool
        if pool is None or layout != pool.layout or len(self._slots) != layout.size:
            self._stop_pool()
            pool = self._pool = _Pool(self.name, layout, self._slots)
        return pool

    # -- running a batch -------------------------------------------------------------------

    def _prepare(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> _Pool:
        """The pool for these `start()` options, holding `function` (serialized once)."""
        size = max(1, int(kwargs.get("num_workers") or 1))
        blob = serialize_objective(function)  # before anything runs: an unpicklable objective fails here
        if blob != self._blob:
            self._blob, self._blob_id = blob, self._blob_id + 1
        gpus = resolve_gpus(kwargs.get("gpus"), size)
        cpus = resolve_cpus(kwargs.get("cpu_affinity"), size)
        pool = self._ensure_pool(_Layout(
            size, start_method("forkserver"), tuple(gpus) if gpus else None,
            tuple(tuple(c) for c in cpus) if cpus else None,
        ))
        pool.blob, pool.blob_id, pool.function_name = self._blob, self._blob_id, repr(function)
        pool.configure(self, kwargs)
        pool.log_folder = str(pool.run_folder) if pool.run_folder is not None else None
        return pool

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        pool = self._prepare(function, kwargs)
        return pool.run_for(self, params_pool, params_ids, num_function_returns, kwargs.get("task_timeout"))

    # -- submission contract (asynchronous scheduling) --------------------------------------

    supports_submission = True
    _streaming: _Pool | None = None

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        self.close_submissions()
        pool = self._prepare(function, kwargs)
        pool.open_stream(num_function_returns, kwargs.get("task_timeout"), self.deliver)
        try:
            pool.warm()  # every process up and loaded first, as a warm executor's would be
        except BaseException:
            pool.cancel_stream()
            raise
        self._streaming = pool

    def _stream(self) -> _Pool:
        if self._streaming is None or self._streaming is not self._pool:
            raise RuntimeError(f"{type(self).__name__}: submit()/collect() before open_submissions(); open them first.")
        return self._streaming

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        self._stream().submit_one(params, param_id)

    def collect(self, timeout: float | None = None) -> list[Score]:
        return self._stream().collect_some(timeout)

    def cancel(self) -> None:
        if self._streaming is not None and self._streaming is self._pool:
            self._streaming.cancel_stream()

    def close_submissions(self) -> None:
        self.cancel()
        self._streaming = None
