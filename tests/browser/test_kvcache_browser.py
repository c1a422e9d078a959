"""The KV-cache page in a real Chromium at 1280x720: it renders, and the ratio slider redraws the token map."""

import pytest

from .conftest import new_context, shot, wait_for_app

pytestmark = pytest.mark.browser

TOKEN_MAP = """() => {
  const plot = [...document.querySelectorAll('.js-plotly-plot')]
    .find(p => p.layout && p.layout.title && String(p.layout.title.text).includes('what each head keeps'));
  if (!plot) return null;
  // plotly.py sends arrays as base64 buffers ({dtype, bdata}); the drawn traces (_fullData) hold them decoded
  const cells = plot._fullData.filter(t => t.type === 'heatmap')
    .flatMap(t => Array.from(t.z).flatMap(row => typeof row === 'number' ? [row] : Array.from(row)));
  return {title: plot.layout.title.text, evicted: cells.filter(v => v === 0).length, cells: cells.length};
}"""


@pytest.fixture
def small_page(browser):
    context = new_context(browser, 1280, 720)
    yield context.new_page()
    context.close()


def test_kvcache_renders_and_the_ratio_slider_updates_the_token_map(app_url, small_page):
    page = small_page
    page.goto(f"{app_url}/kvcache?kvcache-tab=Microscope&model=random&press=snapkv&ratio=0.8")
    wait_for_app(page, 180_000)
    page.wait_for_selector("h1:has-text('KV-cache physics')", timeout=60_000)
    page.wait_for_function(f"() => {{ const m = ({TOKEN_MAP})(); return m && m.title.includes('ratio 0.80'); }}",
                           timeout=180_000)
    before = page.evaluate(TOKEN_MAP)
    assert page.locator("[data-testid='stException']").count() == 0
    shot(page, "kvcache_microscope")
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(4):  # 0.80 -> 0.60
        thumb.press("ArrowLeft")
    page.wait_for_function(f"() => {{ const m = ({TOKEN_MAP})(); return m && m.title.includes('ratio 0.60'); }}",
                           timeout=120_000)
    after = page.evaluate(TOKEN_MAP)
    assert "ratio=0.6" in page.url
    assert after["cells"] == before["cells"] and after["evicted"] < before["evicted"]  # fewer tokens evicted
    assert page.locator("[data-testid='stException']").count() == 0
