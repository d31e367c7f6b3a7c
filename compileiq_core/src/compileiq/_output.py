"""Each candidate's output (stdout and stderr, its compilers' included) in the run folder.

Public through `compileiq.processes`. A process worker's child calls `evaluate_captured`: the
child's file descriptors 1 and 2 point at a file in `<run folder>/logs/` while the objective
runs, so a flood of output never blocks on a pipe nor fills memory; the file is capped at
`LOG_LIMIT_BYTES`, its tail kept (a failed build's last lines are what explains it). The Score's
metadata gets `log`: the path relative to the run folder. An empty log is not kept.

That file is the process's spool, `logs/.running-<pid>.txt`, opened once per process and emptied
before each candidate (when not empty already): a candidate that prints nothing costs two stats
and the redirections, no file made or removed. One that prints has the spool renamed to
`logs/<param_id>.txt` (the next candidate opens a fresh spool). A pool process that runs
candidate after candidate can leave the redirection in place after a quiet one
(`evaluate_captured(hold=True)`): the next candidate then costs only the two stats;
`release_output()` undoes it before the process does anything else (loading an objective,
exiting). When a child is killed mid-candidate, its parent moves the spool into that
candidate's log (`log_metadata(..., pid=)`) and removes the spool of a child that ended
(`remove_spool`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from compileiq._memory import is_out_of_memory, memory_limit, out_of_memory_score
from compileiq.evaluation import evaluate
from compileiq.score import ParamArg, Score

__all__ = ["LOG_LIMIT_BYTES", "LOG_SLACK_BYTES", "capture_output", "evaluate_captured", "log_metadata", "log_path",
           "output_folder", "release_output", "remove_spool", "spool_path", "trim_log"]

LOG_LIMIT_BYTES = 1 << 20
"""What a candidate's log keeps: its last 1 MiB."""
LOG_SLACK_BYTES = 16 << 20
"""How far a log may grow past the limit while its candidate runs before it is cut back."""
_CHECK_S = 0.05
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def log_path(run_folder: str | os.PathLike[str], param_id: int | str) -> Path:
    """`<run_folder>/logs/<param_id>.txt` (characters unsafe in a file name replaced by `_`)."""
    return Path(run_folder) / "logs" / _log_name(param_id)


def spool_path(run_folder: str | os.PathLike[str], pid: int) -> Path:
    """`<run_folder>/logs/.running-<pid>.txt`: where process `pid` captures the output of the
    candidate it is running (see `evaluate_captured`)."""
    return Path(run_folder) / "logs" / _spool_name(pid)


def _spool_name(pid: int) -> str:
    return f".running-{pid}.txt"


def _log_name(param_id: int | str) -> str:
    return _UNSAFE.sub("_", str(param_id))[:120] + ".txt"


def _header(dropped: int) -> bytes:
    return f"[compileiq: the first {dropped} bytes of output were dropped; the last ones follow]\n".encode()


def trim_log(path: str | os.PathLike[str], limit: int = LOG_LIMIT_BYTES) -> int | None:
    """Cut `path` to its last `limit` bytes, after a line saying how many bytes of output were
    dropped in all; remove it when empty. Returns its size, or None when there is no log left.

    Safe while writers append to it (O_APPEND): what they add between the last read and the cut
    (microseconds) is lost, the rest goes on at the new end."""
    path = Path(path)
    try:
        fh = open(path, "r+b")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            path.unlink(missing_ok=True)
            return None
        if size <= limit:
            return size
        first = fh.readline(200)
        match = _HEADER.match(first)
        header, before = (len(first), int(match.group(1))) if match else (0, 0)
        start = max(header, size - limit)
        fh.seek(start)
        tail = fh.read()  # to the current end, which may have grown since the stat
        if len(tail) > limit:
            start, tail = start + len(tail) - limit, tail[-limit:]
        fh.seek(0)
        end = os.fstat(fh.fileno()).st_size  # what writers added since the read is dropped too
        fh.write(_header(before + end - header - len(tail)) + tail)
        fh.truncate()
        return fh.tell()


