"""Pointer page in a real browser: move the step slider and the attention figure changes."""

import pytest

from .conftest import shot, wait_for_app

pytestmark = pytest.mark.browser


def _press_right_on_first_slider(page, times: int) -> None:
    """Press the right arrow on the slider, each time only once the slider has the focus.

    During a rerun the focus can stay on the tab just clicked; an arrow key there switches tabs (a loaded CI
    machine once walked the page to the Train tab this way), so every press waits for the slider's focus.
    """
    thumb = page.locator("[data-testid='stSlider'] input[type='range']").first
    for _ in range(times):
        for _ in range(100):
            thumb.focus()
            if page.evaluate("() => document.activeElement && document.activeElement.type === 'range'"):
                break
            page.wait_for_timeout(100)
        page.keyboard.press("ArrowRight")


def test_step_slider_changes_the_attention_figure(app_url, page):
    # the open tab is part of the link: this one opens on the step view
    page.goto(f"{app_url}/pointer?method=untrained:ptrnet&n=10&step=1&pointer-tab=Step+through+the+pointer")
    wait_for_app(page)
    page.wait_for_selector("text=step 1/10", timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stPlotlyChart'] .gtitle\")]"
        ".some(t => t.textContent.includes('step 1/10'))", timeout=30_000)
    titles = page.locator("[data-testid='stPlotlyChart'] .gtitle")
    before = titles.all_text_contents()  # one snapshot: charts may re-render between calls
    _press_right_on_first_slider(page, 3)
    page.wait_for_selector("text=step 4/10", timeout=60_000)
    wait_for_app(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stPlotlyChart'] .gtitle\")]"
        ".some(t => t.textContent.includes('step 4/10'))", timeout=30_000)
    after = titles.all_text_contents()
    assert after != before
    assert page.locator("[data-testid='stException']").count() == 0
    shot(page, "pointer_step")


def test_clicking_the_step_tab_then_moving_the_slider_keeps_the_page(app_url, page):
    """As a person does it: click the tab, then move the slider at once (during the tab's rerun).

    Regression: the rerun re-created the widgets at their first option / minimum, so the page jumped
    to the convex hull with n = 3.
    """
    page.goto(f"{app_url}/pointer?method=untrained:ptrnet&n=10")
    wait_for_app(page)
    page.get_by_role("tab", name="Step through the pointer").click()
    page.wait_for_selector("text=step 1/10", timeout=60_000)
    for attempt in range(3):  # at once, as a person does; a press that lands on a slider being re-drawn is lost
        _press_right_on_first_slider(page, 3)
        try:
            page.wait_for_selector("text=/step [2-9]\\/10/", timeout=20_000)
            break
        except Exception:  # noqa: BLE001
            if attempt == 2:
                raise
    wait_for_app(page)
    assert "task=tsp" in page.url and "n=10" in page.url
    assert page.locator("[data-testid='stException']").count() == 0


def test_figure_html_download_is_self_contained(app_url, page, tmp_path):
    """The HTML download is built on click and opens offline: plotly.js is inside, no CDN link."""
    page.goto(f"{app_url}/pointer?task=hull&n=12")
    wait_for_app(page)
    page.wait_for_selector("text=Output rule", timeout=60_000)  # the hull's mask choice is offered
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Figure (HTML)").click()
    path = tmp_path / "figure.html"
    info.value.save_as(path)
    html = path.read_text()
    assert path.stat().st_size > 1_000_000  # plotly.js itself (~4 MB) is embedded
    assert 'src="https://cdn.plot.ly' not in html and "Plotly.newPlot" in html
    assert page.locator("[data-testid='stException']").count() == 0
