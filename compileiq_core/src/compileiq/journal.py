"""The run journal: every ask and every score of a run, committed to SQLite the moment it happens.

One journal per run folder (`<cache_folder>/<run-id>/journal.sqlite`). JSON only, never pickle.
Tables:

- `meta(key, value)`: JSON values: `format`, `run_id`, `created`, `config` (the
  SearchConfiguration), `space` (its `to_json()`), `space_fingerprint`, `engine` (name, options,
  seed), `worker`, `versions`, `status`, `exit_on_failure`.
- `asks(seq, generation, genomes, param_ids, created)`: one row per `engine.ask()` call, in call
  order, written before the batch is evaluated. Replaying them reproduces the engine's calls.
- `scores(seq, ask_seq, generation, param_id, is_baseline, failed, score, norm_score, params,
  metadata, worker, wall_time, session)`: one row per Score, in arrival order.
- `sessions(id, started, ended, pid, status, error)`: one row per `start()` (the first and each resume).

Durability: WAL mode, one transaction per score, or per group of Scores a worker hands over together
(`BaseWorker.report_scores`: those read from the worker's processes in one wake-up), committed
before the driver does anything else with them. `synchronous=NORMAL` by default: a committed
score survives a crash or SIGKILL of the process (the WAL is in the OS's hands); set
`COMPILEIQ_JOURNAL_SYNC=full` to also survive a power cut, at an fsync per score.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compileiq.errors import CompileIQError
from compileiq.score import Score

if TYPE_CHECKING:
    from compileiq.results import SearchResult

__all__ = [
    "FILENAME",
    "FORMAT",
    "META_COPY",
    "AskRecord",
    "Journal",
    "JournalCorruptError",
    "JournalDiskFullError",
    "JournalError",
    "JournalMismatchError",
    "RunFolderError",
    "RunInfo",
    "list_runs",
]

FILENAME = "journal.sqlite"
META_COPY = "meta.json"
"""The run's metadata as written at creation, beside the journal: `repair` rebuilds from it."""
FORMAT = "compileiq-journal-v1"
KEEP_FILES = frozenset({FILENAME, FILENAME + "-wal", FILENAME + "-shm", "report.html", "report_files", "run.lock",
                        META_COPY, "logs"})
