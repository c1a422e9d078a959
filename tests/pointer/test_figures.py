"""Figure builders return plotly figures with the pieces the page relies on."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lab.pointer import figures
from lab.pointer.tasks import convex_hull_label, delaunay_label, random_instances, tsp_reference


def test_comparison_marks_edges_missing_from_the_reference():
    pts = random_instances(10, 1, 0)[0]
    ref = tsp_reference(pts)
    fig = figures.comparison_figure(pts, "tsp", ref, ref, ("model", "reference"))
    assert not any(str(t.name).startswith("not in the reference") for t in fig.data)
    fig = figures.comparison_figure(pts, "tsp", np.arange(10), ref, ("model", "reference"))
    assert any(str(t.name).startswith("not in the reference") for t in fig.data)
    tri = delaunay_label(pts)
    assert isinstance(figures.comparison_figure(pts, "delaunay", tri, tri, ("a", "b")), go.Figure)
    assert isinstance(figures.solution_figure(pts, "hull", convex_hull_label(pts)), go.Figure)


def test_step_figure_highlights_the_chosen_point_numbers_points_and_marks_start_and_direction():
    pts = random_instances(6, 1, 1)[0]
    seq = [0, 3, 1, 5, 2, 4]
    att = np.full((6, 6), 1 / 6)
    att[2] = [0, 0.7, 0, 0.1, 0.2, 0]
    fig = figures.pointer_step_figure(pts, "tsp", seq, att, step=2)
    assert "points to 1" in fig.layout.title.text and "p = 0.70" in fig.layout.title.text
    ring = next(t for t in fig.data if str(t.name).startswith("chosen"))
    assert ring.x[0] == pts[1, 0] and ring.y[0] == pts[1, 1]
    assert not fig.frames and not fig.layout.sliders  # one step control only: the page's slider
    probs = next(t for t in fig.data if t.name == "pointer probability")
    assert list(probs.text) == ["0", "1", "2", "3", "4", "5"]  # the title's "points to 1" can be found
    assert figures.step_title("tsp", seq, att, 0).startswith("step 1/6: starts at 0 (given")
    start = next(t for t in fig.data if str(t.name).startswith("start"))
    assert start.name == "start: 0" and start.x[0] == pts[0, 0]
    so_far = next(t for t in fig.data if t.name == "output so far")
    assert so_far.marker.symbol == "arrow" and so_far.marker.angleref == "previous"  # the tour's direction
    heat = figures.attention_heatmap(att, seq, step=2)
    assert heat.data[0].z.shape == (6, 6) and list(heat.data[0].y) == [1, 2, 3, 4, 5, 6]  # steps from 1
    assert heat.layout.shapes[0].y0 == 3  # the marked row is step 3 of the slider (0-based 2)


def test_hull_step_title_reports_eos_mass():
    att = np.array([[0.5, 0.3, 0.0, 0.0], [0.0, 0.2, 0.2, 0.1]])
    assert "EOS 0.50" in figures.step_title("hull", [0, 1], att, 1)


def test_summary_figures():
    assert figures.gap_histogram([0.01, 0.02, None]).data[0].x.tolist() == [1.0, 2.0]
    rows = [{"label": "m", "n": 10, "gap": 0.02}, {"label": "m", "n": 5, "gap": 0.01}]
    gen = figures.generalisation_figure(rows, "gap", {"m": (5, 10), "tsp20": (20, 20)})
    assert list(gen.data[0].x) == [5, 10] and list(gen.data[0].y) == [1.0, 2.0]  # percent, as on the rest of the page
    assert gen.layout.yaxis.title.text == "gap (%)"
    bands = [(sh.x0, sh.x1) for sh in gen.layout.shapes]
    assert bands == [(4.5, 10.5), (19.5, 20.5)]  # a one-size model still gets a band under its label
    assert len(gen.layout.annotations) == 2
    assert len(figures.curves_figure({"loss": [3, 2, 1], "gap": [0.5, 0.4]}).data) == 2


def test_a_later_phase_curve_is_drawn_against_the_run_steps():
    fig = figures.curves_figure({"loss": [3, 2, 1, 0.5, 0.4], "pomo_tour_length": [4.1, 4.0]})
    loss, pomo = fig.data
    assert list(loss.x) == [1, 2, 3, 4, 5] and list(pomo.x) == [4, 5]  # POMO ran the last two steps


def test_tsplib_points_sit_on_the_generalisation_chart(tmp_path):
    import json

    from lab.pointer.generalisation import tsplib_rows

    path = tmp_path / "tsplib.json"
    path.write_text(json.dumps({"instances": [{"name": "eil51", "n": 51, "methods": {
        "am_tsp50 greedy": {"gap": 0.04}, "am_tsp50 pomo": {"gap": 0.01}, "two_opt": {"gap": 0.05}}}]}))
    real = tsplib_rows(path=path)
    assert real == [{"label": "am_tsp50", "n": 51, "gap": 0.04, "name": "eil51"}]
    fig = figures.generalisation_figure([{"label": "am_tsp50", "n": 50, "gap": 0.09}], "gap", real=real)
    diamond = next(t for t in fig.data if t.name == "am_tsp50 on TSPLIB")
    assert list(diamond.x) == [51] and list(diamond.y) == [4.0] and diamond.marker.color == fig.data[0].line.color
    assert tsplib_rows(path=tmp_path / "missing.json") == []


def test_a_distance_prior_curve_is_dashed_in_its_models_colour_and_kept_apart():
    rows = [{"label": "am_tsp50", "n": n, "gap": g} for n, g in ((100, 0.07), (200, 0.17))]
    rows += [{"label": "am_tsp50", "n": n, "gap": g, "distance_prior": 10.0} for n, g in ((100, 0.06), (200, 0.14))]
    fig = figures.generalisation_figure(rows, "gap")
    alone, prior = fig.data
    assert alone.name == "am_tsp50" and np.allclose(alone.y, [7.0, 17.0]) and alone.line.dash == "solid"
    assert prior.name == "am_tsp50 + distance prior 10" and np.allclose(prior.y, [6.0, 14.0])
    assert prior.line.dash == "dash" and prior.line.color == alone.line.color
