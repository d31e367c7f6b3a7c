"""The loop a pool process runs: receive a task, evaluate it, send the result back."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from compileiq.processes import (
    child_init,
    evaluate_captured,
    is_out_of_memory,
    load_objective,
    release_output,
    send_result,
)

READY = b"R"
LOADED = b"F"
LOAD_FAILED = b"E"


def slot_main(conn: Connection, env: dict[str, str], cpus: Sequence[int] | None, meta: dict[str, Any]) -> None:
    """Serve tasks until the parent closes the pipe or sends an empty message.

    Messages in: `("F", objective_blob)` (answered LOADED or LOAD_FAILED + reason) and tasks,
    the pickle of `(params, param_id, num_objectives, run_folder, memory_limit)`
    (output captured in the run folder's logs when given; the process ends after running out
    of memory), answered by `send_result`. READY is
    sent once at start.
    """
    child_init(env, cpus)
    meta = {**meta, "pid": os.getpid()}
    try:
        conn.send_bytes(READY)
        _serve(conn, meta)
    except OSError:  # the pool closed its end (close(), or the driver died): just stop
        pass
    conn.close()


def _serve(conn: Connection, meta: dict[str, Any]) -> None:
    try:
        _serve_tasks(conn, meta)
    finally:
        release_output()  # what the process prints from now on (exiting, a traceback) is seen as before


def _serve_tasks(conn: Connection, meta: dict[str, Any]) -> None:
    """Candidates run back to back keep output on the spool in between (`hold=True`): a quiet
    one costs a truncate and a stat, not the redirections; it is released before anything else."""
    function: Any = None
    loads = pickle.loads
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            break
        if not data:
            break
        message = loads(data)
        if len(message) == 2:  # ("F", objective): load it before any task's clock starts
            release_output()  # its import's output (or error) goes where the process's own does
            try:
                function = load_objective(message[1])
            except Exception as exc:  # noqa: BLE001 - the parent raises it with context
                conn.send_bytes(LOAD_FAILED + f"{type(exc).__name__}: {exc}".encode(errors="replace"))
            else:
                conn.send_bytes(LOADED)
            continue
        params, param_id, num_objectives, run_folder, memory = message
        score = evaluate_captured(function, params, param_id=param_id, num_objectives=num_objectives,
                                  run_folder=run_folder, memory=memory, hold=True, **meta)
        send_result(conn, score)
        if is_out_of_memory(score):
            break  # its heap may be in any state: the pool replaces this process
