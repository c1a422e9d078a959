"""The routing page: renders with the shipped model, the threshold slider moves the operating point."""

from __future__ import annotations

from pagetest import open_page_file


def _point(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Operating point**"))


def test_renders_and_the_threshold_slider_moves_the_operating_point():
    at = open_page_file("routing", timeout=120)
    assert not at.error
    assert {"Accuracy at t", "Speed-up (MACs)", "ECE at t"} <= {m.label for m in at.metric}
    before = _point(at)
    assert "t = 0.9:" in before
    at.slider(key="url:routing:t").set_value(0.995).run()
    assert not at.exception
    after = _point(at)
    assert "t = 0.995:" in after and after != before
    assert at.query_params["t"] == "0.995"


def test_patience_and_oracle_views():
    at = open_page_file("routing", timeout=120, policy="patience", patience="3")
    assert not at.error and "t = 3:" in _point(at)
    at = open_page_file("routing", timeout=120, policy="oracle")
    assert not at.error and "t = 0:" in _point(at)


def test_a_bad_upload_is_one_sentence():
    at = open_page_file("routing", timeout=120, data="upload")
    at.file_uploader[0].set_value(("bad.csv", b"a,b\n1,2\n3,4\n", "text/csv")).run()
    assert not at.exception
    assert any("label column" in e.value for e in at.error)


def test_token_routing_tab_renders_a_short_moe_run():
    at = open_page_file("routing", timeout=120, **{"routing-tab": "Token routing"}, moe_steps="20", experts="3")
    assert not at.error
    assert {"Validation loss", "Load CV", "Drop rate", "Routing entropy"} <= {m.label for m in at.metric}
    text = next(m.value for m in at.markdown if m.value.startswith("**MoE result**"))
    assert "3 experts" in text and "e2" in text
    at = open_page_file("routing", timeout=120, **{"routing-tab": "Token routing"}, moe_steps="5", layers="2",
                        top_k="2", corpus="stdlib")
    assert not at.error and any(m.value.startswith("**MoE result**") for m in at.markdown)
    at.slider(key="url:routing:moe_layer").set_value(2).run()
    assert not at.exception


def test_token_routing_tab_waits_for_training_and_says_bad_input():
    at = open_page_file("routing", timeout=120, **{"routing-tab": "Token routing"})
    assert not at.error and any("Train MoE" in i.value for i in at.info)
    at = open_page_file("routing", timeout=120, **{"routing-tab": "Token routing"}, experts="1", top_k="2")
    assert any("top k" in e.value for e in at.error)
