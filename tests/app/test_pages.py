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


def test_runs_page_shows_status_and_where_configs_differ():
    store = RunStore()
    a = store.save_run("connectome", {"rank": 3, "seed": 1, "worm": {"snr": 2.0}}, {"error": 0.5,
                       "curves": {"loss": [3, 2, 1]}}, title="first", extra_meta={"status": "done"})
    b = store.save_run("connectome", {"rank": 4, "seed": 1, "worm": {"snr": 2.0}}, {"error": 0.4, "stopped_early": True,
                       "curves": {"loss": [4, 2, 0.5]}}, title="second", extra_meta={"status": "stopped"})
    c = store.save_run("connectome", {"rank": 5, "seed": 1}, {}, title="third",
                       extra_meta={"status": "failed", "error": "rank 5 is too large"})
    at = open_page("pages/runs.py")
    assert not at.exception
    frame = at.dataframe[0].value
    status = dict(zip(frame["run"], frame["status"], strict=True))
    assert status == {a: "finished", b: "stopped early", c: "failed"}
    at.multiselect(key="run_compare").set_value([a, b]).run()
    assert not at.exception
    diff = next(df.value for df in at.dataframe if list(df.value.columns) == [a, b] and "rank" in df.value.index)
    assert list(diff.index) == ["rank"] and list(diff.loc["rank"]) == ["3", "4"]  # rank 3 vs 4 is visible
    assert any(a in list(df.value.columns) and "error" in df.value.index for df in at.dataframe)


def test_importing_a_card_opens_it_and_a_bad_card_is_one_sentence():
    store = RunStore()
    store.save_run("connectome", {"rank": 2}, {"error": 0.9}, title="older")
    source = RunStore(store.root.parent / "elsewhere")
    card = source.export_card(source.save_run("connectome", {"rank": 7, "seed": 3}, {"error": 0.25}, title="shared"))
    at = open_page("pages/runs.py")
    at.file_uploader(key="card_upload").upload("card.json", b'{"format": "nope"}', "application/json").run()
    at.button(key="card_import").click().run()
    assert not at.exception
    assert any("not a dynlab lab card" in e.value for e in at.error)
    import json

    at.file_uploader(key="card_upload").set_value(("card.json", json.dumps(card).encode(), "application/json")).run()
    at.button(key="card_import").click().run()
    assert not at.exception
    imported = [r for r in store.list_runs() if r.meta.get("imported_from") == card["run_id"]]
    assert len(imported) == 1
    assert at.selectbox(key="runs:pick").value == imported[0].run_id  # the picker opens the imported run


def test_runs_page_lists_a_sweep_as_one_run_with_its_points(monkeypatch):
    import toylab

    from lab.core.sweep import SweepConfig
    from lab.core.verbs import run_foreground_verb

    with monkeypatch.context() as patch:  # the toy lab only while the sweep runs
        patch.setattr("lab.core.registry.labs", lambda: (toylab.TOY,))
        config = SweepConfig(lab="pointer", verb="count", base={"delay": 0.0}, grid={"steps": [1, 2]}, seeds=(0, 1))
        _, run_id = run_foreground_verb("pointer", "sweep", config)
    at = open_page("pages/runs.py")
    assert not at.exception
    assert list(at.dataframe[0].value["run"]) == [run_id]
    points = next(df.value for df in at.dataframe if "steps" in getattr(df.value, "columns", []))
    assert sorted(zip(points["steps"], points["seed"], strict=True)) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert set(points["status"]) == {"done"}
