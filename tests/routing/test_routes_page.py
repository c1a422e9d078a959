"""The routing page's small / big / skip section: waits for its job on a first view, then shows the result;
the budget slider moves the operating point and choosing a token changes its view."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parents[2] / "pages" / "routing.py"


def _open(**query: str) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.session_state["dynlab:owner"] = "routestest0001"
    at.session_state["dynlab:owner_cookie_set"] = True
    for key, value in {"routing-tab": "Token routing", **query}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _summary(at: AppTest) -> str | None:
    return next((m.value for m in at.markdown if m.value.startswith("**Routes at")), None)


def test_routes_section_trains_as_a_job_and_the_budget_slider_moves_the_operating_point():
    at = _open(r_steps="5", r_layers="2", r_corpus="synthetic")
    assert any("Train routes" in i.value for i in at.info) and _summary(at) is None  # nothing trains on a first view
    at.button(key="job:routing:routes:start").click().run()
    for _ in range(240):
        if _summary(at):
            break
        time.sleep(0.5)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    before = _summary(at)
    assert before and before.startswith("**Routes at 50 %**")
    assert {"oracle loss", "learned loss", "random loss", "Learned - oracle"} <= {m.label for m in at.metric}
    at.slider(key="url:routing:r_budget").set_value(20).run()
    assert not at.exception
    after = _summary(at)
    assert after.startswith("**Routes at 20 %**") and after != before
    at.slider(key="url:routing:r_token").set_value(5).run()
    at.radio(key="url:routing:r_map").set_value("learned").run()
    assert not at.exception and at.query_params["r_token"] in ("5", ["5"])
