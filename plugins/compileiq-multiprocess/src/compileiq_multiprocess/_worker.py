"""`MultiProcessWorker`: one task per candidate on a process pool kept for the whole search."""

from __future__ import annotations

import multiprocessing
import pickle
import selectors
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from compileiq.evaluation import crash_reason, failed_score, timeout_score
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker
from compileiq_multiprocess._child import LOAD_FAILED, LOADED, READY, slot_main
from compileiq_multiprocess.processes import (
    SigtermAsExit,
    kill_group,
    process_class,
    resolve_cpus,
    resolve_gpus,
    serialize_objective,
    start_method,
)

__all__ = ["MultiProcessWorker"]

_CLOSE_GRACE_S = 0.5
_EXIT_WAIT_S = 1.0


@dataclass(frozen=True)
class _Layout:
    size: int
    mode: str
    gpus: tuple[str, ...] | None
    cpus: tuple[tuple[int, ...], ...] | None


class _Slot:
    """One pool process, its pipe, and the task it is running."""

    __slots__ = ("index", "process", "conn", "ready", "blob_id", "task", "deadline")

    def __init__(self, index: int, process: Any, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.ready = False
        self.blob_id = 0  # which objective it holds; negative while loading one
        self.task: int | None = None
        self.deadline: float | None = None


def _stop_slots(slots: list[_Slot], grace: float = _CLOSE_GRACE_S) -> None:
    """End every slot: idle ones see their pipe close and exit; busy ones, stragglers and
    anything still alive after `grace` seconds are killed with their process group."""
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
    slots.clear()


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
        self._slots: list[_Slot] = []
        self._layout: _Layout | None = None
        self._selector: selectors.BaseSelector | None = None
        self._sigterm = SigtermAsExit()
        self._blob: bytes | None = None
        self._blob_id = 0
        self._function_name = ""
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
        try:
            _stop_slots(self._slots)
        finally:
            if self._selector is not None:
                self._selector.close()
                self._selector = None
            self._layout = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_slots=[], _layout=None, _selector=None, _finalizer=None, _sigterm=SigtermAsExit())
        return state

    # -- the pool --------------------------------------------------------------------------

    def _ensure_pool(self, layout: _Layout) -> None:
        if layout == self._layout and len(self._slots) == layout.size:
            return
        self._stop_pool()
        self._layout = layout
        self._selector = selectors.DefaultSelector()
        for index in range(layout.size):
            self._slots.append(self._start_slot(index))

    def _start_slot(self, index: int) -> _Slot:
        layout = self._layout
        assert layout is not None and self._selector is not None
        ctx = multiprocessing.get_context(layout.mode)
        parent, child = ctx.Pipe(duplex=True)
        env: dict[str, str] = {}
        meta: dict[str, Any] = {"worker": self.name, "slot": index}
        if layout.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = meta["gpu_id"] = layout.gpus[index]
        cpus = layout.cpus[index] if layout.cpus is not None else None
        process = process_class(layout.mode)(
            target=slot_main, args=(child, env, cpus, meta), name=f"compileiq-slot-{index}"
        )
        process.start()
        child.close()
        slot = _Slot(index, process, parent)
        self._selector.register(parent.fileno(), selectors.EVENT_READ, (slot, "conn"))
        self._selector.register(process.sentinel, selectors.EVENT_READ, (slot, "exit"))
        return slot

    def _retire(self, slot: _Slot) -> int | None:
        """Kill a slot's process group (before reaping, so the group id is still its own), reap it,
        and return its exit code."""
        assert self._selector is not None
        for fd in (slot.conn.fileno(), slot.process.sentinel):
            self._selector.unregister(fd)  # before any fd closes (see the isolated worker)
        kill_group(slot.process.pid)
        slot.process.join()
        slot.conn.close()
        return slot.process.exitcode

    def _replace(self, slot: _Slot) -> _Slot:
        """Start a fresh slot in the place of a retired one."""
        fresh = self._start_slot(slot.index)
        self._slots[slot.index] = fresh
        return fresh

    # -- running a batch -------------------------------------------------------------------

    def _prepare(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> None:
        """Serialize the objective and make sure the pool matches the requested layout."""
        size = max(1, int(kwargs.get("num_workers") or 1))
        blob = serialize_objective(function)  # before anything runs: an unpicklable objective fails here
        if blob != self._blob:
            self._blob, self._blob_id = blob, self._blob_id + 1
        self._function_name = repr(function)
        gpus = resolve_gpus(kwargs.get("gpus"), size)
        cpus = resolve_cpus(kwargs.get("cpu_affinity"), size)
        self._ensure_pool(_Layout(
            size, start_method("forkserver"), tuple(gpus) if gpus else None,
            tuple(tuple(c) for c in cpus) if cpus else None,
        ))

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        timeout = kwargs.get("task_timeout")
        self._prepare(function, kwargs)
        out = self.ensure_baseline(
            lambda: self._dispatch([dict(BASELINE_CONFIG)], ["baseline"], num_function_returns, timeout)[0])
        batch = self._dispatch(params_pool, params_ids, num_function_returns, timeout)
        return out + batch

    def _dispatch(
        self, params_pool: list[ParamArg], params_ids: list[int | str], num_objectives: int, timeout: float | None
    ) -> list[Score]:
        """Run every candidate, one task each, on the pool; returns scores in completion order."""
        dispatch = _Dispatch(self, num_objectives, timeout)
        for params, pid in zip(params_pool, params_ids):
            dispatch.add(params, pid)
        try:
            while dispatch.active:
                dispatch.step(None)
        except BaseException:
            dispatch.kill_busy()  # interrupted (Ctrl-C, SIGTERM) or broken: nothing busy may outlive this call
            raise
        return dispatch.take()

    # -- submission contract (asynchronous scheduling) --------------------------------------

    supports_submission = True
    _submissions: _Dispatch | None = None

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        self.close_submissions()
        self._prepare(function, kwargs)
        self._submissions = _Dispatch(self, num_function_returns, kwargs.get("task_timeout"))

    def _open(self) -> _Dispatch:
        if self._submissions is None:
            raise RuntimeError(f"{type(self).__name__}: submit()/collect() before open_submissions(); open them first.")
        return self._submissions

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        dispatch = self._open()
        dispatch.add(params, param_id)
        dispatch.start_idle()

    def collect(self, timeout: float | None = None) -> list[Score]:
        dispatch = self._open()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while dispatch.active and not dispatch.ready:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                dispatch.step(left)
        except BaseException:
            dispatch.kill_busy()
            self._submissions = None
            raise
        return dispatch.take()

    def cancel(self) -> None:
        if self._submissions is not None:
            self._submissions.cancel()

    def close_submissions(self) -> None:
        dispatch, self._submissions = self._submissions, None
        if dispatch is not None:
            dispatch.cancel()


class _Dispatch:
    """Candidates queued, running and finished on a worker's pool: `add`, then `step` until done.

    One step starts what idle slots can take, waits for one event (a result, an exit, the
    nearest deadline, or `limit` seconds) and handles it: results become Scores (delivered:
    normalized and reported), an exit scores its candidate as a crash, a deadline kills and
    replaces the slot. `take()` hands out the Scores finished so far, in completion order.
    """

    def __init__(self, worker: MultiProcessWorker, num_objectives: int, timeout: float | None) -> None:
        self.worker = worker
        self.num_objectives = num_objectives
        self.timeout = timeout
        self.params: dict[int, ParamArg] = {}
        self.ids: dict[int, int | str] = {}
        self.pending: deque[int] = deque()
        self.idle: deque[_Slot] = deque(s for s in worker._slots if s.ready and s.task is None and s.blob_id >= 0)
        self.busy: dict[int, _Slot] = {}
        self.scores: list[Score] = []
        self.next_key = 0

    @property
    def active(self) -> bool:
        return bool(self.pending or self.busy)

    @property
    def ready(self) -> bool:
        return bool(self.scores)

    def add(self, params: ParamArg, param_id: int | str) -> None:
        key = self.next_key
        self.next_key += 1
        self.params[key], self.ids[key] = params, param_id
        self.pending.append(key)

    def take(self) -> list[Score]:
        out, self.scores = self.scores, []
        return out

    def _finish(self, key: int, score: Score) -> None:
        del self.params[key], self.ids[key]
        self.scores.append(self.worker.deliver(score))

    def start_idle(self) -> None:
        """Hand pending candidates to idle slots (a slot first loads the current objective)."""
        worker = self.worker
        dumps = pickle.dumps
        blob_id = worker._blob_id
        while self.pending and self.idle:
            slot = self.idle.popleft()
            if worker._slots[slot.index] is not slot:
                continue
            try:
                if slot.blob_id != blob_id:  # load the objective first, off the task clock
                    slot.conn.send_bytes(dumps(("F", worker._blob), pickle.HIGHEST_PROTOCOL))
                    slot.blob_id = -blob_id
                    continue
                key = self.pending.popleft()
                slot.conn.send_bytes(dumps(
                    (key, self.params[key], self.ids[key], self.num_objectives), pickle.HIGHEST_PROTOCOL
                ))
            except OSError:  # it just died: its sentinel reports it
                continue
            slot.task = key
            slot.deadline = time.monotonic() + self.timeout if self.timeout else None
            self.busy[key] = slot

    def step(self, limit: float | None) -> None:
        """Start what can start, then wait (at most `limit` s, None: until something happens) and handle it."""
        worker = self.worker
        assert worker._selector is not None
        self.start_idle()
        timeout, busy = self.timeout, self.busy
        wait_s = limit
        if timeout and busy:
            nearest = max(0.0, min(s.deadline for s in busy.values()) - time.monotonic())  # type: ignore[type-var]
            wait_s = nearest if wait_s is None else min(wait_s, nearest)
        loads = pickle.loads
        for selected, _ in worker._selector.select(wait_s):
            slot, what = selected.data
            if worker._slots[slot.index] is not slot:
                continue  # retired earlier in this round
            dead = what == "exit"
            messages: list[bytes] = []
            try:
                if what == "conn":
                    messages.append(slot.conn.recv_bytes())
                else:  # it exited: take any last message first
                    while slot.conn.poll():
                        messages.append(slot.conn.recv_bytes())
            except (EOFError, OSError):
                dead = True
            for data in messages:
                if len(data) < 2 or data[:1] == LOAD_FAILED:
                    if data == READY:
                        slot.ready = True
                    elif data == LOADED:
                        slot.blob_id = -slot.blob_id  # the one it was loading
                    else:
                        raise TypeError(
                            f"objective_function {worker._function_name} cannot be loaded in a worker process "
                            f"({data[1:].decode(errors='replace')}). Make the module that defines it "
                            "importable there (installed, or on sys.path), or define it in your script."
                        )
                    self.idle.append(slot)
                    continue
                key, value, meta = loads(data)
                if key not in busy:
                    continue  # a cancelled candidate's late result
                self._finish(key, Score(score=value, param_id=self.ids[key], params=self.params[key],
                                        num_objectives=self.num_objectives, metadata=meta))
                del busy[key]
                slot.task = slot.deadline = None
                self.idle.append(slot)
            if dead:
                self._on_exit(slot)
        if timeout and busy:
            now = time.monotonic()
            for key, slot in list(busy.items()):
                if slot.deadline is not None and now >= slot.deadline:
                    deadline = slot.deadline
                    pid = slot.process.pid
                    worker._retire(slot)
                    del busy[key]
                    self._finish(key, timeout_score(
                        self.params[key], param_id=self.ids[key], num_objectives=self.num_objectives,
                        timeout=timeout, worker=worker.name, pid=pid, slot=slot.index,
                        kill_latency_s=round(time.monotonic() - deadline, 6),
                    ))
                    slot.task = None
                    worker._replace(slot)

    def _on_exit(self, slot: _Slot) -> None:
        worker = self.worker
        wait([slot.process.sentinel], _EXIT_WAIT_S)  # its pipe closed: let it finish exiting
        code = worker._retire(slot)
        if not slot.ready:
            worker._replace(slot)  # keep the pool whole for the error below and for close()
            raise RuntimeError(
                f"A {worker.name} worker process exited while starting ({crash_reason(code)}); see its "
                "error output above. Check that compileiq-multiprocess imports cleanly in a fresh "
                "interpreter, or set CIQ_PROCESS_MODE=fork."
            )
        if slot.blob_id < 0:
            worker._replace(slot)
            raise RuntimeError(
                f"A {worker.name} worker process died while loading the objective ({crash_reason(code)}). "
                "Importing the objective's module crashes the process; import it in a plain `python -c` "
                "to see why, or move the crashing import inside the objective."
            )
        key = slot.task
        if key is not None and key in self.busy:
            del self.busy[key]
            self._finish(key, failed_score(
                self.ids[key], self.params[key], self.num_objectives, "crash", crash_reason(code),
                worker=worker.name, pid=slot.process.pid, slot=slot.index, exitcode=code,
            ))
        slot.task = None
        worker._replace(slot)

    def kill_busy(self) -> None:
        for slot in self.busy.values():
            kill_group(slot.process.pid)

    def cancel(self) -> None:
        """Drop the queue; kill and replace every busy slot (its result never comes)."""
        worker = self.worker
        self.pending.clear()
        for key, slot in list(self.busy.items()):
            if worker._slots[slot.index] is slot:
                worker._retire(slot)
                slot.task = None
                worker._replace(slot)
            del self.busy[key], self.params[key], self.ids[key]
        self.scores.clear()
