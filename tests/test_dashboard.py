"""`compileiq dashboard` without a browser: the JSON endpoints, read-only access, incremental reads,
path traversal, host checks and the CLI. The browser tests are in test_dashboard_browser.py."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dashboard_runs
import pytest

from compileiq.dashboard import make_server
from compileiq.dashboard.reader import RunNotFound, RunsReader
from compileiq.journal import Journal


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dashboard") / "runs"
    kernel = dashboard_runs.finished_run(folder, generations=4, pool_size=10)
    dashboard_runs.pareto_run(folder)
    (folder / ".kernel-run").write_text(kernel.name)  # not a run folder: the listing ignores it
    return folder


def _kernel(cache: Path) -> Path:
    """The single-objective run with failures and captured output."""
    return cache / (cache / ".kernel-run").read_text()


@pytest.fixture(scope="module")
def server(cache: Path) -> Iterator[str]:
    srv = make_server(cache)
    srv.start_background()
    yield srv.url
    srv.shutdown()
    srv.server_close()


def _runs(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if (p / "journal.sqlite").is_file())


def _get(url: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes]:
    """A raw request: the path is sent as given (no client-side normalization of '..')."""
    host, port = url.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _digest(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_runs_list_matches_the_journals(server: str, cache: Path) -> None:
    status, body = _get(server, "/api/runs")
    assert status == 200
    listed = {r["run_id"]: r for r in json.loads(body)["runs"]}
    assert set(listed) == {p.name for p in _runs(cache)}
    for folder in _runs(cache):
        journal = Journal.open(folder)
        try:
            evaluations, failures = journal.counts()
            row = listed[folder.name]
            assert (row["evaluations"], row["failures"], row["status"]) == (evaluations, failures, "finished")
            assert row["best"] == pytest.approx(journal.best())
            assert row["worker"] == "sequential" and row["engine"] == "genetic"
        finally:
            journal.close()


def test_scores_are_served_incrementally_and_match_the_journal(server: str, cache: Path) -> None:
    run = _kernel(cache)
    status, body = _get(server, f"/api/runs/{run.name}/scores?after=0")
    everything = json.loads(body)
    journal = Journal.open(run)
    try:
        scores = list(journal.scores())
    finally:
        journal.close()
    assert status == 200 and not everything["more"]
    assert [r[10] for r in everything["rows"]] == [str(s.param_id) if s.failed else None for s in scores]
    assert [r[6] for r in everything["rows"]] == [s.params for s in scores]
    failed = [r for r in everything["rows"] if r[3]]
    assert failed and all(r[4] == "*" for r in failed)
    assert any(r[8] == "exception" and "register spill" in r[9] for r in failed)
    middle = everything["rows"][len(everything["rows"]) // 2][0]
    _, later = _get(server, f"/api/runs/{run.name}/scores?after={middle}")
    assert [r[0] for r in json.loads(later)["rows"]] == [r[0] for r in everything["rows"] if r[0] > middle]
    page = json.loads(RunsReader(cache).scores_after(run.name, 0, limit=7))
    assert len(page["rows"]) == 7 and page["more"] and page["last"] == everything["rows"][6][0]


def test_meta_has_configuration_engine_worker_versions_and_logs(server: str, cache: Path) -> None:
    run = _kernel(cache)
    status, body = _get(server, f"/api/runs/{run.name}/meta")
    meta = json.loads(body)
    assert status == 200
    assert meta["config"]["generations"] == 4 and meta["engine"]["name"] == "genetic"
    assert meta["worker"] == "sequential" and "compileiq-core" in meta["versions"]
    assert meta["status"] == "finished" and meta["sessions"][0]["status"] == "finished"
    assert meta["logs"] == [p.stem for p in (run / "logs").iterdir()]
    status, text = _get(server, f"/api/runs/{run.name}/logs/{meta['logs'][0]}")
    assert status == 200 and text.decode() == (run / "logs" / f"{meta['logs'][0]}.txt").read_text()


def test_reading_a_finished_run_writes_nothing(server: str, cache: Path) -> None:
    before = {run.name: _digest(run) for run in _runs(cache)}
    for run in _runs(cache):
        for path in ("/api/runs", f"/api/runs/{run.name}/meta", f"/api/runs/{run.name}/scores?after=0"):
            assert _get(server, path)[0] == 200
    after = {run.name: _digest(run) for run in _runs(cache)}
    assert after == before  # no -wal/-shm created, no byte or mtime changed


TRAVERSALS = [
    "/../../../../etc/passwd",
    "/static/../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/static/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/static/....//....//etc/passwd",
    "/api/runs/..%2f..%2f..%2fetc/meta",
    "/api/runs/%2e%2e/meta",
    "/api/runs/../scores",
    "/api/runs/RUN/logs/..%2f..%2fjournal.sqlite",
    "/api/runs/RUN/logs/%2e%2e%2fjournal",
    "/api/runs/RUN/logs/../journal",
    "/api/runs/RUN%2f..%2f..%2f/meta",
    "/api/runs/RUN/logs/%00..%2fjournal",
    "/static/app.js%00.txt",
    "//etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_is_refused(server: str, cache: Path, path: str) -> None:
    run = _kernel(cache).name
    status, body = _get(server, path.replace("RUN", run))
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"SQLite format" not in body
    assert "error" in json.loads(body)


def test_a_run_folder_linked_from_outside_the_cache_is_not_served(tmp_path: Path, cache: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(_kernel(cache), outside / "secret-run")
    base = tmp_path / "cache"
    base.mkdir()
    (base / "linked-run").symlink_to(outside / "secret-run")
    reader = RunsReader(base)
    with pytest.raises(RunNotFound):
        reader.meta("linked-run")
    assert [r["run_id"] for r in reader.list_runs() if r["status"] != "unreadable"] == []


def test_only_get_and_head_and_only_loopback_host_names(server: str) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert _get(server, "/api/runs", method=method)[0] == 405
    assert _get(server, "/api/runs", method="HEAD")[0] == 200
    assert _get(server, "/api/runs", headers={"Host": "attacker.example:8765"})[0] == 403
    assert _get(server, "/api/runs", headers={"Host": "localhost"})[0] == 200


def test_the_page_forbids_inline_script(server: str) -> None:
    host, port = server.split("//")[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/")
    response = conn.getresponse()
    page = response.read().decode()
    conn.close()
    policy = response.getheader("Content-Security-Policy")
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert '<script src="/static/app.js"' in page and "<script>" not in page


def test_a_damaged_journal_is_listed_as_unreadable_and_the_rest_still_served(tmp_path: Path, cache: Path) -> None:
    base = tmp_path / "cache"
    shutil.copytree(_kernel(cache), base / "good")
    (base / "bad").mkdir()
    (base / "bad" / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    runs = {r["run_id"]: r for r in RunsReader(base).list_runs()}
    assert runs["bad"]["status"] == "unreadable" and runs["bad"]["error"]
    assert runs["good"]["status"] == "finished"


def test_a_non_loopback_host_warns(capfd: pytest.CaptureFixture[str], cache: Path) -> None:
    srv = make_server(cache, host="0.0.0.0", port=0)
    srv.server_close()
    assert "WARNING" in capfd.readouterr().err
    srv = make_server(cache, host="127.0.0.1", port=0)
    srv.server_close()
    assert capfd.readouterr().err == ""


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket the process holds, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                if table == "tcp":
                    text = ".".join(str(b) for b in raw[::-1])
                else:
                    words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                    text = ":".join(b"".join(words).hex()[i:i + 4] for i in range(0, 32, 4))
                found.append((text, int(port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc to list sockets")
def test_cli_serves_on_loopback_only(cache: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "compileiq", "dashboard", "--folder", str(cache), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        assert _get(url, "/api/runs")[0] == 200
        deadline = time.monotonic() + 30
        while not (sockets := _listening(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sockets == [("127.0.0.1", int(url.rstrip("/").rsplit(":", 1)[1]))]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_reports_a_busy_port(cache: Path) -> None:
    srv = make_server(cache)
    try:
        port = srv.server_address[1]
        out = subprocess.run([sys.executable, "-m", "compileiq", "dashboard", "--folder", str(cache), "--port",
                              str(port)], capture_output=True, text=True, timeout=60)
    finally:
        srv.server_close()
    assert out.returncode == 2 and f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr


def test_a_malformed_cell_is_served_as_null_not_an_error(tmp_path: Path, cache: Path) -> None:
    import sqlite3

    base = tmp_path / "cache"
    shutil.copytree(_kernel(cache), base / "run")
    conn = sqlite3.connect(base / "run" / "journal.sqlite")
    conn.execute("UPDATE scores SET params = '{\"x\": [1,' WHERE seq = 2")
    conn.commit()
    conn.close()
    rows = json.loads(RunsReader(base).scores_after("run"))["rows"]
    assert rows[1][0] == 2 and rows[1][6] is None
    assert rows[0][6] is not None and rows[2][6] is not None


def test_import_compileiq_loads_no_dashboard() -> None:
    code = ("import sys, compileiq, compileiq.ciq, compileiq.cli; "
            "print([m for m in ('compileiq.dashboard', 'http.server', 'sqlite3') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_killed_search_shows_as_interrupted(tmp_path: Path) -> None:
    import signal

    proc = subprocess.Popen(dashboard_runs.live_command(tmp_path), stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        run = Path(proc.stdout.readline().strip()).name
        reader = RunsReader(tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if reader.summary(run)["evaluations"] >= 3:
                    break
            except Exception:  # noqa: BLE001 - the journal is being created
                pass
            time.sleep(0.1)
        assert reader.summary(run)["status"] == "running"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    summary = reader.summary(run)
    assert summary["status"] == "interrupted" and summary["evaluations"] >= 3
    assert reader.meta(run)["status"] == "interrupted"
