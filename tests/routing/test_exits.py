"""The exits verb: the JSON contract, curves that agree with a real early-exit pass, training that learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.core.errors import LabInputError
from lab.routing.data import load_digits_dataset
from lab.routing.exits import ExitsConfig, run_exits
from lab.routing.policies import POLICIES, make_policy
from lab.routing.throughput import dynamic_predict
from lab.routing.train import TrainConfig, train_exitnet


def test_json_contract(small_result):
    doc = small_result.to_json()
    assert isinstance(doc["last_exit_accuracy"], float) and set(doc["policies"]) == set(POLICIES)
    for name, p in doc["policies"].items():
        assert isinstance(p["speedup_at_1pt"], float) and isinstance(p["ece"], float)
        assert p["curve"], name
        for point in p["curve"]:
            assert set(point) == {"threshold", "accuracy", "mean_macs", "speedup"}
            assert point["mean_macs"] > 0 and point["speedup"] == pytest.approx(doc["macs"]["baseline"] / point["mean_macs"])
    # max-prob at threshold 1.0 (almost) never exits early: about the static network's accuracy
    top = doc["policies"]["max_prob"]["curve"][-1]
    assert top["threshold"] == 1.0


def test_speedup_at_1pt_is_within_one_point(small_result):
    last = small_result.last_exit_accuracy
    for name, p in small_result.policies.items():
        if p.threshold_at_1pt is not None:
            op = small_result.operating_point(name, p.threshold_at_1pt)
            assert op.accuracy >= last - 0.01 - 1e-9 and op.speedup == pytest.approx(p.speedup_at_1pt)
            assert op.ece == pytest.approx(p.ece)


@pytest.mark.parametrize("name", [n for n in POLICIES if make_policy(n).runnable])
def test_a_real_early_exit_pass_takes_the_simulated_exits(small_result, name):
    policy = make_policy(name)
    t = policy.default_threshold(small_result.n_exits)
    x = torch.from_numpy(small_result.dataset.x_test)
    preds, where = dynamic_predict(small_result.model, x, policy, t)
    op = small_result.operating_point(name, t)
    assert np.array_equal(where.numpy(), op.exit_index)
    assert np.array_equal(preds.numpy() == small_result.outputs.labels, op.correct)


def test_a_few_training_steps_reduce_the_loss():
    trained = train_exitnet(load_digits_dataset(), TrainConfig(steps=50, width=8, lr=1e-2, seed=1))
    loss = trained.curves["exit_loss"]
    assert np.mean(loss[-5:]) < 0.9 * np.mean(loss[:5])


def test_the_shipped_checkpoint_loads_and_beats_chance():
    result = run_exits(ExitsConfig(policy="max_prob"))
    if result.source == "trained here":
        pytest.skip("no shipped checkpoint in this checkout")
    assert result.last_exit_accuracy > 0.9 and result.policies["max_prob"].speedup_at_1pt > 1.0


def test_bad_configs_are_one_sentence(tmp_path):
    with pytest.raises(LabInputError, match="unknown policy"):
        ExitsConfig(policy="bogus")
    with pytest.raises(LabInputError, match="unknown dataset"):
        run_exits(ExitsConfig(dataset="cifar"))
    with pytest.raises(LabInputError, match="no such checkpoint|no such file"):
        run_exits(ExitsConfig(checkpoint=str(tmp_path / "none.pt")))


def test_gate_targets_stop_where_no_later_exit_is_cheaper():
    from lab.routing.train import gate_loss, gate_targets

    ce = torch.tensor([[0.1, 2.0, 2.0], [0.1, 0.2, 2.0], [0.1, 0.2, 0.1]])  # (E=3, B=3) losses
    cost = torch.tensor([0.0, 0.5, 1.0])
    # loss + cost per exit: input 0 (0.1, 0.6, 1.1) stop anywhere; input 1 (2.0, 0.7, 1.2) not at exit 0 but
    # at exit 1; input 2 (2.0, 2.5, 1.1) only at the last
    assert gate_targets(ce, cost).tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    logits = torch.zeros(3, 3, 4)  # uniform exits; the gates' loss must not reach them
    logits.requires_grad_(True)
    g = torch.zeros(2, 3, requires_grad=True)
    gate_loss(logits, g, torch.zeros(3, dtype=torch.long), cost).backward()
    assert logits.grad is None or not logits.grad.any()
    assert g.grad.abs().sum() > 0


def test_the_shipped_gate_decides_per_input():
    result = run_exits(ExitsConfig(policy="gate"))
    if result.source == "trained here":
        pytest.skip("no shipped checkpoint in this checkout")
    assert result.outputs.gates[0].std() > 0.05  # gate probabilities differ between digits
    depths = [np.unique(result.operating_point("gate", t).exit_index).size for t in (0.3, 0.5, 0.7, 0.9)]
    assert max(depths) >= 2, depths  # some threshold sends different digits to different exits
    assert result.policies["gate"].speedup_at_1pt > 3.0
