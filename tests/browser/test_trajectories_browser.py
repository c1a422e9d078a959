"""The trajectories page in a real Chromium: renders, and the time slider moves the scene."""

import re

import pytest

from .conftest import shot, wait_for_app

pytestmark = pytest.mark.browser


def test_trajectories_renders_and_time_slider_moves(app_url, page):
    page.goto(f"{app_url}/trajectories?agents=8&frames=60&t=20")
    wait_for_app(page)
    page.wait_for_selector("h1:has-text('Trajectory groups')", timeout=60_000)
    page.wait_for_selector("text=Frame 200", timeout=90_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    thumb = page.get_by_role("slider").first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_selector("text=Frame 210", timeout=60_000)
    assert re.search(r"[?&]t=21", page.url)
    assert page.locator("[data-testid='stException']").count() == 0
    shot(page, "trajectories")