_HEADER = re.compile(rb"\[compileiq: the first (\d+) bytes")


class _Cap:
    """One daemon thread per process that keeps the current candidate's log near its limit while a
    flood goes on (writers use O_APPEND, so after the file is cut they go on at its new end).

    Started once, not per candidate: a thread per candidate would cost more than a quick objective."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.target: tuple[int, str, int] | None = None
        self.pid = os.getpid()
        threading.Thread(target=self._watch, daemon=True, name="compileiq-log-cap").start()

    def _watch(self) -> None:
        while True:
            time.sleep(_CHECK_S)
            with self.lock:
                if self.target is None:
                    continue
                fd, path, limit = self.target
                try:
                    if os.fstat(fd).st_size > limit + LOG_SLACK_BYTES:
                        trim_log(path, limit)
                except OSError:
                    pass


_cap: _Cap | None = None
_streams: tuple[Any, Any] | None = None
"""Text streams on file descriptors 1 and 2, made once per process (the descriptors are redirected)."""
_made: set[str] = set()
_spool: tuple[int, str, str, str | os.PathLike[str]] | None = None
"""This process's spool: its descriptor, path, folder and run folder (see the module's docstring), or None."""
_held: tuple[int, int, tuple[int, int, Any, Any]] | None = None
"""A redirection left on the spool after a quiet candidate (`evaluate_captured(hold=True)`): the
spool's descriptor, the cap's limit and what `_restore` needs; None when output goes where it did."""


def _process_cap() -> _Cap:
    global _cap, _streams, _spool, _held
    if _cap is None or _cap.pid != os.getpid():  # none yet, or a fork's copy whose thread did not survive
        if _held is not None:  # the parent held its spool on 1 and 2: give this process the parent's own back
            undo = _held[2]
            _held = None
            sys.stdout, sys.stderr = undo[2], undo[3]
            os.dup2(undo[0], 1)
            os.dup2(undo[1], 2)
            os.close(undo[0])
            os.close(undo[1])
        _cap = _Cap()
        _streams = (open(1, "w", closefd=False, errors="backslashreplace"),  # noqa: SIM115 - kept for the process
                    open(2, "w", closefd=False, errors="backslashreplace", buffering=1))  # noqa: SIM115
        _made.clear()
        if _spool is not None:  # the parent's: left to it
            os.close(_spool[0])
            _spool = None
    return _cap


@contextmanager
def capture_output(path: str | os.PathLike[str], limit: int = LOG_LIMIT_BYTES) -> Iterator[Path]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so subprocesses too) to
    `path` for the duration of the block, then cap it at `limit` bytes (tail kept); an empty log
    is removed."""
    with _capture(os.fspath(path), limit):
        yield Path(path)


class _Kept:
    """What `_capture` left: whether the log holds anything."""

    kept = False


