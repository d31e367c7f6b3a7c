"""`compileiq dashboard` in a real headless Chromium (Debian's package, through Selenium).

One server (the `compileiq dashboard` command, in its own process) over a cache folder with
finished runs and a run that a live search in another process keeps writing; one browser for
the whole module. Skipped, with the reason, only where Chromium cannot be had outside CI.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser_support
import dashboard_runs
import pytest

from compileiq.journal import Journal

_missing = browser_support.missing_reason()
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"the dashboard browser tests must run in CI: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")

WAIT = 45.0


def wait_for(condition: Any, timeout: float = WAIT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - elements come and go while the page re-renders
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("dashboard-browser") / "runs"
    return {
        "folder": folder,
        "finished": dashboard_runs.finished_run(folder, generations=5, pool_size=12).name,
        "pareto": dashboard_runs.pareto_run(folder).name,
        "hostile": dashboard_runs.hostile_run(folder).name,
    }


@pytest.fixture(scope="module")
def live(cache: dict[str, Any]) -> Iterator[str]:
    """A search in another process (its own process group) writing a run until the module ends."""
    proc = subprocess.Popen(dashboard_runs.live_command(cache["folder"]), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        run_folder = Path(proc.stdout.readline().strip())
        wait_for(lambda: (run_folder / "journal.sqlite").is_file(), what="the live run's journal")
        yield run_folder.name
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


@pytest.fixture(scope="module")
def server(cache: dict[str, Any], live: str) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "compileiq", "dashboard", "--folder", str(cache["folder"]), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + proc.stderr.read()
        yield {"url": line.split(" at ")[1].split()[0], "pid": proc.pid}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = browser_support.start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


def console_errors(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def open_page(driver: Any, url: str) -> None:
    driver.get("about:blank")
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text


def test_runs_list_shows_the_finished_and_the_live_run(browser: Any, server: dict[str, Any],
                                                       cache: dict[str, Any], live: str) -> None:
    open_page(browser, server["url"])
    row = f"tr[data-run-id='{live}']"
    wait_for(lambda: text_of(browser, f"{row} [data-field=status]") == "running", what="the live run as running")
    assert text_of(browser, f"tr[data-run-id='{cache['finished']}'] [data-field=status]") == "finished"
    journal = Journal.open(cache["folder"] / cache["finished"])
    evaluations, failures = journal.counts()
    journal.close()
    finished = f"tr[data-run-id='{cache['finished']}']"
    assert text_of(browser, f"{finished} [data-field=evaluations]") == str(evaluations)
    assert text_of(browser, f"{finished} [data-field=failures]") == str(failures)
    first = int(wait_for(lambda: text_of(browser, f"{row} [data-field=evaluations]"), what="a count"))
    wait_for(lambda: int(text_of(browser, f"{row} [data-field=evaluations]")) > first + 3,
             what="the runs list's count of the live run to grow")
    assert console_errors(browser) == []


def test_live_run_count_grows_while_watched(browser: Any, server: dict[str, Any], live: str) -> None:
    open_page(browser, f"{server['url']}#/run/{live}")
    first = int(wait_for(lambda: text_of(browser, "#eval-count"), what="the evaluation count"))
    grown = wait_for(lambda: int(text_of(browser, "#eval-count")) > first + 5 and int(text_of(browser, "#eval-count")),
                     what="the live run's evaluation count to grow")
    assert grown > first
    points = browser.execute_script(
        "return document.querySelector(\"svg[data-plot='best-vs-evaluations'] path[data-series=evaluation]\")"
        ".getAttribute('d').split('M').length - 1")
    assert points >= 5
    assert text_of(browser, "#run-status") == "running"
    assert console_errors(browser) == []


def test_plots_render_without_console_errors(browser: Any, server: dict[str, Any], cache: dict[str, Any]) -> None:
    open_page(browser, f"{server['url']}#/run/{cache['finished']}")
    wait_for(lambda: browser.find_elements("css selector", "svg[data-plot=importance] rect"),
             what="the importance chart")
    stats = browser.execute_script("""
        const q = (s) => document.querySelector(s);
        const series = (plot, name) => q(`svg[data-plot='${plot}'] path[data-series='${name}']`);
        return {
          dots: series('best-vs-evaluations', 'evaluation').getAttribute('d').split('M').length - 1,
          best: series('best-vs-evaluations', 'best so far').getAttribute('d').length,
          failed: series('best-vs-time', 'failed').getAttribute('d').split('M').length - 1,
          bars: document.querySelectorAll('svg[data-plot=importance] rect').length,
          top: q('svg[data-plot=importance] text.bar-label').firstChild.nodeValue,
          effects: document.querySelectorAll("svg[data-plot^='effect-']").length,
          groups: document.querySelectorAll('#section-failures details').length,
          best_rows: document.querySelectorAll('#best-table tbody tr').length,
          config: q('#best-table tbody tr td.config').textContent,
          pareto_hidden: q('#section-pareto').hidden,
        };""")
    assert stats["dots"] > 20 and stats["best"] > 10 and stats["failed"] >= 1
    assert stats["bars"] == 3 and stats["effects"] == 3 and stats["top"] == "block"  # block dominates kernel()
    assert stats["groups"] == 2 and stats["best_rows"] == 10 and stats["pareto_hidden"]
    journal = Journal.open(cache["folder"] / cache["finished"])
    best = journal.result().get_best_result()
    journal.close()
    assert json.loads(stats["config"]) == best["params"]  # the table's JSON is the best configuration
    assert console_errors(browser) == []

    open_page(browser, f"{server['url']}#/run/{cache['pareto']}")
    wait_for(lambda: browser.find_elements("css selector", "svg[data-plot=pareto] circle"), what="the Pareto front")
    assert not browser.execute_script("return document.querySelector('#section-pareto').hidden")
    assert console_errors(browser) == []

    open_page(browser, f"{server['url']}#/compare/{cache['finished']},{cache['pareto']}")
    lines = wait_for(lambda: browser.execute_script(
        "return [...document.querySelectorAll(\"svg[data-plot='compare-evaluations'] path[data-series]\")]"
        ".map(p => p.getAttribute('d').length)"), what="the comparison plot")
    assert len(lines) == 2 and all(n > 10 for n in lines)
    assert console_errors(browser) == []


def test_run_values_are_shown_as_text_never_run(browser: Any, server: dict[str, Any], cache: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, f"{server['url']}#/run/{cache['hostile']}")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#section-failures details"), what="the failures")
    for summary in browser.find_elements(By.CSS_SELECTOR, "#section-failures details summary"):
        summary.click()
    body = browser.find_element(By.TAG_NAME, "body").text
    assert dashboard_runs.SCRIPT in body and dashboard_runs.IMG in body
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert browser.execute_script("return [...document.scripts].map(s => s.getAttribute('src'))") == ["/static/app.js"]
    assert console_errors(browser) == []


def test_captured_output_is_shown_as_text(browser: Any, server: dict[str, Any], cache: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, f"{server['url']}#/run/{cache['finished']}")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#section-failures details"), what="the failures")
    for summary in browser.find_elements(By.CSS_SELECTOR, "#section-failures details summary"):
        summary.click()
    browser.find_element(By.XPATH, "//button[text()='show captured output']").click()
    log = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "pre.log").text, what="the captured output")
    assert log == f"cc -O2 kernel.c\nkernel.c:12: error: {dashboard_runs.SCRIPT}"
    assert browser.execute_script("return window.__xss === undefined")
    assert console_errors(browser) == []


def test_traversal_refused_and_only_loopback_listens(server: dict[str, Any]) -> None:
    from test_dashboard import _listening

    host, port = server["url"].split("//")[1].rstrip("/").rsplit(":", 1)
    for path in ("/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd", "/api/runs/..%2f..%2f/meta"):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status in (400, 404) and b"root:" not in body
    if Path("/proc/self/net/tcp").exists():
        assert _listening(server["pid"]) == [("127.0.0.1", int(port))]
