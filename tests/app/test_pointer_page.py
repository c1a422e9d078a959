"""The pointer page: renders with defaults, the step slider moves the pointer view, bad uploads say why."""

from __future__ import annotations

from pagetest import open_page_file
from streamlit.testing.v1 import AppTest

from lab.pointer.tasks import TASKS


def _page(**query: str) -> AppTest:
    return open_page_file("pointer", timeout=60, **query)


def test_renders_with_defaults_and_shows_a_result():
    at = _page()
    labels = {m.label for m in at.metric}
    assert {"Length", "Reference", "Gap", "Valid"} <= labels
    assert next(m for m in at.metric if m.label == "Valid").value == "yes"
    assert at.query_params["task"] == "tsp"


def test_step_slider_moves_the_pointer():
    at = _page(method="untrained:ptrnet", n="12", **{"pointer-tab": "Step through the pointer"})  # the tab is in the URL
    slider = at.slider(key="url:pointer:step")
    assert any("step 1/12" in m.value for m in at.markdown)
    slider.set_value(6).run()
    assert not at.exception
    assert any("step 6/12" in m.value for m in at.markdown)
    assert at.query_params["step"] == "6"


def test_hull_task_with_sample_file():
    at = _page(task="hull", src="sample", sample="points50.csv")
    assert not at.error
    assert next(m for m in at.metric if m.label == "Exact match").value in ("yes", "no")


def test_bad_upload_shows_an_error():
    at = _page(src="upload")
    at.file_uploader[0].set_value(("bad.tsp", b"NAME : b\nTYPE : TSP\nEDGE_WEIGHT_TYPE : EXPLICIT\n"
                                               b"NODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\nEOF\n",
                                   "application/octet-stream")).run()
    assert not at.exception
    assert any("not supported: EXPLICIT" in e.value for e in at.error)
    # what was computed stays: a random instance is still shown
    assert any(m.label == "Length" for m in at.metric)


def test_batch_view_runs_and_lists_instances():
    at = _page(n="8", batch="5", method="untrained:ptrnet", **{"pointer-tab": "Batch"})
    at.button[[b.label for b in at.button].index("Run batch")].click().run()
    assert not at.exception
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 5
    assert any("mean gap" in c.value for c in at.caption)


def test_hull_output_rule_is_offered_and_bound_to_the_url():
    at = _page(task="hull", n="20", method="untrained:ptrnet")
    rule = at.selectbox(key="url:pointer:rule")
    assert rule.value == "simple"
    assert next(m for m in at.metric if m.label == "Valid").value == "yes"  # an untrained model, still valid
    rule.set_value("convex").run()
    assert not at.exception
    assert at.query_params["rule"] == "convex"
    assert next(m for m in at.metric if m.label == "Valid").value == "yes"


def test_closed_tabs_do_not_run():
    at = _page(method="untrained:ptrnet", n="12")
    assert not any(s.key == "url:pointer:step" for s in at.slider)  # the step tab is closed: its slider never ran
    assert not any(b.label == "Run batch" for b in at.button)


def test_widgets_carry_their_current_value_as_their_own_default():
    """A browser that re-creates a widget falls back to its default: that must be the current value.

    Regression: a slider moved while a tab click's rerun was drawing re-created the page's widgets
    at their first option / minimum (task jumped to the convex hull, n to 3).
    """
    at = _page(task="delaunay", n="9", **{"pointer-tab": "Step through the pointer"})
    at.slider(key="url:pointer:step").set_value(4).run()
    task = at.selectbox(key="url:pointer:task")
    assert task.value == "delaunay" and task.proto.default == TASKS.index("delaunay")
    assert at.number_input(key="url:pointer:n").proto.default == 9
    assert list(at.slider(key="url:pointer:step").proto.default) == [4]


def test_train_tab_fine_tunes_an_attention_model_with_pomo():
    import time

    at = _page(task="tsp", **{"pointer-tab": "Train"})
    next(s for s in at.selectbox if s.label == "Model").set_value("am")
    next(s for s in at.slider if s.label == "n range").set_value((5, 6))
    next(s for s in at.select_slider if s.label == "Hidden size").set_value(32)
    next(n for n in at.number_input if n.label == "Steps").set_value(10)
    next(n for n in at.number_input if n.label == "Batch size").set_value(8)
    at.run()
    pomo = next(n for n in at.number_input if n.label == "POMO steps")
    assert not pomo.disabled
    pomo.set_value(5).run()
    at.button(key="job:pointer:train:start").click().run()
    for _ in range(120):  # the job trains in a background thread; each rerun redraws the page
        curves = [c for c in at.get("plotly_chart") if c.proto.id and "pointer:curves" in c.proto.id]
        if curves:
            break
        time.sleep(1.0)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert curves and "pomo_tour_length" in curves[0].proto.spec  # the REINFORCE phase ran and is drawn
    trained = [o for o in at.selectbox(key="url:pointer:method").options if o.startswith("trained here: am tsp")]
    assert trained, "the model trained with POMO became selectable"
    run_id = trained[0].rsplit("(run ", 1)[1].rstrip(")")  # offered by its run's checkpoint, not a live object
    at.selectbox(key="url:pointer:method").set_value(f"run:{run_id}").run()
    assert not at.exception and at.query_params["method"] == f"run:{run_id}"
    assert next(m for m in at.metric if m.label == "Valid").value == "yes"


