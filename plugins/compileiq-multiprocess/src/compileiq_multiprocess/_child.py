"""The loop a pool process runs: receive a task, evaluate it, send the result back."""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from compileiq.evaluation import evaluate, exception_score
from compileiq_multiprocess.processes import child_init

READY = b"R"


def slot_main(conn: Connection, env: dict[str, str], cpus: Sequence[int] | None, meta: dict[str, Any]) -> None:
    """Serve tasks until the parent closes the pipe or sends an empty message.

    A task is the pickle of `(key, params, param_id, num_objectives, objective_blob_or_None)`;
    the reply is the pickle of `(key, score_value, metadata_json)`.
    """
    child_init(env, cpus)
    meta = {**meta, "pid": os.getpid()}
    function: Any = None
    load_error: BaseException | None = None
    dumps, loads = pickle.dumps, pickle.loads
    try:
        conn.send_bytes(READY)
    except OSError:  # the pool closed while this process started
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            break
        if not data:
            break
        key, params, param_id, num_objectives, blob = loads(data)
        if blob is not None:
            try:
                function, load_error = loads(blob), None
            except Exception as exc:  # noqa: BLE001 - reported per candidate
                function, load_error = None, exc
        if load_error is not None:
            err = RuntimeError(f"the objective could not be loaded in the worker process: "
                               f"{type(load_error).__name__}: {load_error}")
            score = exception_score(err, None, param_id=param_id, num_objectives=num_objectives, **meta)
        else:
            score = evaluate(function, params, param_id=param_id, num_objectives=num_objectives, **meta)
        conn.send_bytes(dumps((key, score.score, score.metadata), pickle.HIGHEST_PROTOCOL))
    conn.close()
