"""The small / big / skip section in a real Chromium (1280x720): train a short run as a job, the budget slider
moves the operating point, a click on a token in the difficulty map chooses it."""

from __future__ import annotations

import pytest

from app.serve import running_app, wait_for_script

from .conftest import SCREENSHOTS, new_context

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium_page(tmp_path_factory, browser):
    """Its own server (one torch thread) on the session's Chromium: a second Playwright would clash with it."""
    # one torch thread in the server: two OpenMP threads on a loaded two-core machine were 15x slower (spinning)
    env = {"DYNLAB_HOME": str(tmp_path_factory.mktemp("runs")), "DYNLAB_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    with open(tmp_path_factory.mktemp("log") / "streamlit.log", "w") as log, running_app(env, log) as (url, _):
        context = new_context(browser, 1280, 720)
        yield url, context.new_page()
        context.close()


def test_routes_section_trains_and_the_budget_and_a_click_move_the_view(chromium_page):
    url, page = chromium_page
    page.goto(f"{url}/routing?routing-tab=Token+routing&r_corpus=synthetic&r_layers=2&r_steps=5")
    wait_for_script(page, 90_000)
    page.get_by_role("button", name="Train routes").click()
    page.wait_for_selector("text=Routes at 50 %", timeout=180_000)
    assert page.locator("[data-testid='stException']").count() == 0
    budget = page.locator("[data-testid='stSlider']").filter(has_text="Budget").get_by_role("slider")
    budget.focus()
    budget.press("ArrowLeft")
    page.wait_for_selector("text=Routes at 45 %", timeout=60_000)
    assert "r_budget=45" in page.url
    difficulty = page.locator("[data-testid='stPlotlyChart']").filter(has_text="Difficulty over the text")
    difficulty.scroll_into_view_if_needed()
    box = difficulty.locator("path.point").nth(7).bounding_box()  # plotly's drag layer takes the click
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => window.location.search.includes('r_token=7')", timeout=60_000)
    page.wait_for_selector("text=Token #7", timeout=60_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.locator("text=Routes at 45 %").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "routing_routes.png"))
