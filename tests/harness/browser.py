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
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT, require

ARTIFACTS = Path(os.environ.get("PAGERKIT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
"""Where screenshots are kept for a person to look at after the run (CI keeps the folder)."""

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1200,900")


ELEMENT_WAIT = 10.0
"""Seconds a lookup waits for its element, and ``click_through`` for the next page."""


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
    browser.implicitly_wait(ELEMENT_WAIT)  # an element of a page still loading is awaited
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


def click_through(browser: webdriver.Chrome, element: WebElement) -> None:
    """Click ``element`` (a link, a form's button) and wait until the page it leads to has
    replaced this one: a lookup right after a bare click can still find the old page."""
    old = browser.find_element("tag name", "html")
    element.click()

    def replaced(_: object) -> bool:
        try:
            old.tag_name  # noqa: B018 (raises once the old document is gone)
        except Exception:  # StaleElementReferenceException, or the page mid-load
            return browser.execute_script("return document.readyState") == "complete"
        return False

    WebDriverWait(browser, ELEMENT_WAIT).until(replaced, "the next page never came")
