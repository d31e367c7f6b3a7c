"""The process toolkit for process-based workers: what a worker that runs candidates in child
processes needs, public and versioned with the core.

- start-method choice (`start_method`, `process_class`);
- the objective sent by value or by reference (`serialize_objective`, `load_objective`;
  cloudpickle is imported only when called);
- a child's set-up (`child_init`: own session, death signal, GPU and CPU pinning) and its end
  (`kill_group`), the slots' GPUs and cores (`resolve_gpus`, `resolve_cpus`);
- SIGTERM as a clean exit while a search runs (`SigtermAsExit`);
- exit-code and signal wording (`crash_reason`);
- no recursive searches: `start_process` marks a child as compileiq's before its first line
  runs, so a `Search.start()` there raises `RecursiveSearchError` (an unguarded script
  re-imported by a spawn child, say) and leaves its message for the parent (`guard_report`);
- each candidate's output in the run folder, capped, tail kept (`evaluate_captured`,
  `output_folder`, `log_metadata`, `spool_path`, `remove_spool`);
- a per-candidate memory limit (`parse_memory_limit`, `memory_limit`; a candidate over it
  scores INVALID "out of memory");
- the timeout / crash / kill loop itself (`ChildSupervisor`, `Child`), which the multiprocess and
  isolated workers both build on.

Nothing here runs at import, and `import compileiq` does not import this module.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from compileiq._memory import (
    describe_bytes,
    is_out_of_memory,
    memory_limit,
    out_of_memory_score,
    parse_memory_limit,
)
from compileiq._nesting import (
    guard_report,
    in_worker_process,
    loading_objective,
    mark_worker_process,
    worker_environment,
)
from compileiq._output import (
    LOG_LIMIT_BYTES,
    capture_output,
    evaluate_captured,
    log_metadata,
    log_path,
    output_folder,
    release_output,
    remove_spool,
    spool_path,
    trim_log,
)
from compileiq._supervisor import EXIT_WAIT_S, Child, ChildSupervisor, send_result
from compileiq.errors import RecursiveSearchError
from compileiq.evaluation import crash_reason

__all__ = [
    "EXIT_WAIT_S",
    "LOG_LIMIT_BYTES",
    "Child",
    "ChildSupervisor",
    "RecursiveSearchError",
    "ScriptObjective",
    "SigtermAsExit",
    "capture_output",
    "child_init",
    "crash_reason",
    "describe_bytes",
    "evaluate_captured",
    "guard_report",
    "in_worker_process",
    "is_out_of_memory",
    "kill_group",
    "load_objective",
    "loading_objective",
    "log_metadata",
    "log_path",
    "mark_worker_process",
    "memory_limit",
    "out_of_memory_score",
    "output_folder",
    "parse_memory_limit",
    "preload_child_support",
    "process_class",
    "release_output",
    "remove_spool",
    "resolve_cpus",
    "resolve_gpus",
    "send_result",
    "serialize_objective",
    "spool_path",
    "start_method",
    "start_process",
    "trim_log",
    "worker_environment",
]

_MODES = ("fork", "forkserver", "spawn")


def start_method(default: str = "forkserver") -> str:
    """The start method named by `CIQ_PROCESS_MODE` (or `default`), checked against this platform."""
    mode = os.environ.get("CIQ_PROCESS_MODE", "").strip().lower() or default
    available = [m for m in _MODES if m in multiprocessing.get_all_start_methods()]
    if mode not in available:
        raise ValueError(
            f"CIQ_PROCESS_MODE={mode!r} is not a start method available here; expected one of "
            f"{available}. Set CIQ_PROCESS_MODE to one of those, or unset it for {default!r}."
        )
    return mode


def serialize_objective(function: Callable[..., Any]) -> bytes:
    """Pickle `function` for a worker process: by reference when importable, else by value.

    Functions of the user's script (`__main__`), notebooks, lambdas and closures travel by value
    (cloudpickle), so children never re-import the user's script to find them. A function of a
    script that cannot travel by value (a global it uses cannot be pickled: a ctypes pointer, a
    lock, an XGBoost DMatrix) travels as a `ScriptObjective`: each child runs the script, as the
    standard library's spawn does, and builds its own copy of those globals (safe: a script
    without an `if __name__ == "__main__":` guard is refused there with RecursiveSearchError).
    Raises TypeError naming the objective when it cannot be sent at all.
    """
    import cloudpickle

    try:
        data: bytes = cloudpickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        return data
    except Exception as exc:
        script = ScriptObjective.of(function)
        if script is not None:
            return pickle.dumps(script, protocol=pickle.HIGHEST_PROTOCOL)
        raise TypeError(
            f"objective_function {function!r} cannot be pickled to send it to worker processes "
            f"({type(exc).__name__}: {exc}). It (or a global or closure variable it uses) holds "
            "something that cannot cross processes, such as a lock, an open file or a connection. "
            "Create that object inside the objective, or use worker_type='sequential'."
        ) from exc


class ScriptObjective:
    """A function of the user's script, found again in a child by running the script there
    under the name `__mp_main__` (so its `if __name__ == "__main__":` block does not run)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name

    @classmethod
    def of(cls, function: Callable[..., Any]) -> ScriptObjective | None:
        """The reference for `function` when it is a top-level function of a script run as
        `__main__` (not a notebook, not a nested function); else None."""
        name = getattr(function, "__qualname__", "")
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        if getattr(function, "__module__", None) != "__main__" or not path or not name or "." in name:
            return None
        if getattr(main, name, None) is not function:
            return None
        return cls(os.path.abspath(path), name)

    def load(self) -> Callable[..., Any]:
        """Run the script as `__mp_main__` in this process (once) and return the function."""
        import runpy
        import types

        module = sys.modules.get("__mp_main__")
        if module is None or getattr(module, "__file__", None) != self.path:
            module = types.ModuleType("__mp_main__")
            module.__file__ = self.path
            sys.modules["__mp_main__"] = module  # the script's own pickles by reference find it
            module.__dict__.update(runpy.run_path(self.path, run_name="__mp_main__"))
        found: Callable[..., Any] = getattr(module, self.name)
        return found

    def __repr__(self) -> str:
        return f"ScriptObjective({self.path!r}, {self.name!r})"


