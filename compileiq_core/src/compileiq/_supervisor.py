"""`ChildSupervisor`: the timeout / crash / kill loop of a process-based worker, written once.

Public through `compileiq.processes`. A worker subclasses it, says how a candidate is put on a
child (`start_task`) and what happens to a child afterwards (`after_task`, `replace`); the loop
hands candidates out as children free up, reads each child's result, turns a child that dies
into an INVALID "crash" score and one past `task_timeout` into a "timeout" score (its process
group killed), and kills every busy child when the loop is interrupted (Ctrl-C, SIGTERM, an error).

The wire format is one message per pipe write: a result is the pickle of
`(score_value, metadata_json)` (see `send_result`); anything that is not a pickle is a control
message passed to `on_control`.
"""

from __future__ import annotations

import pickle
import selectors
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from compileiq._memory import is_out_of_memory
from compileiq.evaluation import crash_reason, failed_score, timeout_score
from compileiq.score import BASELINE_CONFIG, ParamArg, Score
from compileiq.worker import BaseWorker

__all__ = ["EXIT_WAIT_S", "Child", "ChildSupervisor", "send_result"]

EXIT_WAIT_S = 1.0
"""How long a child whose pipe closed is given to finish exiting before it is killed."""

_ROUND_LIMIT = 64
"""At most this many Scores are read before they are delivered (one wake-up's worth, usually 1)."""
_PICKLE = b"\x80"  # every pickle of protocol 2 or later starts with the PROTO opcode


def send_result(conn: Connection, score: Score) -> None:
    """Child side: send one candidate's Score to the supervising parent."""
    conn.send_bytes(pickle.dumps((score.score, score.metadata), pickle.HIGHEST_PROTOCOL))


class Child:
    """A child process under supervision: its Process-like handle (`pid`, `sentinel`, `join()`,
    `exitcode`), the parent's end of its pipe, and the candidate it runs (`task`, a key)."""

    __slots__ = ("process", "conn", "slot", "task", "deadline", "retired", "meta", "state", "run_folder")

    def __init__(self, process: Any, conn: Connection, slot: int = 0, meta: dict[str, Any] | None = None) -> None:
        self.process = process
        self.conn = conn
        self.slot = slot
        self.task: int | None = None
        self.deadline: float | None = None
        self.retired = False
        self.meta: dict[str, Any] = meta or {}
        """Extra metadata for the scores the supervisor itself writes (crash, timeout)."""
        self.state: Any = None
        """Free for the worker's own bookkeeping (e.g. which objective the child holds)."""
        self.run_folder: Path | None = None
        """Where it last captured a candidate's output (its spool is there): see `evaluate_captured`."""


