"""Disks and folders, caused for real: a file or a read-only mount where the cache folder should be,
a full disk (a small tmpfs, and a file size limit), a truncated and a corrupted journal, two drivers
on one run folder. Each gives an error naming the path and the fix, and nothing journaled is lost."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fault_objectives
import pytest

import compileiq.search_spaces.base as ss
from compileiq import EngineConfig, Search, SearchConfiguration
from compileiq.cli import main as cli
from compileiq.journal import (
    FILENAME,
    Journal,
    JournalCorruptError,
    JournalDiskFullError,
    RunFolderError,
)
from compileiq.run_folder import LOCK_NAME, RunLockedError, lock_holder
from compileiq.testing.processes import leftover_processes

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
TESTS = Path(__file__).parent
SPACE = {"x": ss.range(0, 5000), "y": ss.choice(["a", "b", "c", "d"])}


def _search(base: Path, objective: Any = fault_objectives.quick, space: dict | None = None, **kwargs: Any) -> Search:
    options: dict[str, Any] = {
        "objective_function": objective, "search_space": space or SPACE,
        "search_config": SearchConfiguration(generations=8, pool_size=6), "worker_type": "sequential",
        "engine": EngineConfig("genetic", {"seed": 3}), "cache_folder": base, "exit_on_failure": False,
        "disable_progress_bar": True,
    }
    return Search(**{**options, **kwargs})


def _scores(folder: Path) -> list[tuple[str, str]]:
    """(param_id, params) of every non-baseline score, in journal order."""
    conn = sqlite3.connect(folder / FILENAME)
    try:
        return list(conn.execute("SELECT param_id, params FROM scores WHERE is_baseline = 0 ORDER BY seq"))
    finally:
        conn.close()


@contextlib.contextmanager
def _tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A real, small tmpfs mounted at `where` (skips where mounting is not permitted)."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); needs root or CAP_SYS_ADMIN")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


# -- the cache folder ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["file", "under_a_file"])
def test_a_file_where_the_cache_folder_should_be_is_named(tmp_path: Path, shape: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    base = blocker if shape == "file" else blocker / "deeper" / "runs"
    with pytest.raises(RunFolderError) as caught:
        _search(base)
    message = str(caught.value)
    assert repr(str(blocker)) in message and "is a file" in message and "cache_folder" in message
    assert blocker.read_text() == "a file"


def test_a_missing_cache_folder_is_created(tmp_path: Path) -> None:
    base = tmp_path / "a" / "b" / "runs"
    search = _search(base, search_config=SearchConfiguration(generations=1, pool_size=6))
    assert len(search.start()) == 6 and (search.cache_folder / FILENAME).is_file()


def test_a_read_only_cache_folder_and_run_folder_are_refused(tmp_path: Path) -> None:
    done = _search(tmp_path / "runs", search_config=SearchConfiguration(generations=1, pool_size=6))
    done.start()
    with _tmpfs(tmp_path / "ro", "1m", read_only=True) as ro:
        with pytest.raises(RunFolderError, match="read-only file system") as caught:
            _search(ro)
        assert repr(str(ro)) in str(caught.value) and "cache_folder" in str(caught.value)
    # a run folder on a read-only disk: made read-only by a bind mount (chmod does not stop root)
    folder = done.cache_folder
    bound = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
    if bound.returncode:
        pytest.skip(f"cannot bind-mount read-only here: {bound.stderr.decode().strip()}")
    try:
        with pytest.raises(RunFolderError, match="read-only file system") as caught:
            Search.resume(folder, objective_function=fault_objectives.quick).start()
        assert repr(str(folder)) in str(caught.value) and "copy the run folder" in str(caught.value)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert len(_scores(folder)) == 6


# -- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("worker", ["sequential", "multiprocess"])
def test_a_disk_filling_up_mid_run_stops_cleanly_and_resume_loses_nothing(tmp_path: Path, worker: str) -> None:
    ctl = tmp_path / "ctl.json"
    before = set(leftover_processes(timeout=0))
    with _tmpfs(tmp_path / "small", "2m") as disk:
        ballast = disk / "ballast"
        ctl.write_text(json.dumps({"fill_at": 9, "ballast": str(ballast)}))
        space = {**SPACE, "ctl": ss.choice([str(ctl)])}
        search = _search(disk / "runs", objective=fault_objectives.fills_disk, space=space, worker_type=worker)
        with pytest.raises(JournalDiskFullError) as caught:
            search.start(num_workers=2) if worker != "sequential" else search.start()
        message = str(caught.value)
        assert "disk is full" in message and repr(str(search.cache_folder / FILENAME)) in message
        assert "Search.resume" in message
        assert not leftover_processes(before)
        kept = _scores(search.cache_folder)
        # the scores journaled before the disk filled at the 9th evaluation (a few more may fit in the
        # journal's last partly used page, and another slot may finish meanwhile)
        assert 4 <= len(kept) <= 12
        ballast.unlink()  # free the space: the same run goes on
        result = Search.resume(search.cache_folder, objective_function=fault_objectives.fills_disk).start()
        after = _scores(search.cache_folder)
    assert after[: len(kept)] == kept
    assert len(result) == len(after) == len({pid for pid, _ in after}) == 48


@pytest.mark.slow
def test_a_file_size_limit_mid_run_is_reported_as_no_room(tmp_path: Path) -> None:
    """The fallback where no tmpfs can be mounted: RLIMIT_FSIZE in a driver process of its own."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {str(TESTS)!r})
        import fault_objectives, test_run_folders as t
        from compileiq import SearchConfiguration
        from compileiq.journal import JournalDiskFullError
        if __name__ == "__main__":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
            resource.setrlimit(resource.RLIMIT_FSIZE, (250_000, 250_000))
            search = t._search(sys.argv[1], search_config=SearchConfiguration(generations=40, pool_size=6))
            print(search.cache_folder, flush=True)
            try:
                search.start()
            except JournalDiskFullError as exc:
                print(exc, flush=True)
                sys.exit(3)
    """))
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 3, done.stderr
    folder, message = Path(done.stdout.splitlines()[0]), done.stdout.splitlines()[1]
    assert "file size limit" in message and str(folder) in message
    kept = _scores(folder)
    assert len(kept) > 20
    result = Search.resume(folder, objective_function=fault_objectives.quick).start()
    assert _scores(folder)[: len(kept)] == kept and len(result) == 240


# -- damaged journals -------------------------------------------------------------------------


def _garble(path: Path, offset: int, size: int = 512) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes((i * 37 + 11) % 256 for i in range(size)))


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "corrupted", "header"])
def test_a_damaged_journal_is_refused_then_repaired_and_resumed_to_the_same_search(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SearchConfiguration(generations=20, pool_size=8)
    reference = _search(tmp_path / "ref", search_config=config).start().get_results()
    search = _search(tmp_path / "runs", search_config=config)
    search.start()
    folder, path = search.cache_folder, search.cache_folder / FILENAME
    whole = _scores(folder)
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, size * 3 // 4)  # the last quarter of the file is gone
    elif damage == "corrupted":
        # the page holding the middle score's row (found by its params' JSON, kept only in scores)
        offset = path.read_bytes().index(whole[len(whole) // 2][1].encode())
        _garble(path, offset // 4096 * 4096, 4096)
    else:
        _garble(path, 0, 100)  # not even an SQLite file any more: meta.json carries the search
    pristine = path.read_bytes()
    with pytest.raises(JournalCorruptError) as caught:
        Search.resume(folder, objective_function=fault_objectives.quick)
    assert repr(str(path)) in str(caught.value) and f"compileiq repair {folder}" in str(caught.value)

    assert cli(["repair", str(folder)]) == 0
    assert "kept" in capsys.readouterr().out
    (damaged,) = folder.glob(FILENAME + ".damaged-*[0-9]")
    assert damaged.read_bytes() == pristine  # kept as it was
    salvaged = _scores(folder)
    assert set(salvaged) <= set(whole)
    assert (len(salvaged) == 0) if damage == "header" else (0 < len(salvaged) < len(whole))

    result = Search.resume(folder, objective_function=fault_objectives.quick).start().get_results()
    final = _scores(folder)
    assert final[: len(salvaged)] == salvaged and len({pid for pid, _ in final}) == len(final)
    # the repaired run ends where the undamaged one did: the same candidates, the same scores
    assert sorted(map(str, result["params"])) == sorted(map(str, reference["params"]))
    assert sorted(result["score_1"]) == sorted(reference["score_1"])
    assert damaged.exists()


# -- two drivers --------------------------------------------------------------------------------

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import fault_objectives, test_run_folders as t
from compileiq import SearchConfiguration
from compileiq.ciq import Search
if __name__ == "__main__":
    if sys.argv[1] == "fresh":
        search = t._search(sys.argv[2], search_config=SearchConfiguration(generations=6, pool_size=6))
        print(search.cache_folder, flush=True)
    else:
        search = Search.resume(sys.argv[2], objective_function=fault_objectives.slow)
    search.start()
"""