def test_a_second_upload_of_the_same_shape_shows_its_own_result():
    """Results are keyed by the upload's content: file B never shows file A's numbers."""
    import numpy as np

    def csv(seed: int) -> bytes:
        pts = np.random.default_rng(seed).random((9, 2))
        return ("x,y\n" + "".join(f"{x:.6f},{y:.6f}\n" for x, y in pts)).encode()

    at = _page(src="upload", method="solver:two_opt")
    lengths = []
    for name, seed in (("a.csv", 1), ("b.csv", 2)):
        at.file_uploader[0].set_value((name, csv(seed), "text/csv")).run()
        assert not at.exception and not at.error
        lengths.append(next(m for m in at.metric if m.label == "Length").value)
    assert lengths[0] != lengths[1]


def test_generalisation_tab_measures_the_selected_model_now():
    at = _page(task="hull", method="untrained:ptrnet", **{"pointer-tab": "Generalisation"})
    button = next(b for b in at.button if b.label.startswith("Measure the selected model now"))
    button.click().run()
    assert not at.exception
    assert any(c.proto.id and "gen:live" in c.proto.id for c in at.get("plotly_chart"))


def test_generalisation_measured_now_uses_the_decoding_columns_distance_prior():
    import json

    at = _page(method="untrained:am", prior="10", n="30", **{"pointer-tab": "Generalisation"})
    button = next(b for b in at.button if b.label.startswith("Measure the selected model now"))
    assert "distance prior 10" in button.label
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    live = next(c for c in at.get("plotly_chart") if c.proto.id and "gen:live" in c.proto.id)
    spec = json.loads(live.proto.spec)
    assert "distance prior 10" in spec["layout"]["title"]["text"]
    assert spec["data"][0]["x"] == [5, 10, 20, 30, 50]  # the quick sizes and the page's own n


def test_sweep_tab_runs_a_sweep_job_and_shows_its_table():
    import time

    at = _page(method="untrained:ptrnet", **{"pointer-tab": "Sweep"})
    at.text_input(key="sweep:pointer:decode").set_value("greedy,sample")
    at.text_input(key="sweep:pointer:n").set_value("5,8")
    at.text_input(key="sweep:pointer:num").set_value("2")
    at.text_input(key="sweep:pointer:seeds").set_value("0,1").run()
    at.button(key="job:pointer:sweep:start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    for _ in range(300):
        frames = [df.value for df in at.dataframe if "decode" in getattr(df.value, "columns", [])]
        if frames:
            break
        time.sleep(0.1)
        at.run()
    (table,) = frames
    assert len(table) == 8 and set(table["status"]) == {"done"}
    assert sorted(set(zip(table["decode"], table["n"], strict=True))) == [
        ("greedy", 5), ("greedy", 8), ("sample", 5), ("sample", 8)]
    assert any("Backend: **local**" in c.value for c in at.caption)


def test_polish_checkbox_shows_the_polished_tour_beside_the_models_own():
    at = _page(method="untrained:ptrnet", n="40", polish="true")
    labels = {m.label: m.value for m in at.metric}
    assert "Polished" in labels and "Gap" in labels  # the network's own gap stays visible
    polished_gap = float(labels["Polished"].split("(")[1].rstrip(" %)"))
    assert polished_gap < float(labels["Gap"].rstrip(" %"))
    assert at.checkbox(key="url:pointer:polish").value is True
    assert not _page(task="hull").get("checkbox")  # nothing to polish for the hull


def test_play_moves_the_one_step_control_and_everything_follows():
    at = _page(method="untrained:ptrnet", n="6", **{"pointer-tab": "Step through the pointer"})
    assert at.slider(key="url:pointer:step").value == 1
    at.toggle(key="pointer:play").set_value(True).run()  # each run of the playing view is one step on
    first = at.slider(key="url:pointer:step").value
    at.run()
    second = at.slider(key="url:pointer:step").value
    assert second == first % 6 + 1
    assert any(f"step {second}/6" in m.value for m in at.markdown)  # the caption follows the slider
    assert at.query_params["step"] == str(second)  # and so does the link


def test_a_model_outside_its_training_sizes_is_said_and_search_widths_are_controls():
    assert any("outside" in w.value for w in _page(task="delaunay", n="30").warning)
    assert not _page(task="delaunay", n="8").warning
    at = _page(decode="beam", beam="3")
    assert at.number_input(key="url:pointer:beam").value == 3
    at = _page(decode="sample", samples="4")
    assert at.number_input(key="url:pointer:samples").value == 4 and not at.exception


def test_two_decodings_side_by_side():
    import json

    at = _page(n="20", vs="pomo")  # the shipped attention model: greedy on the left, POMO x 8 on the right
    assert not at.exception and at.selectbox(key="url:pointer:vs").value == "pomo"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]][:2]
    assert titles[0].startswith("greedy: ") and titles[1].startswith("pomo: ")
    names = {t.get("name") for t in spec["data"]}
    assert "pomo output" in names and not any("reference" in str(n) for n in names)


