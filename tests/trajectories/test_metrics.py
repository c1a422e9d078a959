"""ADE/FDE/minADE on hand-made tracks, edge accuracy up to permutations, per-frame ARI."""

import numpy as np
import pytest

from lab.trajectories.metrics import ErrorAccumulator, ade, edge_accuracy, fde, frame_ari, min_ade, min_fde


def test_displacement_errors_on_hand_made_tracks():
    truth = np.zeros((1, 3, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 0.0], [0.0, 1.0]]])  # errors 5, 0, 1
    assert ade(pred, truth).tolist() == [2.0] and fde(pred, truth).tolist() == [1.0]
    samples = np.stack([pred, np.full((1, 3, 2), 0.5), np.array([[[0.0, 0.0], [0.0, 0.0], [0.0, 3.0]]])])
    assert min_ade(samples, truth)[0] == pytest.approx(min(2.0, np.sqrt(0.5), 1.0))
    assert min_fde(samples, truth)[0] == pytest.approx(np.sqrt(0.5))  # the minima are taken independently


def test_accumulator_averages_over_tracks():
    acc = ErrorAccumulator(2)
    truth = np.zeros((2, 2, 2))
    mean = np.array([[[1.0, 0], [1.0, 0]], [[0, 0], [0, 3.0]]])
    acc.add(mean, mean[None], truth)
    r = acc.result()
    assert r["ade"] == pytest.approx((1.0 + 1.5) / 2) and r["fde"] == pytest.approx(2.0)
    assert r["min_ade"] == r["ade"]
    assert acc.by_horizon()[0].tolist() == [0.5, 2.0]


def test_edge_accuracy_is_invariant_to_permuting_the_edge_types():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 500)
    pred = np.where(rng.random(500) < 0.9, truth, rng.integers(0, 3, 500))
    acc, perm = edge_accuracy(pred, truth, 3)
    assert perm == (0, 1, 2) and acc > 0.9
    for p in [(1, 2, 0), (2, 0, 1), (1, 0, 2)]:
        relabelled = np.asarray(p)[pred]
        again, perm2 = edge_accuracy(relabelled, truth, 3)
        assert again == acc and np.asarray(perm2)[relabelled].tolist() == pred.tolist()


def test_frame_ari_skips_small_frames():
    truth = np.array([[0, 0, 1, 1], [0, 1, -1, -1]])
    pred = np.array([[5, 5, 2, 2], [0, 0, -1, -1]])
    present = truth >= 0
    mean, per = frame_ari(truth, pred, present)
    assert per[0] == 1.0 and per[1] == 0.0 and mean == 0.5
    mean, per = frame_ari(truth, pred, present, min_agents=3)
    assert mean == 1.0 and np.isnan(per[1])
