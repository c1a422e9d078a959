"""The routing page in a real Chromium: renders with the shipped model, the threshold slider moves the operating point."""

import pytest

from .conftest import shot, wait_for_app

pytestmark = pytest.mark.browser


def test_routing_renders_and_threshold_slider_moves(app_url, page):
    page.goto(f"{app_url}/routing")
    wait_for_app(page)
    page.wait_for_selector("h1:has-text('Routing & early exits')", timeout=60_000)
    page.wait_for_selector("text=t = 0.9:", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    thumb = page.get_by_role("slider").first
    thumb.focus()
    thumb.press("ArrowRight")
    page.wait_for_selector("text=t = 0.905:", timeout=60_000)
    assert "t=0.905" in page.url
    assert page.locator("[data-testid='stException']").count() == 0
    shot(page, "routing")
