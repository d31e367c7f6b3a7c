"""A headless Chromium (the operating system's package) driven through Selenium, offline.

`nox -s tests` installs `chromium` and `chromium-driver` with apt where they are missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps", "--mute-audio",
         "--window-size=1360,1000"]


def find(candidates: tuple[str, ...], name: str) -> str | None:
    for path in candidates:
        if os.access(path, os.X_OK):
            return path
    return shutil.which(name)


def missing_reason() -> str | None:
    """Why no browser test can run here, or None when Chromium, its driver and Selenium are present."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (nox -s tests installs it)"
    if not find(CHROMIUM, "chromium"):
        return "no Chromium (apt-get install chromium chromium-driver; nox -s tests does it as root)"
    if not find(DRIVER, "chromedriver"):
        return "no chromedriver (apt-get install chromium-driver; nox -s tests does it as root)"
    return None


def start_chromium(profile: Path) -> Any:
    """A headless Chromium with a fresh profile in `profile`, its console log readable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = find(CHROMIUM, "chromium") or "chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=find(DRIVER, "chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver
