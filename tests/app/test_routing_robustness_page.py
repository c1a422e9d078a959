"""The routing page's robustness view: FGSM on the shipped model; the epsilon slider moves the figures."""

from __future__ import annotations

import json

from pagetest import open_page_file


def _spec(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id).proto.spec)


def test_epsilon_slider_changes_the_robustness_figures():
    at = open_page_file("routing", timeout=180, view="robustness", attack="fgsm", eps="1.0")
    assert not at.error
    labels = {m.label for m in at.metric}
    assert {"Clean", "Accuracy attack", "Slowdown attack"} <= labels
    before = _spec(at, "routing:robust_curves")
    gallery = _spec(at, "routing:robust_gallery")
    slider = at.slider(key="url:routing:eps")
    assert "grey levels" in slider.label
    slider.set_value(3.0).run()
    assert not at.exception
    after = _spec(at, "routing:robust_curves")
    vline = [s["x0"] for s in after["layout"]["shapes"]]
    assert vline and set(vline) == {3.0} and {s["x0"] for s in before["layout"]["shapes"]} == {1.0}
    assert _spec(at, "routing:robust_gallery") != gallery  # other perturbed digits at the new epsilon
    assert at.query_params["eps"] == "3.0"
