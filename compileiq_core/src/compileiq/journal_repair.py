"""Salvage a damaged run journal: keep the damaged file aside, copy every readable row into a new one.

A journal can be damaged by a truncated copy, a disk error or another program writing to it.
`repair(folder)` renames `journal.sqlite` (and its `-wal`/`-shm`) to `journal.sqlite.damaged*`
(never deleted), reads what it can row by row, and writes a fresh journal with:

- the metadata (required: without the search's configuration nothing can be resumed);
- the asks from the first one up to the first unreadable one (a resume replays asks in order);
- every readable score of a kept ask (and every baseline), in their original order;
- the readable sessions, plus a `repaired` metadata entry with what was kept and lost.

`Search.resume()` then goes on: candidates whose score was lost are evaluated again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compileiq.journal import _SCHEMA, FILENAME, FORMAT, META_COPY, Journal, JournalCorruptError, JournalError

__all__ = ["DAMAGED_SUFFIX", "RepairReport", "repair"]

DAMAGED_SUFFIX = ".damaged"
_MISSES_BEFORE_END = 2000
"""Unreadable row ids in a row past the last readable one before a table is taken as ended."""
_COLUMNS = {
    "asks": "seq, generation, genomes, param_ids, created",
    "scores": ("seq, ask_seq, generation, param_id, is_baseline, failed, score, norm_score, params, metadata, "
               "worker, wall_time, session"),
    "sessions": "id, started, ended, pid, status, error",
}


@dataclass
class RepairReport:
    """What `repair()` kept and lost, and where the damaged file now is."""

    folder: Path
    damaged: Path
    asks_kept: int
    asks_lost: int
    scores_kept: int
    scores_lost: int

    def __str__(self) -> str:
        return (f"{self.folder}: kept {self.asks_kept} asks and {self.scores_kept} scores; lost {self.asks_lost} "
                f"asks and {self.scores_lost} scores (evaluated again on resume); the damaged journal is kept as "
                f"{self.damaged.name}")


def _rows(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...] | None]:
    """Every row id from 1 to the last readable one: the row, or None where it is unreadable."""
    key = "id" if table == "sessions" else "seq"
    sql = f"SELECT {_COLUMNS[table]} FROM {table} WHERE {key} = ?"
    try:
        last = conn.execute(f"SELECT MAX({key}) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        last = None
    out: list[tuple[Any, ...] | None] = []
    rowid, misses = 1, 0
    while (last is not None and rowid <= last) or (last is None and misses < _MISSES_BEFORE_END):
        try:
            row = conn.execute(sql, (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        misses = 0 if row is not None else misses + 1
        out.append(row)
        rowid += 1
    while out and out[-1] is None:
        out.pop()
    return out


def _intact_score(row: tuple[Any, ...]) -> bool:
    """False for a scores row read from a page cut short (its tail zero-padded by `_readable_copy`):
    text holding NUL bytes, or a score, norm_score or params that is not JSON."""
    if any(isinstance(value, str) and "\x00" in value for value in row):
        return False
    try:
        for value in (row[6], row[7], row[8]):  # score, norm_score, params
            if value is not None:
                json.loads(value)
    except (TypeError, ValueError):
        return False
    return True


def _intact_ask(row: tuple[Any, ...]) -> bool:
    """False for an asks row whose genomes or param ids are not a JSON list (a page cut short)."""
    try:
        return isinstance(json.loads(row[2]), list) and isinstance(json.loads(row[3]), list)
    except (TypeError, ValueError):
        return False


def _readable_copy(damaged: Path) -> Path:
    """A scratch copy of the damaged file (and its WAL), padded with zero pages to the size its header
    states: SQLite refuses a truncated file outright, but reads the intact pages of a padded one."""
    scratch = damaged.with_name(damaged.name + ".salvage")
    shutil.copyfile(damaged, scratch)
    wal = Path(str(damaged) + "-wal")
    if wal.exists():
        shutil.copyfile(wal, Path(str(scratch) + "-wal"))
    with open(scratch, "r+b") as handle:
        head = handle.read(100)
        if len(head) == 100 and head.startswith(b"SQLite format 3\0"):
            page = struct.unpack(">H", head[16:18])[0]
            pages = struct.unpack(">I", head[28:32])[0]
            wanted = (65536 if page == 1 else page) * pages
            if os.fstat(handle.fileno()).st_size < wanted:
                handle.truncate(wanted)
    return scratch


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}{DAMAGED_SUFFIX}-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            os.replace(source, Path(str(target) + suffix))
    return target


def _move_back(damaged: Path, path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(damaged) + suffix)
        if source.exists():
            os.replace(source, Path(str(path) + suffix))


def _read_meta(conn: sqlite3.Connection, copy: Path) -> dict[str, str]:
    """The metadata rows (JSON text), from the journal or else from the copy written at creation."""
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        reason: Any = "its metadata is gone"
    except sqlite3.DatabaseError as exc:
        meta, reason = {}, exc
    if json.loads(meta.get("format", "null")) != FORMAT or "config" not in meta:
        try:
            meta = {k: json.dumps(v) for k, v in json.loads(copy.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            meta = {}
    if json.loads(meta.get("format", "null")) != FORMAT or "config" not in meta:
        raise JournalCorruptError(
            f"The damaged journal has no readable metadata ({reason}) and {copy.name} is missing or unreadable, "
            "so the search cannot be rebuilt from it; start a new Search."
        )
    return meta


def _salvage(damaged: Path, copy: Path) -> tuple[dict[str, str], list[Any], int, list[Any], int, list[Any]]:
    scratch = _readable_copy(damaged)
    source = sqlite3.connect(str(scratch))
    try:
        meta = _read_meta(source, copy)
        asks, asks_lost, stopped = [], 0, False
        for row in _rows(source, "asks"):
            if row is None or stopped or not _intact_ask(row):
                stopped = True
                asks_lost += 1
            else:
                asks.append(row)
        kept_ids = {row[0]: set(json.loads(row[3])) for row in asks}
        scores, scores_lost = [], 0
        for row in _rows(source, "scores"):
            if row is not None and (row[4] or row[3] in kept_ids.get(row[1], ())) and _intact_score(row):
                scores.append(row)
            else:
                scores_lost += 1
        sessions = [row for row in _rows(source, "sessions") if row is not None]
    finally:
        source.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(scratch) + suffix).unlink(missing_ok=True)
    return meta, asks, asks_lost, scores, scores_lost, sessions


def repair(folder: str | Path) -> RepairReport:
    """Salvage the journal of the run in `folder` (see the module's docstring); returns what was kept."""
    folder = Path(folder)
    path = folder / FILENAME
    if not path.is_file():
        raise JournalError(f"{str(folder)!r} has no run journal ({FILENAME}) to repair.")
    from compileiq.run_folder import RunLock

    with RunLock.acquire(folder):
        damaged = _move_aside(path)
        try:
            meta, asks, asks_lost, scores, scores_lost, sessions = _salvage(damaged, folder / META_COPY)
        except BaseException:
            _move_back(damaged, path)  # nothing could be saved: leave the folder as it was
            raise
        report = RepairReport(folder, damaged, len(asks), asks_lost, len(scores), scores_lost)
        conn = Journal._connect(path)
        try:
            conn.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
            conn.execute("BEGIN")
            meta["status"] = json.dumps("interrupted")
            meta["repaired"] = json.dumps({"at": time.time(), "damaged": damaged.name, **{
                k: getattr(report, k) for k in ("asks_kept", "asks_lost", "scores_kept", "scores_lost")}})
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.executemany(f"INSERT INTO asks ({_COLUMNS['asks']}) VALUES (?,?,?,?,?)", asks)
            conn.executemany(f"INSERT INTO scores ({_COLUMNS['scores'].replace('seq, ', '', 1)}) "
                             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [row[1:] for row in scores])
            conn.executemany(f"INSERT INTO sessions ({_COLUMNS['sessions']}) VALUES (?,?,?,?,?,?)", sessions)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"Cannot write the repaired journal {str(path)!r}: {exc}") from None
        conn.close()
    return report