def _wait_for(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_second_driver_on_a_run_folder_is_refused_and_a_killed_one_leaves_no_lock(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    env = {**os.environ, "COMPILEIQ_PROGRESS": "0", "PYTHONWARNINGS": "ignore"}
    first = subprocess.Popen([sys.executable, str(script), "fresh", str(tmp_path / "runs")],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout is not None
        folder = Path(first.stdout.readline().strip())
        _wait_for(lambda: (folder / FILENAME).exists() and len(_scores(folder)) >= 2, "the first scores")
        assert lock_holder(folder) == first.pid

        # a second driver process: `compileiq resume` is refused at once, naming the folder and the holder
        second = subprocess.run([sys.executable, "-m", "compileiq", "resume", str(folder), "--objective",
                                 "fault_objectives:slow"], capture_output=True, text=True, env=env, cwd=TESTS,
                                timeout=120)
        assert second.returncode == 2, second.stderr
        assert repr(str(folder)) in second.stderr and f"process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        # a Search made before the first driver took the lock is stopped by the lock itself at start()
        conn = sqlite3.connect(folder / FILENAME)
        sessions = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        conn.close()
        with pytest.raises(RunLockedError, match=f"process {first.pid}"):
            _search(tmp_path / "runs", objective=fault_objectives.slow, _run_folder=folder).start()
        conn = sqlite3.connect(folder / FILENAME)
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == sessions  # nothing interleaved
        conn.close()

        # kill -9 the first driver: the kernel drops its lock, and the run resumes
        done_before = len(_scores(folder))
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert lock_holder(folder) is None and (folder / LOCK_NAME).exists()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    resumed = subprocess.run([sys.executable, str(script), "resume", str(folder)], env=env, timeout=300)
    assert resumed.returncode == 0
    final = _scores(folder)
    assert len(final) == 36 and len({pid for pid, _ in final}) == 36 and len(final) >= done_before
    journal = Journal.open(folder)
    assert journal.info().status == "finished"
    journal.close()


def test_a_run_folder_deleted_while_the_search_runs_stops_it_with_a_clear_error(tmp_path: Path) -> None:
    import shutil

    calls: list[int] = []

    def deletes_its_run_folder(config: dict) -> float:
        calls.append(1)
        if len(calls) == 8:
            shutil.rmtree(tmp_path / "runs")
        return float(config["x"])

    search = _search(tmp_path / "runs", objective=deletes_its_run_folder)
    with pytest.raises(RunFolderError, match="deleted or replaced while the search ran") as caught:
        search.start()
    assert repr(str(search.cache_folder / FILENAME)) in str(caught.value)
    assert len(calls) == 12  # it stopped at the end of that batch, not 48 evaluations later


def test_a_forked_child_does_not_keep_its_drivers_run_lock(tmp_path: Path) -> None:
    from compileiq.run_folder import RunLock

    lock = RunLock.acquire(tmp_path)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # a fork-mode worker child outliving its driver's lock
        os.close(reader)
        os.write(writer, b"x")
        time.sleep(30)
        os._exit(0)
    try:
        os.close(writer)
        assert os.read(reader, 1) == b"x"  # the child runs
        assert lock_holder(tmp_path) == os.getpid()
        lock.release()
        assert lock_holder(tmp_path) is None  # the child's inherited copy was closed at fork
        RunLock.acquire(tmp_path).release()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(reader)
