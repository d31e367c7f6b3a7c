"""`IsoMultiProcessWorker`: one fresh process per candidate, at most `num_workers` at a time."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from compileiq.evaluation import exception_score
from compileiq.processes import (
    Child,
    ChildSupervisor,
    SigtermAsExit,
    child_init,
    evaluate_captured,
    load_objective,
    preload_child_support,
    resolve_cpus,
    resolve_gpus,
    send_result,
    serialize_objective,
    start_method,
    start_process,
    worker_environment,
)
from compileiq.score import ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["IsoMultiProcessWorker"]

STARTED = b"S"


def _one_task(
    conn: Connection, objective: Any, by_value: bool, params: ParamArg, param_id: Any, num_objectives: int,
    env: dict[str, str], cpus: Sequence[int] | None, meta: dict[str, Any], run_folder: str | None,
    memory: int | None,
) -> None:
    """Child: evaluate one candidate, send `(score_value, metadata_json)`, exit at once."""
    child_init(env, cpus)
    meta = {**meta, "pid": os.getpid()}
    try:
        function = load_objective(objective) if by_value else objective
    except Exception as exc:  # noqa: BLE001 - reported as this candidate's failure
        err = RuntimeError(f"the objective could not be loaded in the worker process: {type(exc).__name__}: {exc}")
        score = exception_score(err, None, param_id=param_id, num_objectives=num_objectives, **meta)
    else:
        if by_value:
            conn.send_bytes(STARTED)  # interpreter start and imports are not the objective's time
        score = evaluate_captured(function, params, param_id=param_id, num_objectives=num_objectives,
                                  run_folder=run_folder, memory=memory, **meta)
    send_result(conn, score)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)  # skip interpreter teardown: the result is sent


class _ForkedChild:
    """A child made by a bare `os.fork()` (fork mode, Linux): the same `pid`, `sentinel` (a pidfd),
    `join()` and `exitcode` as a multiprocessing Process, at a fraction of its start-up cost."""

    def __init__(self, target: Callable[..., None], args: tuple) -> None:
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.close(reader)
                target(Connection(writer, readable=False), *args)
            except BaseException:  # noqa: BLE001 - report, then exit without running parent cleanup
                import traceback

                traceback.print_exc()
            finally:
                os._exit(1)
        os.close(writer)
        self.pid = pid
        self.conn = Connection(reader, writable=False)
        self.sentinel = os.pidfd_open(pid)
        self.exitcode: int | None = None

    def join(self, timeout: float | None = None) -> None:
        if self.exitcode is None:
            _, status = os.waitpid(self.pid, 0)
            self.exitcode = os.waitstatus_to_exitcode(status)
            os.close(self.sentinel)


def _fast_fork_available() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(os, "waitstatus_to_exitcode")


class _FreshProcesses(ChildSupervisor):
    """A fresh process per candidate, at most `size` at once (one per free slot)."""

    def __init__(self, worker_name: str, job: tuple, size: int) -> None:
        super().__init__(worker_name)
        self.ctx, self.objective, self.by_value, self.gpus, self.cpus = job
        self.clock_on_start = not self.by_value  # by value, the clock starts when the child has started
        self.free_slots = deque(range(size))

    def start_task(self, key: int) -> Child | None:
        if not self.free_slots:
            return None
        slot = self.free_slots.popleft()
        meta: dict[str, Any] = {"worker": self.worker_name}
        env: dict[str, str] = {}
        if self.gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = meta["gpu_id"] = self.gpus[slot]
        args = (self.objective, self.by_value, self.params_pool[key], self.params_ids[key], self.num_objectives,
                env, self.cpus[slot] if self.cpus is not None else None, meta,
                str(self.run_folder) if self.run_folder is not None else None, self.memory_limit)
        if self.ctx is None:
            with worker_environment():
                process: Any = _ForkedChild(_one_task, args)
            reader = process.conn
        else:
            reader, writer = self.ctx.Pipe(duplex=False)
            process = self.ctx.Process(target=_one_task, name=f"compileiq-isolated-{slot}", args=(writer, *args))
            start_process(process)
            writer.close()
        child = Child(process, reader, slot)
        self.watch(child)
        return child

    def on_control(self, child: Child, data: bytes) -> None:
        if data == STARTED:
            self.start_clock(child)

    def after_task(self, child: Child) -> None:
        self.retire(child)  # the child (if still exiting) and anything it started
        self.free_slots.append(child.slot)

    def replace(self, child: Child) -> None:
        self.free_slots.append(child.slot)

    def on_interrupt(self, children: list[Child]) -> None:
        for child in children:
            child.process.join()


class IsoMultiProcessWorker(BaseWorker):
    """Evaluates each candidate in a fresh process; at most `num_workers` run at once.

    Each process leads its own session, so on `task_timeout`, a crash, Ctrl-C or the end of the
    evaluation its whole process group is killed: nothing it started survives. Options:
    `num_workers`, `task_timeout`, `gpus` and `cpu_affinity` (as for the multiprocess worker).
    """

    name = "isolated"
    respects_num_workers = True
    supports_timeout = True
    isolates_crashes = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sigterm = SigtermAsExit()

    def setup(self) -> None:
        """Make SIGTERM end the search cleanly (processes are started per candidate)."""
        self._sigterm.install()

    def close(self) -> None:
        """Nothing outlives a `run()`; restores the SIGTERM handler. Safe to call twice."""
        try:
            self.close_submissions()
        finally:
            self._sigterm.restore()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sigterm": SigtermAsExit(), "_streaming": None}

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        supervisor = self._supervisor(function, kwargs)
        try:
            return supervisor.run_for(self, params_pool, params_ids, num_function_returns, kwargs.get("task_timeout"))
        finally:
            supervisor.close()

    def _supervisor(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> _FreshProcesses:
        size = max(1, int(kwargs.get("num_workers") or 1))
        mode = start_method("fork")
        by_value = mode != "fork"
        objective: Any = serialize_objective(function) if by_value else function
        gpus = resolve_gpus(kwargs.get("gpus"), size)
        cpus = resolve_cpus(kwargs.get("cpu_affinity"), size)
        ctx = None if mode == "fork" and _fast_fork_available() else multiprocessing.get_context(mode)
        if mode == "fork":
            preload_child_support()
        supervisor = _FreshProcesses(self.name, (ctx, objective, by_value, gpus, cpus), size)
        supervisor.configure(self, kwargs)
        return supervisor

    # -- submission contract (asynchronous scheduling) --------------------------------------

    supports_submission = True
    _streaming: _FreshProcesses | None = None

    def open_submissions(self, *, function: Callable[..., Any], num_function_returns: int = 1,
                         **kwargs: Any) -> None:
        self.close_submissions()
        supervisor = self._supervisor(function, kwargs)
        supervisor.open_stream(num_function_returns, kwargs.get("task_timeout"), self.deliver)
        self._streaming = supervisor

    def _stream(self) -> _FreshProcesses:
        if self._streaming is None:
            raise RuntimeError(f"{type(self).__name__}: submit()/collect() before open_submissions(); open them first.")
        return self._streaming

    def submit(self, params: ParamArg, param_id: int | str) -> None:
        self._stream().submit_one(params, param_id)

    def collect(self, timeout: float | None = None) -> list[Score]:
        return self._stream().collect_some(timeout)

    def cancel(self) -> None:
        if self._streaming is not None:
            self._streaming.cancel_stream()

    def close_submissions(self) -> None:
        supervisor, self._streaming = self._streaming, None
        if supervisor is not None:
            try:
                supervisor.cancel_stream()
            finally:
                supervisor.close()
