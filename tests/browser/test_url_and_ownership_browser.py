"""Each page keeps its own URL state; a shared link shares a view, never a running job.

Regressions found by hand in Chromium: pointer set to hull, n = 12, then connectome and back came back
with n = 40 (the connectome's neuron count) and its other controls reset; a link copied while a job ran
let a second browser press Stop on the first one's training.
"""

import re

import pytest

from .conftest import new_context, shot, wait_for_app

pytestmark = pytest.mark.browser


def _sidebar(page, text):
    page.locator("[data-testid='stSidebarNav'] a", has_text=text).first.click()


def test_pages_keep_their_own_controls_when_moving_between_them(app_url, page):
    page.goto(f"{app_url}/pointer?task=hull&n=12")
    wait_for_app(page)
    page.wait_for_selector("text=Output rule", timeout=60_000)
    _sidebar(page, "Dynamic connectome")
    page.wait_for_url("**/connectome**", timeout=30_000)
    wait_for_app(page)
    page.wait_for_selector("h1:has-text('Dynamic connectome')", timeout=60_000)
    assert "task=" not in page.url  # the pointer's controls are not in the connectome's link
    _sidebar(page, "Pointer tours")
    page.wait_for_url("**/pointer**", timeout=30_000)
    wait_for_app(page)
    page.wait_for_selector("text=Output rule", timeout=60_000)  # still the hull
    page.wait_for_function("() => location.search.includes('n=12')", timeout=30_000)
    assert re.search(r"[?&]task=hull(&|$)", page.url) and re.search(r"[?&]n=12(&|$)", page.url)
    assert page.locator("[data-testid='stException']").count() == 0


def test_a_copied_link_shows_the_view_but_not_the_stop_button(app_url, browser):
    owner = new_context(browser, 1280, 720)
    visitor = new_context(browser, 1280, 720)
    try:
        teacher = owner.new_page()
        teacher.goto(f"{app_url}/connectome?n=200&k=3&e=3&a=2&fpe=1000")
        wait_for_app(teacher)
        teacher.get_by_role("button", name="Run NTF").click()
        teacher.wait_for_selector("button:has-text('Stop')", timeout=60_000)
        link = teacher.url
        student = visitor.new_page()
        student.goto(link)
        wait_for_app(student)
        student.wait_for_selector("h1:has-text('Dynamic connectome')", timeout=60_000)
        student.wait_for_timeout(2500)  # two polls of a job panel, had there been one
        assert student.locator("button:has-text('Stop')").count() == 0
        assert student.locator("text=/NTF rank 3: step|finished after/").count() == 0  # nor its progress
        shot(student, "connectome_shared_link")
        # The owner reloads and finds the job again: still running (with Stop), or finished meanwhile on a
        # fast machine (with its result) -- either way, it is theirs.
        teacher.reload()
        wait_for_app(teacher)
        stop, done = teacher.locator("button:has-text('Stop')"), teacher.get_by_text("finished after")
        stop.or_(done).first.wait_for(timeout=60_000)
        if stop.count():
            try:  # it may still finish between the look and the click
                stop.first.click(timeout=5_000)
            except Exception:  # noqa: BLE001
                pass
        teacher.wait_for_selector("text=/stopped early|finished after/", timeout=120_000)
    finally:
        owner.close()
        visitor.close()