def test_a_link_without_a_method_opens_on_the_model_for_its_size_and_later_n_changes_keep_the_choice():
    at = _page(n="50")  # a shared TSP50 link: the model trained on TSP50, no out-of-range warning
    assert at.selectbox(key="url:pointer:method").value == "zoo:am_tsp50" and not at.warning
    assert at.query_params["method"] == "zoo:am_tsp50"
    at = _page(n="20")
    assert at.selectbox(key="url:pointer:method").value == "zoo:am_tsp20"
    at.number_input(key="url:pointer:n").set_value(50).run()  # the user's choice stays; the warning names the other
    assert at.selectbox(key="url:pointer:method").value == "zoo:am_tsp20"
    warning = " ".join(w.value for w in at.warning)
    assert "outside" in warning and "am_tsp50" in warning and not at.exception


def test_a_file_instance_outside_the_models_training_sizes_is_said():
    at = _page(src="sample", sample="points50.csv", method="zoo:am_tsp20")  # 50 points, a model trained on 20
    warning = " ".join(w.value for w in at.warning)
    assert "n = 50 is outside" in warning and "am_tsp50" in warning and not at.exception
    assert not _page(src="sample", sample="points50.csv", method="zoo:am_tsp50").warning


def test_the_distance_prior_is_a_control_for_the_attention_model_and_changes_its_tour():
    at = _page(n="60", method="zoo:am_tsp20")
    prior = at.number_input(key="url:pointer:prior")
    alone = next(m for m in at.metric if m.label == "Length").value
    assert any("Distance prior" in w.value for w in at.warning)  # past its training size, the prior is suggested
    prior.set_value(100.0).run()  # the largest offered: a strong pull toward the nearest node
    assert not at.exception and at.query_params["prior"] == "100.0"
    assert next(m for m in at.metric if m.label == "Length").value != alone
    assert not any("Distance prior" in w.value for w in at.warning)  # in use: no longer suggested
    hull = _page(task="hull", n="20")
    assert not [w for w in hull.number_input if w.key == "url:pointer:prior"]


def test_the_start_control_is_offered_where_the_model_has_a_start_head():
    from lab.pointer import zoo

    assert zoo.has_start_head("am_tsp50") and not zoo.has_start_head("ptrnet_tsp")
    assert not [s for s in _page(n="20", method="zoo:ptrnet_tsp").selectbox if s.key == "url:pointer:start"]
    at = _page(n="50", method="zoo:am_tsp50")
    start = at.selectbox(key="url:pointer:start")
    assert start.value == "learned"
    start.set_value("node0").run()
    assert not at.exception and not at.error and at.query_params["start"] == "node0"
    assert not [s for s in _page(n="50", method="zoo:am_tsp50", decode="pomo").selectbox
                if s.key == "url:pointer:start"]  # POMO starts from every node


def test_the_train_tab_fits_a_start_head_that_becomes_a_method_with_a_start_control():
    import time

    at = _page(task="tsp", **{"pointer-tab": "Train"})
    source = at.selectbox(key="pointer:fit:src")
    assert any(o.startswith("am_tsp20") for o in source.options)
    assert not any("ptrnet" in o for o in source.options)  # only attention models have a start head
    source.set_value(next(o for o in source.options if o.startswith("am_tsp20")))
    at.number_input(key="pointer:fit:num").set_value(100)
    at.number_input(key="pointer:fit:epochs").set_value(2)
    at.run()
    at.button(key="job:pointer:fit_start:start").click().run()
    for _ in range(120):  # the job runs in a background thread; each rerun redraws the page
        fitted = [o for o in at.selectbox(key="url:pointer:method").options if "+ start head" in o]
        if fitted:
            break
        time.sleep(1.0)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert fitted, "the model with its fitted head became selectable"
    assert any("longer than from the best of the 20 starts" in m.value for m in at.markdown)
    at.selectbox(key="url:pointer:method").set_value(fitted[0]).run()
    assert not at.exception
    assert any(s.label == "Start" for s in at.selectbox)  # its card has a head: the control is offered
