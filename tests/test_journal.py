"""The run journal: what it stores, SearchResult from it, resume, and clear errors before evaluating."""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest
from runs_support import SPACE, make_search, objective

import compileiq.search_spaces.base as ss
from compileiq import Search
from compileiq.journal import (
    FILENAME,
    Journal,
    JournalCorruptError,
    JournalError,
    JournalMismatchError,
    RunFolderError,
    list_runs,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_run_folder_and_journal_are_kept_with_everything_a_resume_needs(tmp_path: Path) -> None:
    search = make_search(tmp_path)
    (search.cache_folder / "scratch.bin").write_bytes(b"x")
    result = search.start()
    # the journal, the metadata copy `repair` rebuilds from, and the (released) lock file of the run
    assert sorted(p.name for p in search.cache_folder.iterdir()) == [FILENAME, "meta.json", "run.lock"]
    journal = Journal.open(search.cache_folder)
    meta = journal.meta()
    assert meta["status"] == "finished"
    assert meta["engine"] == {"name": "random", "options": {}, "seed": 5}
    assert meta["config"]["generations"] == 3 and meta["worker_type"] == "sequential"
    assert meta["space_fingerprint"] == search.space.fingerprint()
    assert "compileiq-core" in meta["versions"]
    conn = sqlite3.connect(journal.path)
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:  # JSON only: no BLOB anywhere, every text that looks structured parses
        for row in conn.execute(f"SELECT * FROM {table}"):
            for cell in row:
                assert not isinstance(cell, bytes), f"{table} holds a BLOB: {cell[:20]!r}"
                if isinstance(cell, str) and cell[:1] in "[{":
                    json.loads(cell)
    conn.close()
    assert len(journal.result()) == len(result)
    journal.close()


def test_search_result_columns_from_the_journal(tmp_path: Path) -> None:
    result = make_search(tmp_path).start()
    df = result.df_results
    assert list(df.columns) == ["metadata", "generation", "score_1", "params", "param_id", "is_baseline",
                                "wall_time", "worker", "failure_reason"]
    failed = df[df["score_1"] == "*"]
    assert len(failed) and set(failed["failure_reason"]) == {"INVALID_SCORE returned"}
    assert df.loc[df["score_1"] != "*", "failure_reason"].isna().all()
    assert (df["worker"] == "sequential").all() and (df["wall_time"] >= 0).all()
    assert df["wall_time"].is_monotonic_increasing
    assert isinstance(df["params"][0], dict)
    best = result.get_best_result()
    assert best["score_1"] == min(v for v in df["score_1"] if v != "*")


def test_failure_reason_names_the_exception(tmp_path: Path) -> None:
    def broken(config: dict) -> float:
        if config["x"] > 30:
            raise ValueError(f"bad x {config['x']}")
        return 1.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = make_search(tmp_path, objective_function=broken).start().df_results
    reasons = df["failure_reason"].dropna()
    assert len(reasons) and all(r.startswith("exception: ValueError: bad x") for r in reasons)


def test_dump_results_written_after_every_batch(tmp_path: Path) -> None:
    dump = tmp_path / "out.csv"
    seen: list[int] = []
    from compileiq import hookimpl, register_plugin
    from compileiq.plugins import unregister_plugin

    class Watch:
        @hookimpl
        def compileiq_generation_end(self, search: Any, generation: int, scores: Any) -> None:
            seen.append(len(dump.read_text().splitlines()) - 1)

    watch = Watch()
    register_plugin(watch)
    try:
        result = make_search(tmp_path, dump_results=dump).start()
    finally:
        unregister_plugin(watch)
    assert seen == sorted(seen) and seen[-1] == len(result)


def test_resume_of_a_finished_run_evaluates_nothing(tmp_path: Path) -> None:
    search = make_search(tmp_path)
    first = search.start()
    calls: list[Any] = []

    def counting(config: dict) -> Any:
        calls.append(config)
        return objective(config)

    again = Search.resume(search.cache_folder, objective_function=counting).start()
    assert calls == []
    assert list(again.df_results["param_id"]) == list(first.df_results["param_id"])


def test_resume_after_an_interruption_evaluates_only_the_pending(tmp_path: Path) -> None:
    calls: list[Any] = []
    armed = [True]

    def stops(config: dict) -> Any:
        calls.append(config)
        if armed[0] and len(calls) == 9:
            raise KeyboardInterrupt
        return objective(config)

    search = make_search(tmp_path, objective_function=stops)
    with pytest.raises(KeyboardInterrupt):
        search.start()
    assert Journal.open(search.cache_folder).info().status == "interrupted"
    done = len(calls) - 1
    calls.clear()
    armed[0] = False
    resumed = Search.resume(search.cache_folder, objective_function=stops).start()
    reference = make_search(tmp_path).start()
    assert len(calls) + done == len(reference)
    assert [p for p in resumed.df_results["params"]] == [p for p in reference.df_results["params"]]
    runs = list_runs(search.cache_base)
    assert {r.status for r in runs} == {"finished"}


def test_unwritable_runs_folder_is_refused_before_anything(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RunFolderError, match="cache_folder"):
        make_search(tmp_path, cache_folder=blocker)


def test_a_full_disk_is_reported_before_any_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connect = Journal._connect

    def tiny(path: Path, **options: Any) -> sqlite3.Connection:
        conn = connect(path, **options)
        conn.execute("PRAGMA max_page_count=2")
        return conn

    monkeypatch.setattr(Journal, "_connect", staticmethod(tiny))
    calls: list[Any] = []
    search = make_search(tmp_path, objective_function=lambda c: calls.append(c) or 1.0)
    with pytest.raises(JournalError, match="disk is full"):
        search.start()
    assert calls == []


def test_a_disk_filling_up_mid_run_stops_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = Journal.record_score
    count = [0]

    def fill(self: Journal, *args: Any, **kwargs: Any) -> None:
        count[0] += 1
        if count[0] == 4:
            raise JournalError("Cannot write to the run journal: the disk is full")
        record(self, *args, **kwargs)

    monkeypatch.setattr(Journal, "record_score", fill)
    search = make_search(tmp_path)
    with pytest.raises(JournalError, match="disk is full"):
        search.start()
    assert Journal.open(search.cache_folder).counts()[0] == 3


def test_a_journal_from_another_search_space_is_refused(tmp_path: Path) -> None:
    search = make_search(tmp_path)
    search.start()
    other = {**SPACE, "z": ss.choice([1, 2])}
    calls: list[Any] = []
    with pytest.raises(JournalMismatchError, match="another search space"):
        Search.resume(search.cache_folder, objective_function=lambda c: calls.append(c), search_space=other)
    assert calls == []


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign"])
def test_a_corrupted_journal_is_refused(tmp_path: Path, damage: str) -> None:
    search = make_search(tmp_path)
    search.start()
    path = search.cache_folder / FILENAME
    if damage == "garbage":
        path.write_bytes(b"this is not sqlite" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:2000])
    else:
        path.unlink()
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE other (x)")
        conn.commit()
        conn.close()
    with pytest.raises(JournalCorruptError, match="damaged|not a compileiq journal"):
        Search.resume(search.cache_folder, objective_function=objective)


