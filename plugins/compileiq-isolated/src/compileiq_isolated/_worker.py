"""`IsoMultiProcessWorker`: one fresh process per candidate, at most `num_workers` at a time."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import selectors
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from compileiq.evaluation import (
    crash_reason,
    evaluate,
    exception_score,
    failed_score,
    timeout_score,
)
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker
from compileiq_multiprocess.processes import (
    SigtermAsExit,
    child_init,
    kill_group,
    load_objective,
    preload_child_support,
    resolve_cpus,
    resolve_gpus,
    serialize_objective,
    start_method,
)

__all__ = ["IsoMultiProcessWorker"]

_EXIT_WAIT_S = 1.0
STARTED = b"S"


def _one_task(
    conn: Connection, objective: Any, by_value: bool, params: ParamArg, param_id: Any, num_objectives: int,
    env: dict[str, str], cpus: Sequence[int] | None, meta: dict[str, Any],
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
        score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **meta)
    conn.send_bytes(pickle.dumps((score.score, score.metadata), pickle.HIGHEST_PROTOCOL))
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


class _Running:
    __slots__ = ("key", "process", "conn", "deadline", "slot")

    def __init__(self, key: int, process: Any, conn: Connection, deadline: float | None, slot: int) -> None:
        self.key = key
        self.process = process
        self.conn = conn
        self.deadline = deadline
        self.slot = slot


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
        self._sigterm.restore()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sigterm": SigtermAsExit()}

    def run(
        self,
        *,
        function: Callable[..., Any],
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_function_returns: int = 1,
        **kwargs: Any,
    ) -> list[Score]:
        size = max(1, int(kwargs.get("num_workers") or 1))
        timeout = kwargs.get("task_timeout")
        mode = start_method("fork")
        by_value = mode != "fork"
        objective: Any = serialize_objective(function) if by_value else function
        gpus = resolve_gpus(kwargs.get("gpus"), size)
        cpus = resolve_cpus(kwargs.get("cpu_affinity"), size)
        ctx = None if mode == "fork" and _fast_fork_available() else multiprocessing.get_context(mode)
        if mode == "fork":
            preload_child_support()
        job = (ctx, objective, by_value, num_function_returns, timeout, gpus, cpus)
        out = self.ensure_baseline(lambda: self._dispatch(job, [dict(BASELINE_CONFIG)], ["baseline"], 1)[0])
        batch = self._dispatch(job, params_pool, params_ids, size)
        return out + batch

    def _dispatch(self, job: tuple, params_pool: list[ParamArg], params_ids: list[int | str], size: int) -> list[Score]:
        ctx, objective, by_value, num_objectives, timeout, gpus, cpus = job
        pending = deque(range(len(params_pool)))
        free_slots = deque(range(size))
        running: dict[int, _Running] = {}
        scores: list[Score] = []
        selector = selectors.DefaultSelector()
        monotonic = time.monotonic

        def finish(task: _Running) -> None:
            # Unregister before any fd closes: children hold copies, so epoll would keep stale entries.
            selector.unregister(task.conn.fileno())
            selector.unregister(task.process.sentinel)
            kill_group(task.process.pid)  # the child (if still exiting) and anything it started
            task.process.join()
            task.conn.close()
            del running[task.key]
            free_slots.append(task.slot)

        try:
            while pending or running:
                while pending and free_slots:
                    key, slot = pending.popleft(), free_slots.popleft()
                    meta: dict[str, Any] = {"worker": self.name}
                    env: dict[str, str] = {}
                    if gpus is not None:
                        env["CUDA_VISIBLE_DEVICES"] = meta["gpu_id"] = gpus[slot]
                    args = (objective, by_value, params_pool[key], params_ids[key], num_objectives,
                            env, cpus[slot] if cpus is not None else None, meta)
                    if ctx is None:
                        process: Any = _ForkedChild(_one_task, args)
                        reader = process.conn
                    else:
                        reader, writer = ctx.Pipe(duplex=False)
                        process = ctx.Process(target=_one_task, name=f"compileiq-isolated-{slot}",
                                              args=(writer, *args))
                        process.start()
                        writer.close()
                    # By value (forkserver, spawn) the clock starts when the child says it has started.
                    clock = timeout and not by_value
                    task = _Running(key, process, reader, monotonic() + timeout if clock else None, slot)
                    running[key] = task
                    selector.register(reader.fileno(), selectors.EVENT_READ, task)
                    selector.register(process.sentinel, selectors.EVENT_READ, task)
                wait_s = None
                deadlines = [t.deadline for t in running.values() if t.deadline is not None]
                if deadlines:
                    wait_s = max(0.0, min(deadlines) - monotonic())
                for selected, _ in selector.select(wait_s):
                    task = selected.data
                    if running.get(task.key) is not task:
                        continue  # finished earlier in this round
                    data = None
                    try:
                        if task.conn.poll():
                            data = task.conn.recv_bytes()
                    except (EOFError, OSError):
                        data = None
                    key = task.key
                    if data == STARTED:
                        if timeout:
                            task.deadline = monotonic() + timeout
                        continue
                    if data is not None:
                        value, meta_json = pickle.loads(data)
                        scores.append(self.deliver(Score(score=value, param_id=params_ids[key], params=params_pool[key],
                                            num_objectives=num_objectives, metadata=meta_json)))
                        finish(task)
                    else:  # it ended (or closed its pipe) without a result
                        wait([task.process.sentinel], _EXIT_WAIT_S)
                        pid = task.process.pid
                        finish(task)
                        code = task.process.exitcode
                        scores.append(self.deliver(failed_score(
                            params_ids[key], params_pool[key], num_objectives, "crash", crash_reason(code),
                            worker=self.name, pid=pid, exitcode=code,
                        )))
                if timeout and running:
                    now = monotonic()
                    for task in list(running.values()):
                        if task.deadline is not None and now >= task.deadline:
                            pid = task.process.pid
                            finish(task)
                            scores.append(self.deliver(timeout_score(
                                params_pool[task.key], param_id=params_ids[task.key], num_objectives=num_objectives,
                                timeout=timeout, worker=self.name, pid=pid,
                                kill_latency_s=round(monotonic() - task.deadline, 6),
                            )))
        except BaseException:
            for task in list(running.values()):  # interrupted: nothing may outlive this call
                kill_group(task.process.pid)
            for task in list(running.values()):
                task.process.join()
            raise
        finally:
            selector.close()
        return scores
