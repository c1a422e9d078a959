"""Adversarial inputs on early exits: the attacks raise their loss inside the epsilon ball and the pixel range,
the slowdown attack makes the shipped model exit later, and ``dynlab routing robust`` keeps its contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lab.cli import main
from lab.core.errors import LabInputError
from lab.routing.exits import SHIPPED
from lab.routing.robustness import RobustConfig, input_scale, objective_loss, perturb, run_robust


@pytest.fixture(scope="module")
def attacked(small_result):
    """The small trained model, 64 held-out digits in grey levels, their labels and the scale."""
    scale, x = input_scale(small_result.dataset)
    return small_result.model, torch.from_numpy(x[:64]), torch.from_numpy(small_result.dataset.y_test[:64]), scale


def test_digits_are_attacked_in_grey_levels(small_result):
    scale, x = input_scale(small_result.dataset)
    assert (scale.lo, scale.hi) == (0.0, 16.0) and x.min() >= 0 and x.max() <= 16
    # the map back to what the model sees is the dataset's own standardisation
    assert np.allclose(scale.to_model(torch.from_numpy(x)).numpy(), small_result.dataset.x_test, atol=1e-5)


@pytest.mark.parametrize("objective", ["accuracy", "slowdown"])
@pytest.mark.parametrize("steps", [1, 5])  # FGSM, PGD
def test_attacks_raise_their_loss_inside_the_ball_and_the_range(attacked, objective, steps):
    model, x, y, scale = attacked
    eps = 1.5
    adv = perturb(model, x, y, scale, eps, objective, steps)
    assert (adv - x).abs().max() <= eps + 1e-5
    assert adv.min() >= scale.lo and adv.max() <= scale.hi
    assert (adv - x).abs().max() > 0.5 * eps  # it moved
    with torch.no_grad():
        before = objective_loss(model, scale.to_model(x), y, objective).mean()
        after = objective_loss(model, scale.to_model(adv), y, objective).mean()
    assert after > before
    assert all(p.requires_grad for p in model.parameters())  # the model is left as it was found


def test_pgd_of_one_step_is_fgsm_and_epsilon_zero_changes_nothing(attacked):
    model, x, y, scale = attacked
    fgsm = perturb(model, x, y, scale, 1.0, "accuracy", 1)
    assert torch.equal(fgsm, perturb(model, x, y, scale, 1.0, "accuracy", 1))
    assert torch.equal(perturb(model, x, y, scale, 0.0, "accuracy", 10), x)


def test_slowdown_makes_the_shipped_model_exit_later():
    if not SHIPPED["digits"].exists():
        pytest.skip("no shipped checkpoint in this checkout")
    r = run_robust(RobustConfig(attack="fgsm", objectives=("slowdown",), max_epsilon=2.0, n_epsilons=2))
    assert r.source.endswith("exits_digits.pt")
    for name in ("max_prob", "entropy", "gate"):
        s = r.series("slowdown", name, r.thresholds[name])
        assert s["epsilon"] == [0.0, 2.0] and s["mean_exit"][1] > s["mean_exit"][0] + 0.2, (name, s)
        assert s["speedup"][1] < s["speedup"][0]
    assert r.to_json()["linf"]["slowdown"][1] == pytest.approx(2.0, abs=1e-5)


def test_bad_robust_configs_are_one_sentence():
    with pytest.raises(LabInputError, match="attack"):
        RobustConfig(attack="cw")
    with pytest.raises(LabInputError, match="objectives"):
        RobustConfig(objectives=("speed",))
    with pytest.raises(LabInputError, match="one policy"):
        RobustConfig(threshold=0.5)
    with pytest.raises(LabInputError, match="max epsilon"):
        RobustConfig(max_epsilon=0.0)


def test_robust_cli_prints_every_epsilon(capsys):
    assert main(["routing", "robust", "--checkpoint", "train", "--steps", "20", "--width", "4", "--attack", "pgd",
                 "--pgd-steps", "2", "--n-epsilons", "3", "--policy", "max_prob", "--threshold", "0.9", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["result"]
    assert doc["epsilons"] == [0.0, 2.0, 4.0] and doc["epsilon_units"].startswith("grey levels")
    for obj in ("accuracy", "slowdown"):
        series = doc["objectives"][obj]["max_prob"]
        assert series["threshold"] == 0.9 and len(series["accuracy"]) == len(series["mean_exit"]) == 3
    assert main(["routing", "robust", "--attack", "nope", "--json"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