def test_meta_is_plain_json(tmp_path: Path) -> None:
    search = make_search(tmp_path)
    search.start()
    conn = sqlite3.connect(search.cache_folder / FILENAME)
    for _, value in conn.execute("SELECT key, value FROM meta"):
        json.loads(value)
    for row in conn.execute("SELECT score, params, metadata FROM scores"):
        for cell in row:
            json.loads(cell)
    conn.close()


def test_second_start_gets_a_new_run_folder(tmp_path: Path) -> None:
    search = make_search(tmp_path)
    search.start()
    first = search.cache_folder
    search.start()
    assert search.cache_folder != first
    assert len(list_runs(search.cache_base)) == 2


def _interrupted(tmp_path: Path, after: int, **kwargs: Any) -> tuple[Search, list[Any], Any]:
    calls: list[Any] = []
    armed = [True]
    base = kwargs.pop("objective_function", objective)

    def stops(config: Any) -> Any:
        calls.append(config)
        if armed[0] and len(calls) == after:
            raise KeyboardInterrupt
        return base(config)

    search = make_search(tmp_path, objective_function=stops, **kwargs)
    with pytest.raises(KeyboardInterrupt):
        search.start()
    armed[0] = False
    return search, calls, stops


def test_resume_with_normalization_keeps_the_journaled_baseline(tmp_path: Path) -> None:
    from compileiq import SearchConfiguration

    config = SearchConfiguration(generations=3, pool_size=6, normalize=True)

    def positive(c: Any) -> Any:
        return 50.0 if c == {} else objective(c) if objective(c) == "*" else objective(c) + 1

    search, calls, stops = _interrupted(tmp_path, 8, search_config=config, objective_function=positive)
    calls.clear()
    resumed = Search.resume(search.cache_folder, objective_function=stops).start()
    assert {} not in calls  # the baseline is not measured again
    reference = make_search(tmp_path, search_config=config, objective_function=positive).start()
    df, ref = resumed.df_results, reference.df_results
    assert list(df["params"]) == list(ref["params"])
    assert list(df["norm_score_1"]) == list(ref["norm_score_1"])
    assert df["is_baseline"].sum() == 1


