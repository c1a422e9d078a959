"""A real Streamlit server and a real headless Chromium (Debian's, driven by Playwright).

The browser tests skip where Chromium is absent, unless ``DYNLAB_REQUIRE_BROWSER=1`` (CI), where a
missing browser is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.serve import CHROMIUM_FLAGS, chromium_path, running_app, wait_for_script

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _require_or_skip(reason: str) -> None:
    if os.environ.get("DYNLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DYNLAB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    env = {"DYNLAB_HOME": str(tmp_path_factory.mktemp("runs")), "DYNLAB_DEVICE": "cpu"}
    with open(tmp_path_factory.mktemp("log") / "streamlit.log", "w") as log, running_app(env, log) as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        _require_or_skip("Chromium is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require_or_skip("the playwright package is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


# A page load waits for the server, which on 2 shared cores may be busy with a job another test started.
NAVIGATION_TIMEOUT_MS = 90_000


def new_context(browser, width: int = 1400, height: int = 1000):
    """A fresh browser context (its own cookies and session) at ``width`` x ``height``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser):
    context = new_context(browser)
    page = context.new_page()
    yield page
    context.close()


def wait_for_app(page, timeout_ms: int = 60_000) -> None:
    wait_for_script(page, timeout_ms)
    page.wait_for_timeout(500)  # let plotly finish drawing before a screenshot


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
