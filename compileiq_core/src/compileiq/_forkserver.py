"""A forkserver Process whose children skip re-importing the parent's `__main__` script.

Imported only when a forkserver process starts (and, to unpickle the process, in its children).
"""

from __future__ import annotations

import io
import os
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from typing import Any

_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


class NoMainPopen(popen_forkserver.Popen):
    """Launches like the stdlib's forkserver Popen, minus the "re-import __main__" instruction."""

    def _launch(self, process_obj: Any) -> None:
        prep = {k: v for k, v in spawn.get_preparation_data(process_obj._name).items() if k not in _MAIN_KEYS}
        payload = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep, payload)
            reduction.dump(process_obj, payload)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, data_w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        alive_w = os.dup(data_w)  # held open so the child can tell when this parent is gone
        self.finalizer = util.Finalize(self, util.close_fds, (alive_w, self.sentinel))  # type: ignore[attr-defined]
        with open(data_w, "wb", closefd=True) as stream:
            stream.write(payload.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class NoMainForkServerProcess(context.ForkServerProcess):
    """`multiprocessing`'s forkserver Process, started through `NoMainPopen`."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:  # noqa: N802 - the stdlib's hook name
        return NoMainPopen(process_obj)


def preload_in_forkserver(module: str) -> None:
    """Have the fork server import `module` when it starts (keeping what it already preloads but
    the user's script),
    so each process it forks starts with compileiq imported: milliseconds instead of ~100 ms.
    No effect once the fork server runs."""
    server = getattr(forkserver, "_forkserver", None)
    # Never `__main__`: the fork server would run an unguarded script's top level (its children
    # get the objective by value and do not need the script).
    current = [m for m in getattr(server, "_preload_modules", None) or [] if m != "__main__"]
    if module not in current and getattr(server, "_forkserver_pid", None) is None:
        forkserver.set_forkserver_preload([*current, module])
