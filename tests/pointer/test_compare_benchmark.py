"""benchmarks/pointer_compare.py: the paired comparison that decides whether a continued run ships."""

from __future__ import annotations

import numpy as np
import pytest

from lab.pointer import zoo
from lab.pointer.decoding import decode
from lab.pointer.tasks import random_instances, tour_length


def test_paired_difference_and_its_standard_error(load_benchmark):
    bench = load_benchmark("pointer_compare")
    base, cand = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.9, 2.1, 2.7, 3.9])
    out = bench.paired(base, cand)
    d = cand - base
    assert out["mean"] == pytest.approx(d.mean()) and out["num"] == 4
    assert out["sem"] == pytest.approx(d.std(ddof=1) / 2.0)
    with pytest.raises(ValueError):
        bench.paired(np.ones(1), np.ones(1))


def test_a_model_against_itself_differs_by_nothing_and_does_not_ship(load_benchmark, monkeypatch):
    bench = load_benchmark("pointer_compare")
    monkeypatch.setattr(bench, "references", lambda points, refresh: (np.full(len(points), 3.0), 0.0))
    net = zoo.load("am_tsp20")
    row = bench.compare(net, net, n=10, num=6, seed=1, independent_num=5, independent_seed=99)
    assert row["benchmark"]["difference"]["mean"] == 0.0
    assert row["independent"]["relative_length"]["mean"] == 0.0 and row["ships"] is False
    points = random_instances(10, 6, 11)  # the benchmark's instances: seed + n
    greedy = np.array([tour_length(p, o.sequence) for p, o in zip(points, decode(net, points, "tsp"), strict=True)])
    assert row["benchmark"]["base_gap"] == pytest.approx(float((greedy / 3.0 - 1).mean()))


def test_a_shorter_candidate_ships(load_benchmark, monkeypatch):
    bench = load_benchmark("pointer_compare")
    monkeypatch.setattr(bench, "references", lambda points, refresh: (np.full(len(points), 3.0), 0.0))
    # the same network, its tours scaled: a stand-in for a candidate whose every tour is 1 % shorter
    lengths = bench.greedy_lengths
    monkeypatch.setattr(bench, "greedy_lengths", lambda net, pts, start="learned": lengths(net[0], pts, start) * net[1])
    net = zoo.load("am_tsp20")
    row = bench.compare((net, 1.0), (net, 0.99), n=10, num=6, seed=1, independent_num=5, independent_seed=99)
    assert row["independent"]["relative_length"]["mean"] == pytest.approx(-0.01) and row["ships"] is True
