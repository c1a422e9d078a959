"""The connectome page: renders with defaults, controls and tabs work, jobs show their own inputs' result."""

from __future__ import annotations

import time

import pytest
from pagetest import open_page_file
from streamlit.testing.v1 import AppTest

SMALL = {"n": "16", "k": "2", "e": "2", "a": "2", "fpe": "120"}


def _page(**query: str) -> AppTest:
    return open_page_file("connectome", timeout=120, **query)


def _wait_for_job(at: AppTest, tries: int = 300) -> AppTest:
    for _ in range(tries):
        at.run()
        if any("saved as run" in s.value for s in at.success):
            assert not at.exception
            return at
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_renders_with_defaults():
    at = _page()
    labels = {m.label for m in at.metric}
    assert {"Reconstruction error", "ARI vs planted", "Mean modularity"} <= labels
    assert float(next(m for m in at.metric if m.label == "ARI vs planted").value) > 0.8
    assert not at.error


def test_window_slider_moves():
    at = _page(**SMALL, **{"connectome-tab": "Affinity"})  # the open tab is in the URL
    assert any(m.value.startswith("**Window 0**") for m in at.markdown)
    at.slider(key="url:connectome:w").set_value(3).run()
    assert not at.exception
    assert any(m.value.startswith("**Window 3**") for m in at.markdown)
    assert at.query_params["w"] == "3"


@pytest.mark.parametrize("name", ["worm.csv", "worm.npz", "worm.nwb"])
def test_sample_file_renders(name):
    at = _page(src="sample", sample=name)
    assert not at.error
    assert any(m.label == "Reconstruction error" for m in at.metric)
    assert not any(m.label == "ARI vs planted" for m in at.metric)  # a file has no planted truth


