"""The pointer page's method picker: what it offers and which method a page opens with."""

from __future__ import annotations

import pytest

from lab.pointer import zoo
from lab.pointer.methods import MethodOption, default_method, method_options, suited_model

SHIPPED = {e.name for e in zoo.available()}


@pytest.mark.skipif(not {"am_tsp20", "am_tsp50"} <= SHIPPED, reason="needs the shipped TSP models")
def test_the_default_follows_n_like_the_cli():
    options = method_options("tsp")
    for n in (10, 20, 35, 36, 50, 100, 101, 300):
        assert default_method(options, "tsp", n).key == f"zoo:{zoo.default_name('tsp', n=n)}", n
    assert default_method(options, "tsp", 50).key == "zoo:am_tsp50"
    assert default_method(options, "tsp", 20).key == "zoo:am_tsp20"
    # without a size: the first shipped model, as before
    assert default_method(options).kind == "model"


@pytest.mark.skipif(not {"am_tsp20", "am_tsp50"} <= SHIPPED, reason="needs the shipped TSP models")
def test_suited_model_names_the_default_only_when_another_is_chosen():
    options = method_options("tsp")
    by_key = {o.key: o for o in options}
    assert suited_model(options, "tsp", 50, by_key["zoo:am_tsp20"]).key == "zoo:am_tsp50"
    assert suited_model(options, "tsp", 50, by_key["zoo:am_tsp50"]) is None
    assert suited_model(options, "tsp", 20, by_key["zoo:am_tsp20"]) is None


def test_trained_models_and_solvers_never_become_the_default_over_a_shipped_model():
    trained = MethodOption("run:abc", "trained here: am tsp n=5..5 (run abc)", "trained", "am", "/nowhere/model.pt")
    options = method_options("tsp", [trained])
    assert options[0] is trained and default_method(options, "tsp", 50).kind in ("model", "solver")
    assert default_method(options, "tsp", 50).key != "run:abc"
    # nothing shipped: the first classical method, never the untrained Ptr-Net
    bare = [o for o in options if o.kind not in ("model",)]
    assert default_method(bare, "tsp", 50).kind == "solver"
    assert default_method([o for o in method_options("hull") if o.kind != "model"], "hull", 50).kind == "exact"


def test_short_label_drops_the_kind():
    assert MethodOption("zoo:x", "x (attention model, shipped)", "model").short_label == "x"
    assert MethodOption("solver:two_opt", "classical: 2-opt", "solver").short_label == "classical: 2-opt"
