"""Exit policies on hand-made outputs: the rules, and thresholds that never exit earlier when raised."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.routing.policies import POLICIES, ExitOutputs, make_policy


def _outputs(seed: int = 0, e: int = 4, n: int = 200, c: int = 5) -> ExitOutputs:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(e, n, c)) * np.linspace(0.5, 4, e)[:, None, None]
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return ExitOutputs(probs, rng.uniform(size=(e - 1, n)), rng.integers(0, c, n))


def _probs(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=float)


@pytest.mark.parametrize("name", list(POLICIES))
def test_a_higher_threshold_never_exits_earlier(name):
    policy, out = make_policy(name), _outputs()
    grid = policy.thresholds(out.n_exits)
    assert list(grid) == sorted(grid)
    previous = None
    for t in grid:
        idx = policy.exit_index(out, t)
        assert idx.shape == (200,) and idx.min() >= 0 and idx.max() < out.n_exits
        if previous is not None:
            assert (idx >= previous).all(), f"{name}: threshold {t} exits earlier than a lower one"
        previous = idx


def test_max_prob_and_entropy_on_hand_made_probabilities():
    # 2 inputs, 3 exits, 2 classes: input 0 is sure at exit 0, input 1 only at exit 2
    probs = np.stack([_probs([[0.95, 0.05], [0.6, 0.4]]), _probs([[0.9, 0.1], [0.7, 0.3]]),
                      _probs([[0.99, 0.01], [0.2, 0.8]])])
    out = ExitOutputs(probs, np.zeros((2, 2)), np.array([0, 1]))
    assert make_policy("max_prob").exit_index(out, 0.9).tolist() == [0, 2]
    assert make_policy("max_prob").exit_index(out, 0.65).tolist() == [0, 1]
    assert make_policy("max_prob").exit_index(out, 0.99).tolist() == [2, 2]
    # 1 - H/log 2 of (0.95, 0.05) is 0.71; of (0.6, 0.4) 0.03
    assert make_policy("entropy").exit_index(out, 0.7).tolist() == [0, 2]
    assert make_policy("entropy").exit_index(out, 0.0).tolist() == [0, 0]


def test_patience_counts_agreeing_exits():
    a, b = [0.9, 0.1], [0.1, 0.9]
    # input 0 predicts 0,0,0,0; input 1 predicts 0,1,1,1; input 2 predicts 0,1,0,1
    probs = np.stack([_probs([a, a, a]), _probs([a, b, b]), _probs([a, b, a]), _probs([a, b, b])])
    out = ExitOutputs(probs, np.zeros((3, 3)), np.zeros(3, dtype=int))
    pat = make_policy("patience")
    assert pat.exit_index(out, 1).tolist() == [0, 0, 0]
    assert pat.exit_index(out, 2).tolist() == [1, 2, 3]
    assert pat.exit_index(out, 3).tolist() == [2, 3, 3]


def test_gate_and_oracle():
    probs = np.stack([_probs([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1]]), _probs([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]]),
                      _probs([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])])
    gates = np.array([[0.8, 0.2, 0.4], [0.1, 0.9, 0.6]])
    out = ExitOutputs(probs, gates, np.array([1, 0, 0]))
    assert make_policy("gate").exit_index(out, 0.5).tolist() == [0, 1, 1]
    # oracle: input 0 first right at exit 1, input 1 at exit 0, input 2 never right -> the cheapest exit
    assert make_policy("oracle").exit_index(out, 0.0).tolist() == [1, 0, 0]


def test_unknown_policy_is_one_sentence():
    with pytest.raises(LabInputError, match="unknown policy 'nope'"):
        make_policy("nope")