def test_bad_upload_shows_an_error():
    at = _page(src="upload")
    at.file_uploader[0].set_value(("bad.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert not at.exception
    assert any("neuron columns" in e.value for e in at.error)


def test_ntf_job_runs_with_progress_and_its_result_is_shown():
    at = _page(**SMALL)
    at.button(key="job:connectome:ntf:start").click().run()
    assert not at.exception
    _wait_for_job(at)
    assert any(m.label == "NTF iterations" for m in at.metric)


def _worm_csv(seed: int) -> bytes:
    from lab.connectome.synthetic import WormConfig, make_worm

    traces = make_worm(WormConfig(neurons=12, communities=2, epochs=2, animals=1, frames_per_epoch=100,
                                  seed=seed)).recording.traces[0]  # (N, T)
    rows = [",".join(f"n{i}" for i in range(traces.shape[0]))]
    rows += [",".join(f"{v:.5f}" for v in frame) for frame in traces.T]
    return ("\n".join(rows) + "\n").encode()


def _shown_error(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Reconstruction error")


def _expected_error(csv: bytes) -> str:
    from lab.connectome.config import ConnectomeConfig
    from lab.connectome.pipeline import run_verb
    from lab.connectome.readers import load_recording

    return f"{run_verb(ConnectomeConfig(source='upload'), data=load_recording(csv, name='x.csv')).fit.error:.3f}"


def test_a_job_on_one_upload_is_not_shown_for_another_of_the_same_shape():
    """Regression: the job's result was matched by config and shape, so upload B showed upload A's result."""
    a, b = _worm_csv(1), _worm_csv(2)
    error_a, error_b = _expected_error(a), _expected_error(b)
    assert error_a != error_b
    at = _page(src="upload")
    at.file_uploader[0].set_value(("a.csv", a, "text/csv")).run()
    at.button(key="job:connectome:ntf:start").click().run()
    _wait_for_job(at)
    assert _shown_error(at) == error_a
    at.file_uploader[0].set_value(("b.csv", b, "text/csv")).run()  # same shape (1 x 12 x 200), other traces
    assert not at.exception
    assert _shown_error(at) == error_b


def test_rank_scan_runs_as_a_job_and_downloads_are_offered():
    at = _page(**SMALL, scan_max="3", restarts="2", **{"connectome-tab": "Rank scan"})
    assert not at.dataframe  # nothing runs before the button
    at.button(key="job:connectome:scan:start").click().run()
    _wait_for_job(at)
    assert not at.error
    table = next(d.value for d in at.dataframe if "error_min" in d.value)  # (a panel may also show the saved run)
    assert list(table["rank"]) == [1, 2, 3]
    at = _page(**SMALL, **{"connectome-tab": "Downloads"})
    assert [b.proto.label for b in at.get("download_button")] == [
        "factors.npz", "factors.csv", "communities.csv", "figures.zip"]


def test_sweep_tab_runs_a_sweep_job_and_shows_its_table():
    at = _page(**SMALL, **{"connectome-tab": "Sweep"})
    at.text_input(key="sweep:connectome:rank").set_value("2,3")
    at.text_input(key="sweep:connectome:method").set_value("leiden,louvain")
    at.text_input(key="sweep:connectome:seeds").set_value("0").run()
    at.button(key="job:connectome:sweep:start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    for _ in range(300):
        frames = [df.value for df in at.dataframe if "method" in getattr(df.value, "columns", [])]
        if frames:
            break
        time.sleep(0.1)
        at.run()
    (table,) = frames
    assert len(table) == 4 and set(table["status"]) == {"done"}
    assert sorted(zip(table["rank"], table["method"], strict=True)) == [
        (2, "leiden"), (2, "louvain"), (3, "leiden"), (3, "louvain")]
    assert table["reconstruction_error"].between(0, 1).all() and table["ari"].notna().all()  # scored vs planted


def test_an_upload_is_not_offered_a_sweep():
    at = _page(src="upload", **{"connectome-tab": "Sweep"})
    at.file_uploader[0].set_value(("a.csv", _worm_csv(1), "text/csv")).run()
    assert not at.exception and any("choose the synthetic worm or a sample file" in i.value for i in at.info)
    assert not any(b.key == "job:connectome:sweep:start" for b in at.button)


def test_a_big_worm_waits_for_the_job_then_shows_its_result():
    at = _page(n="90", k="2", e="1", a="1", fpe="60", rank="2")
    assert not at.metric and any("press **Run NTF**" in i.value for i in at.info)
    at.button(key="job:connectome:ntf:start").click().run()
    _wait_for_job(at)
    assert any(m.label == "Reconstruction error" for m in at.metric)


def _animal_csv(names: list[str], seed: int, frames: int = 200) -> bytes:
    from lab.connectome.synthetic import WormConfig, make_worm

    traces = make_worm(WormConfig(neurons=len(names), communities=2, epochs=2, animals=1, frames_per_epoch=frames // 2,
                                  seed=seed)).recording.traces[0]
    rows = [",".join(names)] + [",".join(f"{v:.5f}" for v in frame) for frame in traces.T]
    return ("\n".join(rows) + "\n").encode()


def test_two_uploads_with_different_neurons_run_and_list_what_was_dropped():
    common = [f"N{i}" for i in range(10)]
    a = _animal_csv(common + ["AIAL", "ADER"], 1)
    b = _animal_csv(common + ["AIA?"], 2, frames=180)
    beh = ("frame,speed\n" + "\n".join(f"{f},{(f % 40) / 40:.3f}" for f in range(200)) + "\n").encode()
    at = _page(src="upload")
    at.file_uploader(key="connectome:traces").set_value([("a.csv", a, "text/csv"), ("b.csv", b, "text/csv")])
    at.file_uploader(key="connectome:covariates").set_value([("a_beh.csv", beh, "text/csv")]).run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "left out" in d.value)
    assert dict(zip(table["file"], table["neurons"], strict=True)) == {"a.csv": "AIAL ADER", "b.csv": "AIA?"}
    assert any("**10 neurons analysed**" in e.label for e in at.expander)
    assert any(m.label == "Reconstruction error" for m in at.metric)
    assert any("independent layout" in c.value for c in at.caption)  # different lengths, no shared clock
    at.text_input(key="connectome:highlight").set_value("N1 N2 AVAL").run()
    assert any("not among the analysed neurons: AVAL" in c.value for c in at.caption)
    at.selectbox(key="url:connectome:neurons").set_value("min:1").run()  # keep every neuron, mask the rest
    assert not at.exception and any("**13 neurons analysed**" in c.value for c in at.caption)


def test_cohort_sample_is_scored_and_its_behaviour_shown():
    at = _page(src="sample", sample="cohort: 3 worms, own neurons, behaviour", rank="3",
               **{"connectome-tab": "Behaviour"})
    assert not at.exception and not at.error
    assert float(next(m for m in at.metric if m.label == "ARI vs truth").value) > 0.8
    assert not any("No covariates" in i.value for i in at.info)


def test_meaningless_settings_are_said_in_words():
    at = _page(**SMALL, win_len="10", win_step="30", rank="2")
    assert not at.exception
    assert any("never looked at" in w.value for w in at.warning) and any("Only 8 windows" in w.value for w in at.warning)
    at = _page(**SMALL, win_len="4", win_step="2000", rank="12")
    assert any("rank 12 is more than the 1 window" in e.value for e in at.error)
