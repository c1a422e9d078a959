"""Every page opens through the real entrypoint (st.navigation) without an exception element."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.core.registry import LABS
from lab.core.runstore import RunStore

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")
PAGES = ["pages/home.py", *[info.page for info in LABS], "pages/runs.py"]


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page != "pages/home.py":
        at.switch_page(f"../{page}")
        at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_without_exception(page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"


def test_home_lists_every_lab():
    at = open_page("pages/home.py")
    text = " ".join(m.value for m in at.markdown)
    for info in LABS:
        assert info.question[:40] in text


def test_sidebar_seed_comes_from_the_url():
    at = open_page("pages/home.py", {"seed": "1234"})
    seed = at.sidebar.number_input(key="url:seed")
    assert seed.value == 1234
    seed.set_value(99).run()
    assert at.query_params["seed"] == ["99"] or at.query_params["seed"] == "99"


def test_sidebar_reports_device_choice():
    at = open_page("pages/home.py", {"device": "cpu"})
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "using **cpu**" in captions


def test_runs_page_with_zero_runs_says_how_to_make_one():
    at = open_page("pages/runs.py")
    assert any("No runs yet" in i.value for i in at.info)


def test_runs_page_shows_and_compares_runs():
    store = RunStore()
    a = store.save_run("pointer", {"n": 10, "seed": 1}, {"gap": 0.05, "curves": {"loss": [3, 2, 1]}}, title="first")
    b = store.save_run("pointer", {"n": 20, "seed": 2}, {"gap": 0.02, "curves": {"loss": [4, 2, 0.5]}}, title="second")
    at = open_page("pages/runs.py")
    assert not at.exception
    frame = at.dataframe[0].value
    assert {a, b} <= set(frame["run"])
    compare = at.multiselect(key="run_compare")
    compare.set_value([a, b]).run()
    assert not at.exception
    assert any(a in list(df.value.columns) and b in list(df.value.columns) for df in at.dataframe)


def test_bad_lab_card_upload_shows_one_sentence():
    """The import path validates a card; an invalid one is an error box, not an exception."""
    from lab.core.errors import LabInputError

    with pytest.raises(LabInputError, match="not a dynlab lab card"):
        RunStore().import_card({"format": "something-else"})
