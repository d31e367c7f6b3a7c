"""Read-only access to the run journals of a cache folder, for the dashboard.

Nothing here writes: a journal that a search is writing (its `-wal` file exists) is opened with
`mode=ro`, a closed one with `immutable=1` (so not even the `-wal`/`-shm` files are created), and
every query runs under `PRAGMA query_only`. Readers never block the writer (SQLite WAL), and
they never checkpoint. Rows are served incrementally: `scores_after(seq)` returns only the rows
newer than the last one a page has seen, as JSON built from the stored JSON text (not re-parsed).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from compileiq.journal import FILENAME, FORMAT
from compileiq.run_folder import run_is_live

__all__ = ["LOGS_FOLDER", "RunNotFound", "RunsReader", "open_readonly"]

LOGS_FOLDER = "logs"
"""Captured output of an evaluation, where a worker keeps it: `<run folder>/logs/<param_id>.txt`."""
MAX_ERROR_CHARS = 4000
MAX_LOG_BYTES = 1 << 20
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$")
_PARAM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str).encode


_ROWS_SQL = (
    "SELECT group_concat(j, ','), COUNT(*), MAX(seq) FROM (SELECT json_array(seq, generation, is_baseline, failed, "
    "{score}, {norm}, {params}, round(wall_time - ?, 3), "
    "CASE WHEN failed AND json_valid(metadata) THEN json_extract(metadata, '$.failure') END, "
    "CASE WHEN failed THEN substr(CASE WHEN json_valid(metadata) THEN COALESCE(json_extract(metadata, '$.traceback'), "
    f"json_extract(metadata, '$.error')) ELSE metadata END, -{MAX_ERROR_CHARS}) END, "
    "CASE WHEN failed THEN param_id END) AS j, seq FROM scores WHERE seq > ? ORDER BY seq LIMIT ?)"
)
"""The rows as JSON arrays, joined by SQLite from the stored JSON text (no row objects, no re-encoding here)."""


class RunNotFound(LookupError):
    """A run id (or log name) that is not a run folder of the cache folder being served."""


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to a journal file that writes nothing, ever (see the module docstring)."""
    uri = "file:" + quote(str(path.resolve()), safe="/")
    live = Path(str(path) + "-wal").exists()
    conn = sqlite3.connect(uri + ("?mode=ro" if live else "?mode=ro&immutable=1"), uri=True,
                           check_same_thread=False, timeout=5.0)
    conn.execute("PRAGMA query_only=1")
    return conn


def _value_sql(column: str) -> str:
    """SQL for the first objective of a JSON score column (a number or an array of numbers; NULL else)."""
    return (f"CASE WHEN substr({column}, 1, 1) = '[' THEN (CASE WHEN json_valid({column}) THEN "
            f"json_extract({column}, '$[0]') END) WHEN substr({column}, 1, 1) GLOB '[0-9-]' "
            f"THEN CAST({column} AS REAL) END")


@dataclass
class _Summary:
    """Running totals of one journal, advanced by the rows newer than `seq`."""

    seq: int = 0
    evaluations: int = 0
    failures: int = 0
    best: float | None = None


