"""Pointer page in a real browser: move the step slider and the attention figure changes."""

import pytest

from .conftest import shot, wait_for_app

pytestmark = pytest.mark.browser


def test_step_slider_changes_the_attention_figure(app_url, page):
    page.goto(f"{app_url}/pointer?method=untrained:ptrnet&n=10&step=1")
    wait_for_app(page)
    page.get_by_role("tab", name="Step through the pointer").click()
    page.wait_for_selector("text=step 1/10", timeout=60_000)
    titles = page.locator("[data-testid='stPlotlyChart'] .gtitle")
    before = titles.all_text_contents()  # one snapshot: charts may re-render between calls
    thumb = page.locator("[data-testid='stSlider'] input[type='range']").first
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowRight")
    page.wait_for_selector("text=step 4/10", timeout=60_000)
    wait_for_app(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stPlotlyChart'] .gtitle\")]"
        ".some(t => t.textContent.includes('step 4/10'))", timeout=30_000)
    after = titles.all_text_contents()
    assert after != before
    assert page.locator("[data-testid='stException']").count() == 0
    shot(page, "pointer_step")
