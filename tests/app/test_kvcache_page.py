"""The KV-cache page: renders (untrained model when no checkpoint is shipped), the ratio slider moves the token
map, the other views draw, and a sweep runs as a background job."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
from pagetest import open_page_file

SMALL = {"presses": "random,streaming_llm", "num": "4", "model": "random"}


def _spec(at, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id).proto.spec)


def _z(spec: dict) -> list[np.ndarray]:
    """The heatmaps' values (plotly sends arrays as typed base64 buffers)."""
    out = []
    for t in spec["data"]:
        if t["type"] == "heatmap":
            z = t["z"]
            out.append(np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]) if isinstance(z, dict)
                       else np.asarray(z, dtype=float).ravel())
    return out


def test_renders_the_cliff_and_the_ratio_slider_moves_the_token_map():
    at = open_page_file("kvcache", timeout=180, **SMALL)
    assert not at.error, [e.value for e in at.error]
    assert any(m.value.startswith("**Cliffs**") for m in at.markdown)
    sweep = _spec(at, "kv:sweep")
    assert {t["name"] for t in sweep["data"] if t.get("showlegend") is not False} >= {"Random", "StreamingLLM"}
    at = open_page_file("kvcache", timeout=180, **SMALL, **{"kvcache-tab": "Microscope"})
    before = np.concatenate(_z(_spec(at, "kv:tokens")))
    assert (before == 0).mean() > 0.5  # ratio 0.8 (the default): most (layer, head, token) cells are evicted
    at.slider(key="url:kvcache:ratio").set_value(0.3).run()
    assert not at.exception
    after = np.concatenate(_z(_spec(at, "kv:tokens")))
    assert before.shape == after.shape and (after == 0).mean() < (before == 0).mean()
    assert at.query_params["ratio"] in ("0.3", ["0.3"])
    at.slider(key="url:kvcache:ratio").set_value(0.0).run()  # ratio 0: every head keeps every token
    assert (np.concatenate(_z(_spec(at, "kv:tokens"))) > 0).all()


def test_ab_and_flow_tabs_draw():
    at = open_page_file("kvcache", timeout=180, **SMALL, **{"kvcache-tab": "A/B"})
    assert not at.error and _z(_spec(at, "kv:ab"))
    at = open_page_file("kvcache", timeout=180, **SMALL, **{"kvcache-tab": "Attention flow"})
    assert not at.error
    assert {"uncompressed", "evicted dropped", "evicted merged"} <= set(at.dataframe[0].value["variant"])
    assert _spec(at, "kv:flow")["data"]


def test_a_sweep_runs_as_a_background_job():
    at = open_page_file("kvcache", timeout=180, presses="random", num="2000", model="random")
    assert any("Run sweep" in i.value for i in at.info)  # too large for the page: it waits for the job
    at = open_page_file("kvcache", timeout=180, **SMALL)
    at.button(key="job:kvcache:sweep:start").click().run()
    for _ in range(600):
        if any("saved as run" in s.value for s in at.success):
            break
        time.sleep(0.1)
        at.run()
    assert any("saved as run" in s.value for s in at.success), "the sweep job did not finish"
    assert not at.exception
    assert any(m.value.startswith("**Cliffs**") for m in at.markdown)
