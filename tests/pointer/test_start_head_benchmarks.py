"""benchmarks/pointer_start_head.py and benchmarks/pointer_self_distill.py: their measurements on small models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.pointer.decoding import decode
from lab.pointer.frames import tour_lengths
from lab.pointer.models import AttentionModel
from lab.pointer.tasks import random_instances, tour_length


def _model() -> AttentionModel:
    torch.manual_seed(1)
    return AttentionModel(hidden=32, layers=1, heads=4, ff=64, start_head=True).eval()


def test_the_head_is_measured_against_node0_on_the_same_instances(load_benchmark):
    bench = load_benchmark("pointer_start_head")
    net = _model()
    (row,) = bench.head_against_node0(net, [9], num=6)
    points = random_instances(9, 6, bench.SEED_BASE + 9)

    def lengths(start: str) -> np.ndarray:
        outs = decode(net, points, "tsp", "greedy", start=start)
        return np.array([tour_length(p, o.sequence) for p, o in zip(points, outs, strict=True)])

    expected = lengths("learned") / lengths("node0") - 1
    assert row["relative_length"]["mean"] == pytest.approx(float(expected.mean()))
    assert row["seed"] == bench.SEED_BASE + 9 and row["num"] == 6


def test_self_distillation_teaches_the_shortest_start_in_either_direction(load_benchmark):
    bench = load_benchmark("pointer_self_distill")
    net = _model()
    points = torch.from_numpy(random_instances(8, 5, 2).astype(np.float32))
    best = bench.best_greedy_tours(net, points)  # (5, 8)
    from_node0 = torch.tensor([o.sequence for o in decode(net, points.numpy(), "tsp", "greedy", start="node0")])
    assert (tour_lengths(points, best) <= tour_lengths(points, from_node0) + 1e-6).all()
    reverse = torch.cat([best[:, :1], best[:, 1:].flip(1)], dim=1)
    with torch.no_grad():  # either direction is the same target
        assert float(bench.either_direction_loss(net, points, best)) == pytest.approx(
            float(bench.either_direction_loss(net, points, reverse)), rel=1e-5)