def test_resume_with_another_worker(tmp_path: Path) -> None:
    search, calls, stops = _interrupted(tmp_path, 10)
    resumed = Search.resume(search.cache_folder, objective_function=objective, worker_type="multiprocess")
    result = resumed.start(num_workers=2)
    reference = make_search(tmp_path).start()
    assert sorted(map(str, result.df_results["params"])) == sorted(map(str, reference.df_results["params"]))
    assert set(result.df_results["worker"]) == {"sequential", "multiprocess"}


def test_resume_of_a_custom_worker_run_asks_for_the_worker(tmp_path: Path) -> None:
    from compileiq_sequential import SequentialWorker

    class Mine(SequentialWorker):
        name = ""

    search = make_search(tmp_path, worker_type=Mine)
    search.start()
    with pytest.raises(TypeError, match="pass Search.resume"):
        Search.resume(search.cache_folder, objective_function=objective)
    result = Search.resume(search.cache_folder, objective_function=objective, worker_type=Mine).start()
    assert len(result) > 0


def test_resume_can_go_on_after_an_exit_on_failure_abort(tmp_path: Path) -> None:
    from compileiq.ciq import SearchAbortedError

    search = make_search(tmp_path, objective_function=lambda c: "*", exit_on_failure=True)
    with pytest.raises(SearchAbortedError):
        search.start()
    assert Journal.open(search.cache_folder).info().status == "aborted"
    with pytest.raises(SearchAbortedError):
        Search.resume(search.cache_folder, objective_function=lambda c: "*").start()
    go_on = Search.resume(search.cache_folder, objective_function=objective, exit_on_failure=False).start()
    assert (go_on.df_results["score_1"] != "*").sum() == 18


def test_an_engine_that_proposes_other_candidates_on_replay_is_refused(tmp_path: Path) -> None:
    search, calls, stops = _interrupted(tmp_path, 10)
    conn = sqlite3.connect(search.cache_folder / FILENAME)
    genomes = json.loads(conn.execute("SELECT genomes FROM asks WHERE seq = 1").fetchone()[0])
    genomes[0][0] = (genomes[0][0] + 1) % 60
    conn.execute("UPDATE asks SET genomes = ? WHERE seq = 1", (json.dumps(genomes),))
    conn.commit()
    conn.close()
    calls.clear()
    with pytest.raises(JournalMismatchError, match="proposed other candidates than the journal holds for ask #1"):
        Search.resume(search.cache_folder, objective_function=stops).start()
    assert calls == []


def test_runs_listing_reports_a_live_run_as_running(tmp_path: Path) -> None:
    seen: list[str] = []

    def peek(config: Any) -> Any:
        if not seen:
            seen.append(list_runs(search.cache_base)[0].status)
        return objective(config)

    search = make_search(tmp_path, objective_function=peek)
    search.start()
    assert seen == ["running"]