class ChildSupervisor(ABC):
    """Runs a batch of candidates on child processes, one candidate per child at a time.

    Subclasses implement `start_task` and usually `after_task`, `replace`, `on_control` and
    `on_idle_exit`; call `watch(child)` for each child started and `retire(child)` to end one.
    """

    clock_on_start = True
    """True: a candidate's `task_timeout` clock starts when it is handed to a child. False: it
    starts when the worker says so (`start_clock`, e.g. on a child's "started" message)."""

    def __init__(self, worker_name: str) -> None:
        self.worker_name = worker_name
        self.selector = selectors.DefaultSelector()
        self.params_pool: list[ParamArg] | dict[int, ParamArg] = []
        self.params_ids: list[int | str] | dict[int, int | str] = []
        self.num_objectives = 1
        self.timeout: float | None = None
        self.busy: dict[int, Child] = {}
        self._queue: deque[int] = deque()
        """Candidates (keys) waiting for a free child, in order."""
        self.run_folder: Path | None = None
        """Where candidates' output is captured (`logs/<param_id>.txt`), or None: see `output_folder`."""
        self.memory_limit: int | None = None
        """Bytes each candidate may allocate (`memory_limit=` of `start()`), or None."""
        self._worker: BaseWorker | None = None
        """The worker `configure` was given: its `deliver_all` hands over the Scores of one round together."""

    # -- what a worker provides --------------------------------------------------------------

    @abstractmethod
    def start_task(self, key: int) -> Child | None:
        """Put candidate `key` (an index into `params_pool`) on a child; return that child, or
        None when no child can take one now (the loop waits for an event and asks again)."""

    def after_task(self, child: Child) -> None:
        """`child` delivered its result: make it available again, or retire it. Default: retire."""
        self.retire(child)

    def replace(self, child: Child) -> None:  # noqa: B027 - optional hook
        """`child` was retired after a crash or a timeout: start another in its place (or free its slot)."""

    def on_control(self, child: Child, data: bytes) -> None:  # noqa: B027 - optional hook
        """A message from `child` that is not a result. Default: ignored."""

    def on_idle_exit(self, child: Child, exitcode: int | None) -> None:  # noqa: B027 - optional hook
        """`child` died while running no candidate (starting up, loading); it is already retired
        and replaced. Raise here to stop the search. Default: nothing."""

    def on_interrupt(self, children: list[Child]) -> None:  # noqa: B027 - optional hook
        """The loop is being left by an exception; `children` (busy ones) were just SIGKILLed."""

    # -- tools -------------------------------------------------------------------------------

    def watch(self, child: Child) -> None:
        """Start watching `child`'s pipe and exit."""
        self.selector.register(child.conn.fileno(), selectors.EVENT_READ, (child, "conn"))
        self.selector.register(child.process.sentinel, selectors.EVENT_READ, (child, "exit"))

    def retire(self, child: Child) -> int | None:
        """Kill `child`'s process group (before reaping, so the group id is still its own), reap
        it, close its pipe and return its exit code; its spool becomes the log of the candidate it
        was running, if any, or is removed (see `evaluate_captured`). Safe to call twice."""
        from compileiq.processes import kill_group

        if child.retired:
            code: int | None = child.process.exitcode
            return code
        child.retired = True
        for fd in (child.conn.fileno(), child.process.sentinel):
            try:  # before any fd closes: children hold copies, so epoll would keep stale entries
                self.selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        kill_group(child.process.pid)
        child.process.join()
        child.conn.close()
        self._settle_spool(child)
        exitcode: int | None = child.process.exitcode
        return exitcode

    def _settle_spool(self, child: Child) -> None:
        """`child` is gone: keep the output of the candidate it was running (its log), remove its spool."""
        if child.run_folder is None:
            return
        from compileiq._output import log_metadata, remove_spool

        pid = child.process.pid
        if child.task is not None and self.run_folder is not None:
            try:
                param_id = self.params_ids[child.task]
            except (IndexError, KeyError):
                pass
            else:
                log_metadata(self.run_folder, param_id, pid=pid)
        remove_spool(child.run_folder, pid)

    def raise_if_refused(self) -> None:
        """Raise `RecursiveSearchError` if a child refused to start a Search (an unguarded
        script): the search stops at once with the child's words. Called after any failure."""
        from compileiq._nesting import guard_report
        from compileiq.errors import RecursiveSearchError

        message = guard_report()
        if message:
            raise RecursiveSearchError(message)

    def start_clock(self, child: Child) -> None:
        """Start `child`'s `task_timeout` clock now (for `clock_on_start = False`)."""
        if self.timeout and child.task is not None:
            child.deadline = time.monotonic() + self.timeout

    def close(self) -> None:
        """Release the selector (children are the worker's to stop)."""
        self.selector.close()

    def configure(self, worker: BaseWorker, options: dict[str, Any]) -> None:
        """Read the options of `Search.start()` this loop handles: `capture_output` (see
        `output_folder`) and `memory_limit` (see `parse_memory_limit`)."""
        from compileiq._memory import parse_memory_limit
        from compileiq._output import output_folder

        self.run_folder = output_folder(worker, options)
        self.memory_limit = parse_memory_limit(options.get("memory_limit"))
        self._worker = worker

    # -- the loop ----------------------------------------------------------------------------

    def run_for(
        self, worker: BaseWorker, params_pool: list[ParamArg], params_ids: list[int | str], num_objectives: int,
        timeout: float | None,
    ) -> list[Score]:
        """What a worker's `run()` returns: the baseline first when `worker` normalizes and has
        none yet (measured here, reported, kept on the worker), then every candidate's Score."""
        out = worker.ensure_baseline(
            lambda: self.supervise([dict(BASELINE_CONFIG)], ["baseline"], num_objectives, timeout, worker.deliver)[0])
        return out + self.supervise(params_pool, params_ids, num_objectives, timeout, worker.deliver)

    # -- submissions (the worker submission contract, for asynchronous scheduling) -----------

    def open_stream(self, num_objectives: int, timeout: float | None, deliver: Callable[[Score], Score]) -> None:
        """Start taking single candidates (`submit_one`) and handing back their Scores as they
        finish (`collect_some`), with the same timeout, crash and interrupt handling as `supervise`."""
        self._stream_params: dict[int, ParamArg] = {}
        self._stream_ids: dict[int, int | str] = {}
        self.params_pool, self.params_ids = self._stream_params, self._stream_ids  # keyed like the batch lists
        self.num_objectives, self.timeout = num_objectives, timeout
        self.busy = {}
        self._queue = deque()
        self._streaming = True
        self._stream_scores: list[Score] = []
        self._stream_deliver = deliver
        self._stream_next = 0

    def submit_one(self, params: ParamArg, param_id: int | str) -> None:
        """Queue one candidate; it starts at once if a child can take it."""
        key = self._stream_next
        self._stream_next += 1
        self._stream_params[key], self._stream_ids[key] = params, param_id
        self._queue.append(key)
        self._start_pending()

    def _start_pending(self) -> None:
        """Put queued candidates on free children, in order, until either runs out."""
        pending, timeout = self._queue, self.timeout
        while pending:
            try:
                child = self.start_task(pending[0])
            except Exception:
                self.raise_if_refused()
                raise
            if child is None:
                break
            child.task = key = pending.popleft()
            if self.run_folder is not None:
                child.run_folder = self.run_folder
            child.deadline = time.monotonic() + timeout if timeout and self.clock_on_start else None
            self.busy[key] = child

    def collect_some(self, timeout: float | None) -> list[Score]:
        """The Scores finished since the last call; waits up to `timeout` s (None: until one
        finishes) when none is ready; [] when nothing is in flight or the wait ran out."""
        scores, deliver = self._stream_scores, self._stream_deliver
        end = None if timeout is None else time.monotonic() + timeout
        try:
            while not scores and (self._queue or self.busy):
                self._start_pending()
                deadlines = [c.deadline for c in self.busy.values() if c.deadline is not None]
                now = time.monotonic()
                limits = [max(0.0, d - now) for d in deadlines] + ([max(0.0, end - now)] if end is not None else [])
                self._round(self.selector.select(min(limits) if limits else None), bool(deadlines), scores, deliver)
                if end is not None and time.monotonic() >= end:
                    break
            self._start_pending()
        except BaseException:
            self.cancel_stream()  # interrupted or broken: nothing busy may outlive this call
            raise
        out, self._stream_scores = list(scores), []
        for score in out:  # finished: forget its candidate
            key = next((k for k, pid in self._stream_ids.items() if pid == score.param_id), None)
            if key is not None and key not in self.busy:
                del self._stream_params[key], self._stream_ids[key]
        return out

    def cancel_stream(self) -> None:
        """Drop queued candidates and kill (then replace) every busy child; their Scores never come."""
        if not getattr(self, "_streaming", False):
            return
        self._queue.clear()
        children = list(self.busy.values())
        self.busy.clear()
        for child in children:
            self.retire(child)
            child.task = None
            self.replace(child)
        self.on_interrupt(children)
        self._stream_scores = []

    def supervise(
        self,
        params_pool: list[ParamArg],
        params_ids: list[int | str],
        num_objectives: int,
        timeout: float | None,
        deliver: Callable[[Score], Score],
    ) -> list[Score]:
        """Evaluate every candidate; returns their Scores in completion order, each passed
        through `deliver` (the worker's `deliver`) the moment it is known."""
        self.params_pool, self.params_ids = params_pool, params_ids
        self.num_objectives, self.timeout = num_objectives, timeout
        pending = self._queue = deque(range(len(params_pool)))
        busy = self.busy = {}
        scores: list[Score] = []
        monotonic = time.monotonic
        try:
            while pending or busy:
                self._start_pending()
                deadlines = [c.deadline for c in busy.values() if c.deadline is not None]
                wait_s = max(0.0, min(deadlines) - monotonic()) if deadlines else None
                self._round(self.selector.select(wait_s), bool(deadlines), scores, deliver)
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM) or broken: nothing busy may outlive this call.
            from compileiq.processes import kill_group

            children = list(busy.values())
            for child in children:
                kill_group(child.process.pid)
            self.on_interrupt(children)
            if self.run_folder is not None:  # killed: what they printed is kept in their candidates' logs
                from compileiq._output import log_metadata

                for child in children:
                    if child.task is not None:
                        log_metadata(self.run_folder, self.params_ids[child.task], pid=child.process.pid)
            raise
        return scores

    def _round(self, events: list[tuple[Any, int]], deadlines: bool, scores: list[Score],
               deliver: Callable[[Score], Score]) -> None:
        """Handle one wake-up's events (and passed deadlines), then deliver the Scores they
        produced, together (one journal transaction when the worker's own `deliver` is used)."""
        finished: list[Score] = []
        heard: set[int] = set()  # children read from in this round
        try:
            while True:
                for selected, _ in events:
                    child, what = selected.data
                    heard.add(id(child))
                    if not child.retired:
                        self._on_event(child, what, finished)
                if deadlines:
                    self._enforce_deadlines(finished)
                # Results that came in meanwhile join this delivery (their children took new
                # candidates already), up to a bound: quick candidates share one journal transaction.
                # A child already heard from waits for the next round, so each child has at most
                # one finished result unrecorded at any time (what a kill of the driver can lose).
                if not finished or len(finished) >= _ROUND_LIMIT:
                    break
                events = [e for e in self.selector.select(0) if id(e[0].data[0]) not in heard]
                if not events:
                    break
        finally:
            if finished:
                worker = self._worker
                if len(finished) > 1 and worker is not None and deliver == worker.deliver:
                    scores.extend(worker.deliver_all(finished))
                else:
                    scores.extend(deliver(score) for score in finished)

    def _on_event(self, child: Child, what: str, finished: list[Score]) -> None:
        dead = what == "exit"
        messages: list[bytes] = []
        try:
            if what == "conn":
                messages.append(child.conn.recv_bytes())
            else:  # it exited: take any last message first
                while child.conn.poll():
                    messages.append(child.conn.recv_bytes())
        except (EOFError, OSError):
            dead = True
        for data in messages:
            if child.retired:
                return
            if data[:1] != _PICKLE:
                self.on_control(child, data)
                continue
            key = child.task
            if key is None:
                continue  # nothing asked for it (cannot happen with a well-behaved child)
            value, meta = pickle.loads(data)
            del self.busy[key]
            child.task = child.deadline = None
            score = Score(score=value, param_id=self.params_ids[key], params=self.params_pool[key],
                          num_objectives=self.num_objectives, metadata=meta)
            if score.failed:
                self.raise_if_refused()
            finished.append(score)
            if score.failed and is_out_of_memory(score):  # its heap may be in any state: replace it
                self.retire(child)
                self.replace(child)
            else:
                self.after_task(child)
                self._start_pending()  # the freed child works while this Score is recorded
        if dead and not child.retired:
            self._on_death(child, finished)

    def _on_death(self, child: Child, finished: list[Score]) -> None:
        wait([child.process.sentinel], EXIT_WAIT_S)  # its pipe closed: let it finish exiting
        pid = child.process.pid
        code = self.retire(child)
        self.raise_if_refused()
        key = child.task
        if key is None:
            self.replace(child)  # keep the pool whole for the error and for close()
            self.on_idle_exit(child, code)
            return
        del self.busy[key]
        child.task = None
        reason = crash_reason(code)
        if self.memory_limit and code is not None and code < 0:
            from compileiq._memory import describe_bytes

            reason += f"; memory_limit={describe_bytes(self.memory_limit)} was set: out of memory?"
        finished.append(failed_score(
            self.params_ids[key], self.params_pool[key], self.num_objectives, "crash", reason,
            worker=self.worker_name, pid=pid, exitcode=code, **child.meta, **self._log_of(key, child),
        ))
        self.replace(child)

    def _log_of(self, key: int, child: Child) -> dict[str, str]:
        from compileiq._output import log_metadata

        return log_metadata(self.run_folder, self.params_ids[key], pid=child.process.pid)

    def _enforce_deadlines(self, finished: list[Score]) -> None:
        now = time.monotonic()
        for key, child in list(self.busy.items()):
            if child.deadline is None or now < child.deadline:
                continue
            deadline, pid = child.deadline, child.process.pid
            self.retire(child)
            del self.busy[key]
            child.task = None
            finished.append(timeout_score(
                self.params_pool[key], param_id=self.params_ids[key], num_objectives=self.num_objectives,
                timeout=self.timeout or 0.0, worker=self.worker_name, pid=pid,
                kill_latency_s=round(time.monotonic() - deadline, 6), **child.meta, **self._log_of(key, child),
            ))
            self.replace(child)
