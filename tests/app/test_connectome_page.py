"""The connectome page: renders with defaults, the window slider moves, bad uploads say why."""

from __future__ import annotations

from pagetest import open_page_file
from streamlit.testing.v1 import AppTest

SMALL = {"n": "16", "k": "2", "e": "2", "a": "2", "fpe": "120"}


def _page(**query: str) -> AppTest:
    return open_page_file("connectome", timeout=120, **query)


def test_renders_with_defaults():
    at = _page()
    labels = {m.label for m in at.metric}
    assert {"Reconstruction error", "ARI vs planted", "Mean modularity"} <= labels
    assert float(next(m for m in at.metric if m.label == "ARI vs planted").value) > 0.8
    assert not at.error


def test_window_slider_moves():
    at = _page(**SMALL, tab="Affinity")  # the open tab is in the URL
    assert any(m.value.startswith("**Window 0**") for m in at.markdown)
    at.slider(key="url:w").set_value(3).run()
    assert not at.exception
    assert any(m.value.startswith("**Window 3**") for m in at.markdown)
    assert at.query_params["w"] == "3"


def test_sample_file_renders():
    at = _page(src="sample", sample="worm.npz")
    assert not at.error
    assert any(m.label == "Reconstruction error" for m in at.metric)


def test_bad_upload_shows_an_error():
    at = _page(src="upload")
    at.file_uploader[0].set_value(("bad.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert not at.exception
    assert any("neuron columns" in e.value for e in at.error)


def test_ntf_job_runs_with_progress_and_its_result_is_shown():
    import time

    at = _page(**SMALL)
    at.button(key="job:connectome:ntf:start").click().run()
    assert not at.exception
    for _ in range(200):
        at.run()
        if any("saved as run" in s.value for s in at.success):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the NTF job did not finish")
    assert not at.exception
    assert any(m.label == "NTF iterations" for m in at.metric)