def test_a_run_still_running_elsewhere_is_not_resumed(tmp_path: Path) -> None:
    from compileiq.run_folder import RunLock

    search = make_search(tmp_path)
    search.start()
    conn = sqlite3.connect(search.cache_folder / FILENAME)
    conn.execute("UPDATE meta SET value = '\"running\"' WHERE key = 'status'")
    conn.execute("UPDATE sessions SET status = 'running', pid = ?", (os.getpid(),))
    conn.commit()
    conn.close()
    with RunLock.acquire(search.cache_folder):  # what a live driver holds
        with pytest.raises(JournalError, match="still running"):
            Search.resume(search.cache_folder, objective_function=objective)
    # its pid is alive (it is this process), but nobody holds the lock: the run was interrupted
    assert list_runs(search.cache_base)[0].status == "interrupted"
    Search.resume(search.cache_folder, objective_function=objective)


def test_dump_results_is_appended_and_reads_as_the_saved_result(tmp_path: Path) -> None:
    """The dump is appended score by score, yet reads exactly like `SearchResult.save()` (but wall_time)."""
    import pandas as pd

    from compileiq import SearchConfiguration

    def with_default(config: dict) -> Any:
        return objective({"x": 31, "y": "a", **config})

    dump, saved = tmp_path / "dump.csv", tmp_path / "saved.csv"
    result = make_search(tmp_path, dump_results=dump, objective_function=with_default,
                         search_config=SearchConfiguration(generations=3, pool_size=6, normalize=True)).start()
    result.save(saved)
    got, want = pd.read_csv(dump), pd.read_csv(saved)
    assert list(got.columns) == list(want.columns) and len(got) == len(result) > 18
    pd.testing.assert_frame_equal(got.drop(columns="wall_time"), want.drop(columns="wall_time"))
    assert (got["wall_time"] - want["wall_time"]).abs().max() < 5.0


def test_dump_results_of_a_resumed_run_holds_every_row_once(tmp_path: Path) -> None:
    import pandas as pd

    calls: list[Any] = []

    def stops(config: dict) -> Any:
        calls.append(config)
        if len(calls) == 9:
            raise KeyboardInterrupt
        return objective(config)

    dump = tmp_path / "dump.csv"
    search = make_search(tmp_path, objective_function=stops, dump_results=dump)
    with pytest.raises(KeyboardInterrupt):
        search.start()
    assert len(pd.read_csv(dump)) == 6  # the first batch; the second was cut short
    resumed = Search.resume(search.cache_folder, objective_function=objective, dump_results=dump).start()
    frame = pd.read_csv(dump)
    assert len(frame) == len(resumed) >= 18 and frame["param_id"].is_unique
    assert list(frame["param_id"]) == list(resumed.df_results["param_id"])


def test_a_commit_appends_little_to_the_wal(tmp_path: Path) -> None:
    """Each commit appends the pages it changed to the WAL, which checkpoints and the final close
    flush to disk: a new journal's small pages keep a quick Score's commit under 2 KiB (4 KiB pages
    would take 4 KiB each), and the journal reads back whole."""
    from compileiq.score import Score

    journal = Journal.create(tmp_path / "run", {"config": {"num_objectives": 1}})
    try:
        journal.begin_session()
        wal = tmp_path / "run" / "journal.sqlite-wal"
        start = wal.stat().st_size
        for i in range(200):
            score = Score(score=1.0, param_id=f"{i:032x}", num_objectives=1, params={"x": i * 7919},
                          metadata={"worker": "multiprocess", "slot": i % 2, "pid": 4242, "duration_s": 1e-6})
            journal.record_score(score, 0, 1, "multiprocess")
        per_commit = (wal.stat().st_size - start) / 200
        assert per_commit < 2048, f"{per_commit:.0f} bytes of WAL per commit"
        assert [s.param_id for s in journal.scores()] == [f"{i:032x}" for i in range(200)]
    finally:
        journal.close()
    reopened = Journal.open(tmp_path / "run")
    assert len(list(reopened.scores())) == 200
    reopened.close()



def test_candidate_ids_are_random_version_4_uuids(tmp_path: Path) -> None:
    import uuid

    ids = make_search(tmp_path).start().get_results()["param_id"].tolist()
    assert len(ids) > 10 and len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(hex=text)
        assert parsed.hex == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