"""What stays in a run folder after a search (scratch files are removed); `logs` holds candidates' output."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE asks (
    seq INTEGER PRIMARY KEY, generation INTEGER NOT NULL, genomes TEXT NOT NULL,
    param_ids TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE scores (
    seq INTEGER PRIMARY KEY, ask_seq INTEGER, generation INTEGER NOT NULL, param_id TEXT NOT NULL,
    is_baseline INTEGER NOT NULL, failed INTEGER NOT NULL, score TEXT NOT NULL, norm_score TEXT,
    params TEXT, metadata TEXT NOT NULL, worker TEXT, wall_time REAL NOT NULL, session INTEGER);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL, pid INTEGER, status TEXT NOT NULL,
    error TEXT);
"""
_PAGE_SIZE = 1024
"""Page size of a new journal. Each commit appends the pages it changed to the WAL: with 1 KiB
pages a no-op Score's commit writes about 1.7 KiB instead of 4 KiB, so the WAL that checkpoints and
the final close must flush to disk is a third of the size (a 10,000-Score run: 8.6 MB, not 24 MB;
its close took 13 ms instead of 40 ms), and commits cost the same CPU."""
_CHECKPOINT_PAGES = 8192
"""WAL pages (1 KiB in new journals) between checkpoints: each checkpoint fsyncs, so fewer make commits cheaper."""
_TABLES = ("meta", "asks", "scores", "sessions")
_SCORE_SQL = (
    "INSERT INTO scores (ask_seq, generation, param_id, is_baseline, failed, score, norm_score, params, "
    "metadata, worker, wall_time, session) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_ROWS_PER_INSERT = 64
"""Scores written by one multi-row INSERT (12 values each: well under SQLite's 999 variables)."""
_INSERT_SQL: dict[int, str] = {}
"""The INSERT of n rows, by n (built once each)."""


def _insert_sql(n: int) -> str:
    sql = _INSERT_SQL.get(n)
    if sql is None:
        sql = _INSERT_SQL[n] = _SCORE_SQL + ",(?,?,?,?,?,?,?,?,?,?,?,?)" * (n - 1)
    return sql


class JournalError(CompileIQError, RuntimeError):
    """A run journal cannot be created, written or read."""


class RunFolderError(JournalError, OSError):
    """The runs folder (or a run folder) cannot be created or written."""


class JournalCorruptError(JournalError):
    """A journal file is damaged or is not a compileiq journal."""


class JournalDiskFullError(JournalError, OSError):
    """The disk (or a file size limit) has no room left for the journal."""


class JournalMismatchError(JournalError, ValueError):
    """A journal does not belong to this search (another space, engine or replay)."""


_dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode
"""Compact JSON (one encoder for every call: `json.dumps` with options builds one per call)."""


def _compact_encoder() -> Any:
    """`_dumps` without building an encoder per call (the C encoder, built once; it is what
    `json.dumps` runs underneath). Falls back to `_dumps` where the C encoder is missing."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - every CPython has it
        return _dumps
    encode = make(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_encode = _compact_encoder()
"""Compact JSON of a Score's params, per Score (same text as `_dumps`)."""


def _score_json(value: Any) -> str | None:
    if value is None:
        return None
    if value.__class__ is float and value - value == 0.0:  # finite: its repr is its JSON
        return repr(value)
    return _dumps(list(value) if isinstance(value, tuple) else value)


def _sync_mode() -> str:
    mode = os.environ.get("COMPILEIQ_JOURNAL_SYNC", "normal").strip().upper() or "NORMAL"
    if mode not in ("NORMAL", "FULL"):
        raise JournalError(
            f"COMPILEIQ_JOURNAL_SYNC={mode.lower()!r} is not valid; expected 'normal' (survives a crash "
            "or kill -9) or 'full' (also survives a power cut, slower)."
        )
    return mode


def _space_problem(exc: BaseException, path: Path) -> str | None:
    """Why a write failed for want of room: the disk is full, or a file size limit is reached."""
    text = str(exc).lower()
    if "full" in text or "no space" in text:
        return "the disk is full"
    if not isinstance(exc, sqlite3.OperationalError) and getattr(exc, "errno", None) not in (27, 28):
        return None
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, OSError, ValueError):
        soft = -1
    if soft not in (-1, getattr(resource, "RLIM_INFINITY", -1)):
        sizes = [p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists()]
        if sizes and max(sizes) + 64 * 1024 >= soft:
            return f"a journal file reached this process's file size limit (ulimit -f: {soft} bytes)"
    try:
        stat = os.statvfs(path.parent)
        free = stat.f_bavail * stat.f_frsize
    except OSError:
        return None
    if free < 1024 * 1024:
        return f"the disk is full ({free} bytes free)"
    return None


def _io_error(exc: BaseException, path: Path, doing: str) -> JournalError:
    room = _space_problem(exc, path)
    if room is not None:
        return JournalDiskFullError(
            f"Cannot {doing} the run journal {str(path)!r}: {room} ({exc}). Every score journaled so far is kept; "
            f"free some space (or raise the limit), then continue with Search.resume({str(path.parent)!r}, "
            "objective_function=...) or `compileiq resume`. A new search can use Search(cache_folder=...) on a "
            "disk with room."
        )
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return JournalCorruptError(_corrupt_message(path, exc))
    return RunFolderError(
        f"Cannot {doing} the run journal {str(path)!r}: {exc}. Make the folder writable or pass "
        "Search(cache_folder=...) pointing at a writable folder."
    )


def _corrupt_message(path: Path, reason: Any) -> str:
    return (
        f"The run journal {str(path)!r} is damaged or not a compileiq journal ({reason}). Nothing is deleted: "
        f"`compileiq repair {str(path.parent)}` (or compileiq.journal_repair.repair(folder)) moves it aside as "
        f"{FILENAME}.damaged and copies every readable ask and score into a fresh journal; resume then evaluates "
        "again only what was lost."
    )


@dataclass
class AskRecord:
    """One `engine.ask()` call as journaled: its genomes and the param ids issued for them."""

    seq: int
    generation: int
    genomes: list[tuple[int, ...]]
    param_ids: list[str]