@contextmanager
def _capture(path: str, limit: int) -> Iterator[_Kept]:
    """`capture_output` on plain strings."""
    cap = _process_cap()
    release_output()
    _ensure_folder(os.path.dirname(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    result = _Kept()
    try:
        with _redirected(cap, fd, path, limit):
            yield result
    finally:
        size = os.fstat(fd).st_size
        os.close(fd)
        if size == 0:
            os.unlink(path)
        else:
            result.kept = True
            if size > limit:
                result.kept = trim_log(path, limit) is not None


def _spool_in(run_folder: str | os.PathLike[str]) -> tuple[int, str, str]:
    """This process's spool in `run_folder`'s logs (descriptor, path, logs folder), emptied: what
    a stray writer (a quiet candidate's leftover subprocess) added since the last candidate is dropped."""
    spool = _spool
    if spool is None or spool[3] != run_folder:
        spool = _open_spool(run_folder)
    if os.fstat(spool[0]).st_size:  # a stat, not a truncate, when it is empty: the usual case, cheaper on ext4
        os.ftruncate(spool[0], 0)
    return spool[0], spool[1], spool[2]


def _keep_spool(fd: int, spool: str, folder: str, param_id: int | str, limit: int) -> str | None:
    """After a candidate: nothing when the spool is empty (None); else the spool becomes the
    candidate's log in `folder`, capped at `limit` (its file name; None if it could not be kept),
    and the next candidate opens a fresh spool."""
    global _spool
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    _spool = None
    name = _log_name(param_id)
    final = os.path.join(folder, name)
    kept = _keep(fd, spool, final)
    os.close(fd)
    if kept and size > limit:
        kept = trim_log(final, limit) is not None
    return name if kept else None


def _open_spool(run_folder: str | os.PathLike[str]) -> tuple[int, str, str, str | os.PathLike[str]]:
    """Open this process's spool in `run_folder`'s logs (closing and removing one it had
    elsewhere, empty)."""
    global _spool
    if _spool is not None:
        os.close(_spool[0])
        try:
            os.unlink(_spool[1])
        except OSError:
            pass
        _spool = None
    folder = os.path.join(os.fspath(run_folder), "logs")
    _ensure_folder(folder)
    path = os.path.join(folder, _spool_name(os.getpid()))
    # O_APPEND: writers go on at the new end after the cap thread or a truncate cut the file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    _spool = fd, path, folder, run_folder
    return _spool


def _keep(fd: int, spool: str, final: str) -> bool:
    """Make the spool (open as `fd`) the candidate's log `final`; copy it there when it cannot be
    renamed (removed meanwhile, say). False when the output could not be kept."""
    try:
        os.rename(spool, final)
        return True
    except OSError:
        pass
    _made.discard(os.path.dirname(final))
    try:
        _ensure_folder(os.path.dirname(final))
        with open(final, "wb") as out:
            offset = 0
            while chunk := os.pread(fd, 1 << 20, offset):
                out.write(chunk)
                offset += len(chunk)
        os.unlink(spool)
    except OSError:
        pass
    return os.path.exists(final)


def _ensure_folder(folder: str) -> None:
    if folder not in _made:
        os.makedirs(folder, exist_ok=True)
        _made.add(folder)


@contextmanager
def _redirected(cap: _Cap, fd: int, path: str, limit: int) -> Iterator[None]:
    """`_redirect` for the duration of the block."""
    undo = _redirect(cap, fd, path, limit)
    try:
        yield
    finally:
        _restore(cap, undo)


def _redirect(cap: _Cap, fd: int, path: str, limit: int) -> tuple[int, int, Any, Any]:
    """Point file descriptors 1 and 2 (and sys.stdout, sys.stderr) at `fd`, which `cap` keeps
    near `limit` (`path` is its name); returns what `_restore` needs. Plain functions, not a
    context manager: this runs once per candidate."""
    _flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # Python-level streams too: in a forked child they may be a notebook's or a test runner's.
    undo = saved[0], saved[1], sys.stdout, sys.stderr
    assert _streams is not None
    sys.stdout, sys.stderr = _streams
    with cap.lock:
        cap.target = (fd, path, limit)
    return undo


def _restore(cap: _Cap, undo: tuple[int, int, Any, Any]) -> None:
    _flush()
    sys.stdout, sys.stderr = undo[2], undo[3]
    with cap.lock:
        cap.target = None
    os.dup2(undo[0], 1)
    os.dup2(undo[1], 2)
    os.close(undo[0])
    os.close(undo[1])


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def evaluate_captured(
    function: Callable[[Any], Any],
    params: ParamArg,
    *,
    param_id: int | str,
    num_objectives: int,
    run_folder: str | os.PathLike[str] | None,
    limit: int = LOG_LIMIT_BYTES,
    memory: int | None = None,
    hold: bool = False,
    **metadata: Any,
) -> Score:
    """`compileiq.evaluation.evaluate` in a worker child, with the output captured in the run
    folder's `logs/<param_id>.txt` (metadata `log`, relative to the run folder, when anything
    was printed; without a `run_folder` output is left alone; while it runs, the output is in
    this process's spool `logs/.running-<pid>.txt`, see `spool_path`) and, when `memory` is given, at
    most that many bytes more of address space (`memory_limit`): going over it scores INVALID
    with failure "out_of_memory" (see `is_out_of_memory`: the child should then exit).

    `hold=True` (for a process that runs candidate after candidate): after a quiet candidate, file
    descriptors 1 and 2 (and `sys.stdout`, `sys.stderr`) stay on the spool, so the next call skips
    redirecting them again; call `release_output()` before the process does anything else whose
    output must be seen (loading code, exiting). Between candidates, what the process itself
    prints goes to the spool and is dropped when the next candidate starts."""
    if run_folder is None:
        release_output()
        with memory_limit(memory):
            score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **metadata)
        return out_of_memory_score(score, memory) if is_out_of_memory(score) else score
    global _held
    cap = _process_cap()
    held = _held
    if held is not None and (_spool is None or _spool[0] != held[0] or _spool[3] != run_folder or held[1] != limit):
        release_output()  # another run folder or limit: redirect afresh
        held = None
    fd, spool, folder = _spool_in(run_folder)
    if held is not None:  # still on this spool since the last (quiet) candidate
        _held, undo = None, held[2]
    else:
        undo = _redirect(cap, fd, spool, limit)
    try:
        if memory:
            with memory_limit(memory):
                score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **metadata)
        else:
            score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **metadata)
    except BaseException:
        _restore(cap, undo)
        raise
    if hold:
        _flush()
    else:
        _restore(cap, undo)
    name = _keep_spool(fd, spool, folder, param_id, limit)
    if hold:
        if name is None and _spool is not None and _spool[0] == fd:
            _held = fd, limit, undo  # quiet: the next candidate finds 1 and 2 on the spool already
        else:
            _restore(cap, undo)
    if is_out_of_memory(score):
        score = out_of_memory_score(score, memory)
    if name is not None:
        score.metadata = json.dumps({**score.metadata_dict, "log": "logs/" + name}, default=str)
    return score