class RunsReader:
    """The runs of one cache folder: listing, metadata, rows newer than a sequence number, logs."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self._summaries: dict[str, _Summary] = {}
        self._lock = threading.Lock()

    # -- locating --------------------------------------------------------------------------------

    def run_folder(self, run_id: str) -> Path:
        """The folder of `run_id`, a direct child of the cache folder holding a journal; else RunNotFound."""
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
            raise RunNotFound(f"{run_id!r} is not a run id")
        path = (self.folder / run_id).resolve()
        if path.parent != self.folder or not (path / FILENAME).is_file():
            raise RunNotFound(f"no run {run_id!r} in {str(self.folder)!r}")
        return path

    def _connect(self, run_id: str) -> sqlite3.Connection:
        return open_readonly(self.run_folder(run_id) / FILENAME)

    # -- listing ---------------------------------------------------------------------------------

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run folder (newest first): id, status, start, worker, engine, evaluations, failures, best."""
        out: list[dict[str, Any]] = []
        if not self.folder.is_dir():
            return out
        for child in self.folder.iterdir():
            if not _RUN_ID.match(child.name) or not (child / FILENAME).is_file():
                continue
            try:
                out.append(self.summary(child.name))
            except (sqlite3.Error, ValueError, KeyError, RunNotFound) as exc:
                out.append({"run_id": child.name, "status": "unreadable", "error": str(exc), "started": None})
        out.sort(key=lambda r: r.get("started") or 0.0, reverse=True)
        return out

    def summary(self, run_id: str) -> dict[str, Any]:
        """One run's listing row; counts and best advance incrementally from the last call."""
        conn = self._connect(run_id)
        try:
            meta = _meta(conn)
            config = meta.get("config") or {}
            maximize = config.get("problem_type") == "max"
            column = "norm_score" if config.get("normalize") else "score"
            with self._lock:
                state = self._summaries.setdefault(run_id, _Summary())
                seq = state.seq
            value = _value_sql(column)
            row = conn.execute(
                f"SELECT MAX(seq), SUM(NOT is_baseline), SUM(failed AND NOT is_baseline), "
                f"{'MAX' if maximize else 'MIN'}(CASE WHEN failed = 0 AND is_baseline = 0 THEN {value} END) "
                "FROM scores WHERE seq > ?", (seq,)).fetchone()
            sessions = conn.execute("SELECT COUNT(*), MAX(id) FROM sessions").fetchone()
            last_pid = conn.execute("SELECT pid FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        finally:
            conn.close()
        with self._lock:
            state = self._summaries.setdefault(run_id, _Summary())
            if row[0] is not None and row[0] > state.seq and state.seq == seq:
                state.seq = int(row[0])
                state.evaluations += int(row[1] or 0)
                state.failures += int(row[2] or 0)
                if row[3] is not None:
                    better = state.best is None or (row[3] > state.best if maximize else row[3] < state.best)
                    state.best = row[3] if better else state.best
            snapshot = _Summary(state.seq, state.evaluations, state.failures, state.best)
        engine = meta.get("engine") or {}
        return {
            "run_id": run_id, "status": _status(meta, self.run_folder(run_id), last_pid[0] if last_pid else None),
            "started": meta.get("created"), "worker": meta.get("worker"), "engine": engine.get("name"),
            "evaluations": snapshot.evaluations, "failures": snapshot.failures, "best": snapshot.best,
            "problem_type": config.get("problem_type", "min"), "num_objectives": config.get("num_objectives", 1),
            "last_seq": snapshot.seq, "sessions": sessions[0],
        }

    # -- one run ---------------------------------------------------------------------------------

    def meta(self, run_id: str) -> dict[str, Any]:
        """The run's metadata (configuration, engine, worker, versions, space), sessions and status."""
        conn = self._connect(run_id)
        try:
            meta = _meta(conn)
            sessions = [dict(zip(("id", "started", "ended", "pid", "status", "error"), r)) for r in
                        conn.execute("SELECT id, started, ended, pid, status, error FROM sessions ORDER BY id")]
        finally:
            conn.close()
        meta.pop("space_fingerprint", None)
        meta["status"] = _status(meta, self.run_folder(run_id), sessions[-1]["pid"] if sessions else None)
        meta["sessions"] = sessions
        meta["run_id"] = run_id
        meta["logs"] = self.log_names(run_id)
        return meta

    def scores_after(self, run_id: str, after: int = 0, limit: int = 200_000) -> str:
        """JSON of the rows with seq > `after` (at most `limit`), oldest first.

        `{"rows": [[seq, generation, is_baseline, failed, score, norm_score, params, t, failure,
        error, param_id], ...], "last": seq, "more": bool}`; `t` is seconds since the run began;
        `failure`, `error` (the traceback, else the error text: its last 4000 characters) and
        `param_id` (to find its captured output) are set for failed rows only.
        """
        conn = self._connect(run_id)
        try:
            created = float(_meta(conn, ("created",)).get("created") or 0.0)
            args = (created, int(after), int(limit))
            try:
                sql = _ROWS_SQL.format(score="json(score)", norm="json(norm_score)", params="json(params)")
                body, count, last = conn.execute(sql, args).fetchone()
            except sqlite3.OperationalError:  # a malformed JSON cell: the slower query that checks each
                guarded = "CASE WHEN json_valid({0}) THEN json({0}) END"
                sql = _ROWS_SQL.format(score=guarded.format("score"), norm=guarded.format("norm_score"),
                                       params=guarded.format("params"))
                body, count, last = conn.execute(sql, args).fetchone()
            more = bool(count) and conn.execute("SELECT 1 FROM scores WHERE seq > ? LIMIT 1", (last,)).fetchone()
        finally:
            conn.close()
        last = int(last) if count else int(after)
        return '{"rows":[' + (body or "") + f'],"last":{last},"more":{"true" if more else "false"}}}'

    def log_names(self, run_id: str) -> list[str]:
        """The param ids whose captured output the run folder holds (`logs/<param_id>.txt`)."""
        logs = self.run_folder(run_id) / LOGS_FOLDER
        try:
            names = os.listdir(logs)
        except OSError:
            return []
        return sorted(n[:-4] for n in names if n.endswith(".txt") and _PARAM_ID.match(n[:-4]))

    def log_text(self, run_id: str, param_id: str) -> str:
        """The captured output of one evaluation (its last MiB); RunNotFound when there is none."""
        if not _PARAM_ID.match(param_id or ""):
            raise RunNotFound(f"{param_id!r} is not a param id")
        logs = (self.run_folder(run_id) / LOGS_FOLDER).resolve()
        path = (logs / f"{param_id}.txt").resolve()
        if path.parent != logs or not path.is_file():
            raise RunNotFound(f"no captured output for {param_id!r} in run {run_id!r}")
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_LOG_BYTES))
            data = handle.read(MAX_LOG_BYTES)
        prefix = f"[... {size - MAX_LOG_BYTES} earlier bytes left out ...]\n" if size > MAX_LOG_BYTES else ""
        return prefix + data.decode("utf-8", errors="replace")


def _meta(conn: sqlite3.Connection, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    if keys:
        marks = ",".join("?" * len(keys))
        rows = conn.execute(f"SELECT key, value FROM meta WHERE key IN ({marks})", keys).fetchall()
    else:
        rows = conn.execute("SELECT key, value FROM meta").fetchall()
    meta = {k: json.loads(v) for k, v in rows}
    if keys is None and meta.get("format") != FORMAT:
        raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def _status(meta: dict[str, Any], folder: Path, last_pid: Any) -> str:
    """running / finished / interrupted / failed / aborted: `running` only while its driver lives."""
    status = str(meta.get("status", "unknown"))
    if status == "running" and not run_is_live(folder, last_pid):
        return "interrupted"
    return status
