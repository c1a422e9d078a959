"""MACs counted from the layers against a hand count; ECE on known cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lab.routing.calibration import ece, reliability
from lab.routing.macs import count_macs, exit_costs
from lab.routing.model import GATE_STATS, Architecture, ExitNet


def test_image_exitnet_macs_match_a_hand_count():
    w, c = 2, 10
    model = ExitNet(Architecture("image", (1, 8, 8), c, width=w, blocks=4, pool=4))
    costs = exit_costs(model)
    widths = [2, 4, 8, 8]
    # conv 3x3 padding 1: out_h * out_w * c_out * c_in * 9; the third block pools 8x8 -> 4x4 first
    hand_blocks = [64 * 2 * 1 * 9, 64 * 4 * 2 * 9, 16 * 8 * 4 * 9, 16 * 8 * 8 * 9]
    assert costs.block.tolist() == hand_blocks
    # exits: average-pool to 4x4, then Linear(16 * c_k -> 10)
    assert costs.head.tolist() == [16 * wk * c for wk in widths]
    # gates: Linear(16 * c_k + 4 -> 1); the last exit has none
    assert costs.gate.tolist() == [16 * wk + GATE_STATS for wk in widths[:3]] + [0]
    assert costs.baseline == sum(hand_blocks) + 16 * 8 * c
    assert costs.cumulative()[1] == hand_blocks[0] + hand_blocks[1] + 16 * 2 * c + 16 * 4 * c


def test_vector_exitnet_and_batch_scaling():
    model = ExitNet(Architecture("vector", (12,), 3, width=2, blocks=2))  # hidden 16
    costs = exit_costs(model)
    assert costs.block.tolist() == [12 * 16, 16 * 16]
    assert costs.head.tolist() == [16 * 3, 16 * 3]
    conv = nn.Conv1d(3, 5, kernel_size=4, groups=1)
    assert count_macs(conv, torch.zeros(2, 3, 10), modules=conv) == 2 * 5 * 7 * 3 * 4


def test_ece_known_cases():
    conf = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 1, 1, 0, 1, 0])
    # bin of 0.9: accuracy 0.75, gap 0.15 (4 of 6); bin of 0.6: accuracy 0.5, gap 0.1 (2 of 6)
    assert ece(conf, correct) == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.1)
    assert ece(np.ones(5), np.ones(5)) == pytest.approx(0.0)
    rows = reliability(conf, correct)
    assert [r["count"] for r in rows] == [2, 4] and rows[1]["accuracy"] == pytest.approx(0.75)