def release_output() -> None:
    """Point file descriptors 1 and 2 (and `sys.stdout`, `sys.stderr`) back where they were when
    `evaluate_captured(hold=True)` left them on this process's spool; nothing otherwise."""
    global _held
    held = _held
    if held is None or _cap is None or _cap.pid != os.getpid():
        return
    _held = None
    _restore(_cap, held[2])


def log_metadata(run_folder: str | os.PathLike[str] | None, param_id: int | str,
                 limit: int = LOG_LIMIT_BYTES, *, pid: int | None = None) -> dict[str, str]:
    """Parent side, for a candidate whose process was killed or died: cap its log and return
    `{"log": ...}` when there is one (else {}). Given the dead process's `pid`, its spool (the
    output of the candidate it was running) becomes the candidate's log first; an empty spool
    is removed (and so is a log of the same name from an earlier evaluation)."""
    if run_folder is None:
        return {}
    path = log_path(run_folder, param_id)
    if pid is not None:
        spool = spool_path(run_folder, pid)
        try:
            if spool.stat().st_size > 0:
                spool.replace(path)
            else:
                spool.unlink()
                path.unlink(missing_ok=True)
                return {}
        except OSError:  # no spool: it never started one, or it had kept its log already
            pass
    if trim_log(path, limit) is None:
        return {}
    return {"log": path.relative_to(run_folder).as_posix()}


def remove_spool(run_folder: str | os.PathLike[str] | None, pid: int) -> None:
    """Parent side, once process `pid` has ended (exited, or killed and reaped): remove its spool
    (`spool_path`) if it left one. For a process killed while running a candidate, call
    `log_metadata(..., pid=pid)` first: it keeps that candidate's output."""
    if run_folder is not None:
        try:
            os.unlink(os.path.join(os.fspath(run_folder), "logs", _spool_name(pid)))
        except OSError:
            pass


def output_folder(worker: Any, options: dict[str, Any]) -> Path | None:
    """Where a process worker captures candidates' output: the worker's run folder, unless the
    search was started with `capture_output=False` (or the worker has no run folder)."""
    if not options.get("capture_output", True) or getattr(worker, "cache_folder", None) is None:
        return None
    return Path(worker.cache_folder)
