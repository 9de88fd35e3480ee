"""Headless Chromium (Debian's chromium and chromium-driver) driven by selenium."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import ROOT, require

ARTIFACTS = Path(os.environ.get("PAGERKIT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
"""Where screenshots are kept for a person to look at after the run (CI keeps the folder)."""

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1200,900")


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    require(binary is not None and driver is not None,
            "chromium and chromium-driver (Debian packages)")
    assert binary is not None and driver is not None
    profile = tempfile.mkdtemp(prefix="pagerkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(browser: webdriver.Chrome, name: str) -> Path:
    """Save the page as ``ARTIFACTS/<name>.png``; the path, for the test's message."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"no screenshot saved at {path}"
    return path