def load_objective(blob: bytes) -> Callable[..., Any]:
    """The objective back from `serialize_objective` (in the child)."""
    obj = pickle.loads(blob)
    return obj.load() if isinstance(obj, ScriptObjective) else obj


_LIBC: Any = None


def preload_child_support() -> None:
    """Load what `child_init` needs (libc through ctypes) in the parent, so forked children skip it."""
    global _LIBC
    if _LIBC is None and sys.platform.startswith("linux"):
        try:
            import ctypes

            _LIBC = ctypes.CDLL(None, use_errno=True)
        except OSError:  # pragma: no cover
            _LIBC = False


def _set_parent_death_signal() -> None:
    """Linux: SIGKILL this process when its parent dies (a killed driver leaves no orphans)."""
    preload_child_support()
    if not _LIBC:
        return
    try:
        _LIBC.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except AttributeError:  # pragma: no cover - no prctl: the pipe EOF still ends us
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def start_process(process: Any) -> None:
    """`process.start()`, the child marked as one compileiq started (see `worker_environment`):
    a Search it (or a script it imports) tries to start is refused with `RecursiveSearchError`."""
    with worker_environment():
        process.start()


def _watch_driver() -> None:
    """End this child's group when the driver dies, where the death signal cannot see it.

    A forkserver child's parent is the fork server, and the server outlives a SIGKILLed driver
    while any of its children runs (each holds the server's liveness pipe): a child busy with a
    hung evaluation would keep both alive. `parent_process()` is the driver itself (its sentinel
    closes when the driver dies), so a daemon thread waits on it.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid == os.getppid():
        return  # fork and spawn children: the death signal covers them

    def watch() -> None:
        parent.join()
        try:
            if os.getpgrp() == os.getpid():  # our own group (child_init's setsid): what we started too
                os.killpg(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="compileiq-driver-watch", daemon=True).start()


def child_init(env: dict[str, str] | None = None, cpus: Sequence[int] | None = None) -> None:
    """First thing a worker child does: own session (so its group can be killed), death signal,
    the worker-process mark, environment (e.g. CUDA_VISIBLE_DEVICES) and CPU pinning."""
    mark_worker_process()
    try:
        os.setsid()
    except OSError:  # already a group leader
        pass
    _set_parent_death_signal()
    _watch_driver()
    if env:
        os.environ.update(env)
    if cpus:
        os.sched_setaffinity(0, set(cpus))


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid` (the child and whatever it started), else `pid`.

    Call it only while `pid` is not yet reaped, so the group id cannot have been reused.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
        return
    except (ProcessLookupError, PermissionError):
        pass  # not (yet) a group leader
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _gpus_from_system() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    ids = []
    for line in out.splitlines():
        head = line.split(":", 1)[0].strip()
        if head.startswith("GPU ") and head[4:].strip().isdigit():
            ids.append(head[4:].strip())
    return ids


def resolve_gpus(gpus: Any, num_slots: int) -> list[str] | None:
    """The GPU id of each of `num_slots` slots for the `gpus=` option, or None when not asked.

    `gpus` is a list of ids (ints or strings), a string "0,1", one int, or "all" (the devices in
    CUDA_VISIBLE_DEVICES, else those `nvidia-smi -L` lists). Slot i gets `ids[i % len(ids)]`.
    """
    if gpus is None or gpus is False:
        return None
    if isinstance(gpus, str) and gpus.strip().lower() == "all":
        ids = _gpus_from_system()
        if not ids:
            raise ValueError(
                "gpus='all' found no GPU: CUDA_VISIBLE_DEVICES is unset (or empty) and `nvidia-smi -L` "
                "listed none. Pass the ids explicitly, e.g. gpus=[0, 1], or leave gpus unset."
            )
    elif isinstance(gpus, str):
        ids = [g.strip() for g in gpus.split(",") if g.strip()]
    elif isinstance(gpus, int) and not isinstance(gpus, bool):
        ids = [str(gpus)]
    elif isinstance(gpus, (list, tuple)) and all(
        (isinstance(g, int) and not isinstance(g, bool)) or (isinstance(g, str) and g.strip()) for g in gpus
    ):
        ids = [str(g).strip() for g in gpus]
    else:
        ids = []
    if not ids:
        raise ValueError(
            f"gpus={gpus!r} is not usable; expected a list of GPU ids such as [0, 1] (ints or strings), "
            "a string like '0,1', or 'all'."
        )
    if num_slots > len(ids):
        warnings.warn(
            f"num_workers={num_slots} is more than the {len(ids)} GPU(s) given (gpus={ids}); slots share "
            "GPUs round-robin. Pass num_workers equal to the number of GPUs for one GPU per slot.",
            UserWarning,
            stacklevel=4,
        )
    return [ids[i % len(ids)] for i in range(num_slots)]


def resolve_cpus(cpu_affinity: Any, num_slots: int) -> list[list[int]] | None:
    """The CPU cores each slot is pinned to for the `cpu_affinity=` option, or None when not asked.

    True pins slot i to the i-th usable core (round-robin); a list of ints gives one core per
    slot; a list of lists gives each slot a set of cores.
    """
    if cpu_affinity is None or cpu_affinity is False:
        return None
    if not hasattr(os, "sched_setaffinity"):
        raise ValueError(f"cpu_affinity={cpu_affinity!r} needs os.sched_setaffinity, which this platform lacks.")
    if cpu_affinity is True:
        cores = sorted(os.sched_getaffinity(0))
        return [[cores[i % len(cores)]] for i in range(num_slots)]
    if isinstance(cpu_affinity, (list, tuple)) and cpu_affinity:
        sets: list[list[int]] = []
        for item in cpu_affinity:
            cores_of = [item] if isinstance(item, int) and not isinstance(item, bool) else item
            if not isinstance(cores_of, (list, tuple, set)) or not cores_of or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in cores_of
            ):
                sets = []
                break
            sets.append(sorted(cores_of))
        if sets:
            return [sets[i % len(sets)] for i in range(num_slots)]
    raise ValueError(
        f"cpu_affinity={cpu_affinity!r} is not usable; expected True (one core per slot), a list of core "
        "numbers (one per slot) or a list of lists of core numbers."
    )


class SigtermAsExit:
    """While installed, SIGTERM raises SystemExit(143) in the main thread instead of killing it.

    The exception unwinds through the worker, whose `close()` then ends every child. Installed
    only from the main thread and only over the default handler; `restore()` puts it back.
    """

    def __init__(self) -> None:
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if self._installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return
        self._previous = signal.signal(signal.SIGTERM, _raise_exit)
        self._installed = True

    def restore(self) -> None:
        if not self._installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _raise_exit:
            signal.signal(signal.SIGTERM, self._previous)
        self._installed = False


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def process_class(mode: str, preload: Iterable[str] = ()) -> Any:
    """The Process class for `mode`. For forkserver, one whose children do not re-import the
    user's script: the objective travels by value, so they never need its `__main__`.

    `preload` names modules the fork server imports once when it starts (e.g. the module that
    holds your child's main function), so each child starts with them already imported.
    (The stdlib's forkserver children re-run the parent's main script, as `__mp_main__`, in
    every process they start; with a heavy script that costs seconds per process.)
    """
    if mode == "forkserver":
        try:
            from compileiq._forkserver import NoMainForkServerProcess, preload_in_forkserver

            for module in preload:
                preload_in_forkserver(module)
            return NoMainForkServerProcess
        except (ImportError, AttributeError):  # pragma: no cover - a Python without these internals
            pass
    return multiprocessing.get_context(mode).Process  # type: ignore[attr-defined]