@dataclass
class RunInfo:
    """A summary of one run folder (what `compileiq runs` lists)."""

    run_id: str
    folder: str
    started: float | None
    status: str
    evaluations: int
    failures: int
    best: Any
    problem_type: str | None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "folder": self.folder, "started": self.started, "status": self.status,
            "evaluations": self.evaluations, "failures": self.failures, "best": self.best,
            "problem_type": self.problem_type, "error": self.error,
        }


class Journal:
    """The SQLite journal of one run folder. Use `create()` for a new run, `open()` to read or resume."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.session: int | None = None
        self._meta_cache: dict[str, Any] | None = None
        self._lock = threading.Lock()  # workers may report scores from their own threads
        try:
            stat = os.stat(path)
            self._identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except OSError:
            self._identity = None

    # -- opening -----------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path, new: bool = False) -> sqlite3.Connection:
        """A connection in WAL mode; `new`: `path` is a new, empty file (a journal being created)."""
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        mode = _sync_mode()
        if new:
            conn.execute(f"PRAGMA page_size={_PAGE_SIZE}")
            # Switching the empty file to WAL rewrites its header through a rollback journal, which
            # synchronous=FULL (SQLite's default) fsyncs four times: a power cut here loses an empty
            # journal at worst, so only COMPILEIQ_JOURNAL_SYNC=full pays for that.
            conn.execute(f"PRAGMA synchronous={'FULL' if mode == 'FULL' else 'OFF'}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={mode}")
        conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        return conn

    @classmethod
    def create(cls, folder: str | Path, meta: dict[str, Any]) -> Journal:
        """Create the journal of a new run in `folder` (created if missing) and store `meta`."""
        folder = Path(folder)
        path = folder / FILENAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _io_error(exc, path, "create the folder of") from None
        if path.exists() and path.stat().st_size > 0:
            raise JournalError(
                f"{str(path)!r} already holds a journal; resume it with Search.resume({str(folder)!r}, "
                "objective_function=...) or start a new Search."
            )
        conn = None
        try:
            first = {"format": FORMAT, "created": time.time(), "status": "created", **meta}
            scratch = folder / (META_COPY + ".tmp")
            scratch.write_text(json.dumps(first, default=str))
            os.replace(scratch, folder / META_COPY)
            conn = cls._connect(path, new=True)
            # the tables and the metadata in one transaction: a kill leaves a whole journal or none
            conn.executescript("BEGIN;" + _SCHEMA)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(k, _dumps(v)) for k, v in first.items()])
            conn.execute("COMMIT")
            journal = cls(conn, path)
        except (sqlite3.Error, OSError) as exc:
            if conn is not None:
                conn.close()
            error = _io_error(exc, path, "create")
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            for name in (META_COPY, META_COPY + ".tmp"):
                (folder / name).unlink(missing_ok=True)
            raise error from None
        return journal

    @classmethod
    def open(cls, folder: str | Path, *, check: bool = True) -> Journal:
        """Open an existing run's journal; raise JournalCorruptError when it is not a sound one."""
        folder = Path(folder)
        path = folder / FILENAME if folder.is_dir() or not folder.name.endswith(".sqlite") else folder
        if not path.is_file():
            raise JournalError(
                f"{str(folder)!r} has no run journal ({FILENAME}); pass a run folder listed by `compileiq runs`."
            )
        try:
            conn = cls._connect(path)
        except sqlite3.Error as exc:
            raise _io_error(exc, path, "open") from None
        journal = cls(conn, path)
        try:
            if check:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise sqlite3.DatabaseError(verdict)
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = [t for t in _TABLES if t not in names]
            if missing:
                raise sqlite3.DatabaseError(f"tables {missing} are missing")
            meta = journal.meta()
        except (sqlite3.DatabaseError, ValueError) as exc:
            conn.close()
            raise JournalCorruptError(_corrupt_message(path, exc)) from None
        if meta.get("format") != FORMAT:
            conn.close()
            raise JournalCorruptError(_corrupt_message(path, f"format {meta.get('format')!r}, expected {FORMAT!r}"))
        return journal

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file)."""
        try:
            self._conn.close()
        except sqlite3.Error:
            pass

    def _write(self, sql: str, args: Sequence[Any] = (), doing: str = "write to") -> int:
        try:
            with self._lock:
                cursor = self._conn.execute(sql, args)
        except sqlite3.Error as exc:
            raise _io_error(exc, self.path, doing) from None
        return cursor.lastrowid or 0

    def check_present(self) -> None:
        """Raise RunFolderError when the journal file was deleted or replaced while the run goes on:
        SQLite would keep writing to the deleted file, and every later score would be lost."""
        try:
            now = os.stat(self.path)
            same = (now.st_dev, now.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            raise RunFolderError(
                f"The run journal {str(self.path)!r} was deleted or replaced while the search ran; its scores "
                "are gone with it. Keep the run folder (and cache_folder) in place while a search runs, and "
                "start the search again."
            )

    # -- metadata and sessions -----------------------------------------------------------------

    def set_meta(self, values: dict[str, Any]) -> None:
        """Store (or replace) metadata keys, JSON-encoded, in one transaction."""
        try:
            with self._lock:
                try:
                    self._conn.execute("BEGIN")
                    self._conn.executemany(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [(k, _dumps(v)) for k, v in values.items()],
                    )
                    self._conn.execute("COMMIT")
                finally:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _io_error(exc, self.path, "write to") from None
        self._meta_cache = None

    def meta(self) -> dict[str, Any]:
        """Every metadata key, decoded."""
        if self._meta_cache is None:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            self._meta_cache = {k: json.loads(v) for k, v in rows}
        return dict(self._meta_cache)

    def begin_session(self) -> int:
        """Record that a `start()` (first or resumed) begins in this process."""
        self.session = self._write(
            "INSERT INTO sessions (started, pid, status) VALUES (?, ?, 'running')", (time.time(), os.getpid())
        )
        self.set_meta({"status": "running"})
        return self.session

    def end_session(self, status: str, error: str | None = None) -> None:
        """Record how the current session ended: finished, failed, aborted or interrupted."""
        if self.session is not None:
            self._write("UPDATE sessions SET ended=?, status=?, error=? WHERE id=?",
                        (time.time(), status, error, self.session))
        self.set_meta({"status": status})

    # -- records -------------------------------------------------------------------------------

    def record_ask(self, generation: int, genomes: Sequence[tuple[int, ...]], param_ids: Sequence[str]) -> int:
        """Journal one `engine.ask()` result before it is evaluated; returns its sequence number."""
        return self._write(
            "INSERT INTO asks (generation, genomes, param_ids, created) VALUES (?, ?, ?, ?)",
            (generation, _dumps([list(g) for g in genomes]), _dumps(list(param_ids)), time.time()),
        )

    def record_score(self, score: Score, generation: int, ask_seq: int | None, worker: str | None) -> None:
        """Commit one Score (its own transaction: it survives a kill the moment this returns)."""
        self._write(
            _SCORE_SQL,
            (ask_seq, generation, str(score.param_id), int(score.is_baseline), int(score.failed),
             _score_json(score.score), _score_json(score.norm_score), _encode(score.params), score.metadata,
             worker, time.time(), self.session),
        )

    def record_scores(self, scores: Sequence[tuple[Score, int, int | None]], worker: str | None) -> None:
        """Commit several Scores, each with its generation and ask, in one transaction (all or none,
        faster than one each): every one survives a kill the moment this returns.

        Up to `_ROWS_PER_INSERT` Scores (a wake-up's worth) go in one multi-row INSERT, which is
        its own transaction: no BEGIN and COMMIT statements around it."""
        now, session = time.time(), self.session
        values: list[Any] = []
        add = values.extend
        for score, generation, ask_seq in scores:
            add((ask_seq, generation, str(score.param_id), int(score.is_baseline), int(score.failed),
                 _score_json(score.score), _score_json(score.norm_score), _encode(score.params), score.metadata,
                 worker, now, session))
        n = len(scores)
        if not n:
            return
        conn = self._conn
        try:
            with self._lock:
                if n <= _ROWS_PER_INSERT:
                    conn.execute(_insert_sql(n), values)
                    return
                width = 12 * _ROWS_PER_INSERT
                try:
                    conn.execute("BEGIN")
                    for start in range(0, len(values), width):
                        chunk = values[start:start + width]
                        conn.execute(_insert_sql(len(chunk) // 12), chunk)
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _io_error(exc, self.path, "write to") from None

    # -- reading -------------------------------------------------------------------------------

    def asks(self) -> list[AskRecord]:
        """Every journaled ask, in call order."""
        rows = self._conn.execute("SELECT seq, generation, genomes, param_ids FROM asks ORDER BY seq").fetchall()
        return [AskRecord(s, g, [tuple(x) for x in json.loads(gs)], json.loads(ids)) for s, g, gs, ids in rows]

    def scores(self) -> Iterator[Score]:
        """Every journaled Score, in arrival order (params and metadata restored)."""
        num = int(self.meta().get("config", {}).get("num_objectives", 1))
        sql = "SELECT param_id, is_baseline, score, norm_score, params, metadata FROM scores ORDER BY seq"
        for pid, base, score, norm, params, metadata in self._conn.execute(sql):
            yield Score(
                score=json.loads(score), norm_score=None if norm is None else json.loads(norm),
                param_id=pid, num_objectives=num, params=None if params is None else json.loads(params),
                metadata=metadata, is_baseline=bool(base),
            )

    def counts(self) -> tuple[int, int]:
        """(evaluations, failures), baselines left out."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(failed), 0) FROM scores WHERE is_baseline = 0"
        ).fetchone()
        return int(row[0]), int(row[1])

    def best(self) -> Any:
        """The best raw first-objective value so far (None when nothing succeeded)."""
        meta = self.meta()
        config = meta.get("config", {})
        column = "norm_score" if config.get("normalize") else "score"
        order = "DESC" if config.get("problem_type") == "max" else "ASC"
        sql = (f"SELECT {column} FROM scores WHERE is_baseline = 0 AND failed = 0 "
               f"ORDER BY json_extract({column}, '$' || CASE WHEN json_type({column}) = 'array' "
               f"THEN '[0]' ELSE '' END) {order} LIMIT 1")
        row = self._conn.execute(sql).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return value[0] if isinstance(value, list) else value

    def result(self) -> SearchResult:
        """Every score as a `SearchResult` (the contract's columns plus wall_time, worker, failure_reason).

        Rows are fetched raw and decoded column by column (one JSON parse per column); failure
        reasons are unpacked by SQLite, for the failed rows only.
        """
        from compileiq.results import SearchResult

        meta = self.meta()
        config = meta.get("config", {})
        sql = ("SELECT metadata, generation, score, params, norm_score, param_id, is_baseline, wall_time - ?, "
               "worker, failed FROM scores ORDER BY seq")
        rows = self._conn.execute(sql, (float(meta.get("created", 0.0)),)).fetchall()
        reasons = self._conn.execute(
            "SELECT CASE WHEN json_valid(metadata) THEN json_extract(metadata, '$.failure') END, "
            "CASE WHEN json_valid(metadata) THEN json_extract(metadata, '$.error') END "
            "FROM scores WHERE failed ORDER BY seq"
        ).fetchall()
        return SearchResult.from_journal_rows(
            rows, reasons, config.get("problem_type", "min"), int(config.get("num_objectives", 1)),
            bool(config.get("normalize", False)),
        )

    def info(self) -> RunInfo:
        """A summary for listings."""
        meta = self.meta()
        status = str(meta.get("status", "unknown"))
        if status == "running":
            from compileiq.run_folder import run_is_live

            pid = self._conn.execute("SELECT pid FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
            if not run_is_live(self.path.parent, pid[0] if pid else None):
                status = "interrupted"
        evaluations, failures = self.counts()
        return RunInfo(
            run_id=str(meta.get("run_id", self.path.parent.name)), folder=str(self.path.parent),
            started=meta.get("created"), status=status, evaluations=evaluations, failures=failures,
            best=self.best(), problem_type=meta.get("config", {}).get("problem_type"),
        )


def list_runs(folder: str | Path) -> list[RunInfo]:
    """Every run folder under `folder` (newest first); damaged journals are listed with their error."""
    base = Path(folder)
    out: list[RunInfo] = []
    if not base.is_dir():
        return out
    for child in base.iterdir():
        if not (child / FILENAME).is_file():
            continue
        try:
            journal = Journal.open(child, check=False)
        except JournalError as exc:
            out.append(RunInfo(child.name, str(child), None, "damaged", 0, 0, None, None, error=str(exc)))
            continue
        try:
            out.append(journal.info())
        except sqlite3.Error as exc:
            out.append(RunInfo(child.name, str(child), None, "damaged", 0, 0, None, None, error=str(exc)))
        finally:
            journal.close()
    out.sort(key=lambda r: r.started or 0.0, reverse=True)
    return out
