"""Run folders: making one (with errors that say what is wrong with `cache_folder`), and one
driver per run folder: an advisory lock on `<run folder>/run.lock`, held while a search runs.

The lock is a `flock` on an open file: the kernel drops it when the process exits, however it
exits (SIGKILL included), so a dead driver never blocks `resume`. The file keeps the holder's
pid for the error message. Forked children close their copy at once (a child that outlives
a killed driver must not keep its run locked). Where `fcntl` is missing (Windows) no lock is
taken.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from compileiq.journal import JournalError, RunFolderError

__all__ = [
    "LOCK_NAME", "RunLock", "RunLockedError", "check_run_folder", "lock_holder", "make_run_folder", "run_is_live",
]

LOCK_NAME = "run.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

_held: dict[int, RunLock] = {}
_held_guard = threading.Lock()
_fork_hook_installed = False


class RunLockedError(JournalError):
    """Another live process is running this run folder's search."""


def _close_in_child() -> None:
    for lock in list(_held.values()):
        if lock._fd is not None:
            try:
                os.close(lock._fd)
            except OSError:
                pass
            lock._fd = None
    _held.clear()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def _locked_message(folder: Path, pid: int | None) -> str:
    who = f"process {pid}" if pid else "another process"
    return (
        f"The run folder {str(folder)!r} is in use by {who} (it holds {LOCK_NAME}); two drivers on one run "
        "would evaluate and journal its candidates twice. Wait for that search to end (or stop it), then "
        "resume; to run the same search again in parallel, start a new Search instead."
    )


class RunLock:
    """The exclusive lock of one run folder; `acquire()` it, `release()` it (also a context manager)."""

    def __init__(self, folder: Path, fd: int | None) -> None:
        self.folder = folder
        self._fd = fd

    @classmethod
    def acquire(cls, folder: str | Path) -> RunLock:
        """Lock `folder` for this process, or raise RunLockedError naming the holder's pid."""
        global _fork_hook_installed
        folder = Path(folder)
        if fcntl is None:  # pragma: no cover
            return cls(folder, None)  # type: ignore[unreachable]
        path = folder / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunFolderError(
                f"Cannot create the lock file {str(path)!r}: {exc}. Make the run folder writable, or pass "
                "Search(cache_folder=...) pointing at a writable folder."
            ) from None
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise RunLockedError(_locked_message(folder, pid)) from None
        except OSError as exc:  # a file system without locks: say so rather than run unguarded
            os.close(fd)
            raise RunFolderError(
                f"Cannot lock {str(path)!r} ({exc}); the run folder's file system does not support locks. "
                "Pass Search(cache_folder=...) on a local disk."
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid is only for messages; the lock itself is held
        lock = cls(folder, fd)
        with _held_guard:
            if not _fork_hook_installed and hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_close_in_child)
                _fork_hook_installed = True
            _held[fd] = lock
        return lock

    def release(self) -> None:
        """Drop the lock (the file stays, empty); safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with _held_guard:
            _held.pop(fd, None)
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _lock_exclusive(fd: int, patience: float = 0.05) -> None:
    """flock(LOCK_EX) without blocking on a driver, but waiting out readers' probes.

    `lock_holder` (listings, the dashboard) takes a shared lock for a few microseconds; a driver
    holds its lock for the whole search. Retrying for `patience` seconds tells the two apart.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def run_is_live(folder: str | Path, last_pid: int | None) -> bool:
    """Whether a run journaled as `running` still has its driver: the run lock says so where the
    folder has one, else (runs of versions before the lock) whether `last_pid` lives."""
    if (Path(folder) / LOCK_NAME).exists():
        return lock_holder(folder) is not None
    if not last_pid:
        return False
    try:
        os.kill(int(last_pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, OverflowError):
        return True
    return True


def lock_holder(folder: str | Path) -> int | None:
    """The pid holding `folder`'s run lock (0 when unknown), or None when nobody holds it."""
    if fcntl is None:  # pragma: no cover
        return None  # type: ignore[unreachable]
    path = Path(folder) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or 0
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _first_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path(path.anchor or ".")


def _folder_problem(run_folder: Path, base: Path | None, exc: OSError | None) -> str:
    """Why `run_folder` cannot be made or written, in words that point at `cache_folder`."""
    target = base if base is not None else run_folder
    blocker = _first_existing(target if exc is not None else run_folder)
    if not blocker.is_dir():
        return (f"{str(blocker)!r} is a file (or a broken link), not a folder, so {str(target)!r} cannot be a "
                "folder under it")
    code = exc.errno if exc is not None else None
    if code == errno.EROFS or (code is None and _read_only_fs(blocker)):
        return f"{str(blocker)!r} is on a read-only file system"
    if code == errno.ENOSPC:
        return f"the disk holding {str(blocker)!r} is full"
    if code in (errno.EACCES, errno.EPERM) or code is None:
        return f"{str(blocker)!r} is not writable by this user"
    return f"{exc}"


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def make_run_folder(run_folder: str | Path, cache_folder: str | Path | None = None) -> Path:
    """Create `run_folder` (and its parents) and check that it is writable; a RunFolderError says why not.

    `cache_folder` (the folder the user chose, run folders go under it) is named in the error.
    """
    folder = Path(run_folder)
    base = Path(cache_folder) if cache_folder is not None else None
    fix = ("Pass Search(cache_folder=...) pointing at a writable folder on a disk with room (the default is "
           "~/.cache/compileiq)" if base is not None else "Make it writable, or copy the run folder to a writable disk "
           "and resume the copy")
    where = f"cache_folder {str(base)!r}" if base is not None else f"run folder {str(folder)!r}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(
            f"Cannot create the run folder {str(folder)!r}: {_folder_problem(folder, base, exc)}. {fix}."
        ) from None
    _check_writable(folder, where, fix)
    return folder


def _check_writable(folder: Path, where: str, fix: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK) or _read_only_fs(folder):
        raise RunFolderError(f"The {where} is not usable: {_folder_problem(folder, None, None)}. {fix}.")


def check_run_folder(folder: str | Path) -> None:
    """Raise RunFolderError when an existing run folder cannot be written (a resume writes to it)."""
    folder = Path(folder)
    if folder.is_dir():
        _check_writable(folder, f"run folder {str(folder)!r}",
                        "Make it writable, or copy the run folder to a writable disk and resume the copy")
