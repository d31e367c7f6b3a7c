"""Screenshots of the dashboard for docs/dashboard.md, taken with headless Chromium over real runs.

Run from the repository root in the tests venv: `.nox/tests/bin/python docs/img/src/dashboard_screenshots.py`.
Writes docs/img/dashboard_runs.png, dashboard_run.png, dashboard_failures.png, dashboard_pareto.png
and dashboard_compare.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))

import browser_support  # noqa: E402
import dashboard_runs  # noqa: E402

from compileiq.dashboard import make_server  # noqa: E402

OUT = ROOT / "docs" / "img"


def shoot(driver, url: str, name: str, ready: str, element: str | None = None, height: int = 1000) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.set_window_size(1360, height)
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    time.sleep(0.8)
    if element:
        node = driver.find_element(By.CSS_SELECTOR, element)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", node)
        time.sleep(0.3)
        node.screenshot(str(OUT / name))
    else:
        driver.save_screenshot(str(OUT / name))
    print(OUT / name)


def main() -> None:
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "runs"
        kernel = dashboard_runs.finished_run(cache, generations=14, pool_size=16)
        kernel2 = dashboard_runs.finished_run(cache, generations=10, pool_size=12)
        pareto = dashboard_runs.pareto_run(cache)
        server = make_server(cache)
        server.start_background()
        driver = browser_support.start_chromium(Path(tmp) / "profile")
        try:
            base = server.url
            shoot(driver, base, "dashboard_runs.png", "#runs tr[data-run-id]", height=420)
            shoot(driver, f"{base}#/run/{kernel.name}", "dashboard_run.png", "svg[data-plot='importance']",
                  height=1900)
            for summary in driver.find_elements(By.CSS_SELECTOR, "#section-failures details summary"):
                summary.click()
            button = driver.find_elements(By.XPATH, "//button[text()='show captured output']")
            if button:
                button[0].click()
                time.sleep(0.5)
            driver.find_element(By.ID, "section-failures").screenshot(str(OUT / "dashboard_failures.png"))
            shoot(driver, f"{base}#/run/{pareto.name}", "dashboard_pareto.png", "svg[data-plot='pareto']",
                  element="#section-pareto svg[data-plot='pareto']")
            shoot(driver, f"{base}#/compare/{kernel.name},{kernel2.name}", "dashboard_compare.png",
                  "svg[data-plot='compare-evaluations']", height=760)
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
