"""The trajectories page: renders, the time slider moves the scene, samples, uploads and bad files."""

from __future__ import annotations

from pagetest import open_page_file
from streamlit.testing.v1 import AppTest

SMALL = {"agents": "8", "frames": "60"}


def _page(**query: str) -> AppTest:
    return open_page_file("trajectories", timeout=120, **query)


def _frame_text(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Frame "))


def test_renders_and_the_time_slider_moves_the_scene():
    at = _page(**SMALL)
    assert not at.error
    labels = {m.label for m in at.metric}
    assert {"Windows", "group minADE/minFDE", "cv minADE/minFDE", "Group ARI (model)"} <= labels
    before = _frame_text(at)
    at.slider(key="url:trajectories:t").set_value(30).run()
    assert not at.exception
    after = _frame_text(at)
    assert after != before and after.startswith("**Frame 300**")
    assert at.query_params["t"] == ["30"] or at.query_params["t"] == "30"


def test_sample_file_and_other_tabs_render():
    at = _page(src="sample", sample="crowd_seed7.txt", **{"trajectories-tab": "Metrics"})
    assert not at.error and not at.exception
    assert at.dataframe  # the metrics table
    at = _page(**SMALL, **{"trajectories-tab": "Graph over time"})
    assert not at.exception


def test_springs_tab_shows_edge_accuracy():
    at = _page(**SMALL, **{"trajectories-tab": "Springs edges"})
    assert not at.exception
    assert any(m.label.startswith("Edge accuracy") for m in at.metric)


def test_upload_and_bad_upload():
    at = _page(src="upload")
    rows = "".join(f"{f * 10}\t{a}\t{a + 0.4 * f:.2f}\t{a * 2.0:.2f}\n" for f in range(30) for a in (1, 2, 3))
    at.file_uploader[0].set_value(("scene.txt", rows.encode(), "text/plain")).run()
    assert not at.exception and not at.error
    assert any(m.label == "Windows" for m in at.metric)
    at.file_uploader[0].set_value(("bad.txt", b"0 1 abc 2\n", "text/plain")).run()
    assert not at.exception
    assert any("not a number" in e.value for e in at.error)
