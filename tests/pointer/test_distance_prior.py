"""The attention model's decoding-time distance prior (``decode(..., distance_prior=alpha)``)."""

from __future__ import annotations

import pytest
import torch

from lab.core.errors import LabInputError
from lab.pointer import tasks
from lab.pointer.decoding import decode
from lab.pointer.models import AttentionModel, PointerNetwork
from lab.pointer.models.attention_model import DISTANCE_PRIOR
from lab.pointer.solvers.nearest_neighbour import nearest_neighbour


def _model() -> AttentionModel:
    torch.manual_seed(0)
    return AttentionModel(hidden=32, layers=1, heads=4, ff=64)


def test_an_overwhelming_prior_turns_greedy_into_nearest_neighbour_from_node_0():
    pts = tasks.random_instances(15, 4, seed=2)
    outs = decode(_model(), pts, "tsp", "greedy", distance_prior=1e7)
    for p, out in zip(pts, outs, strict=True):
        assert out.sequence == nearest_neighbour(tasks.distance_matrix(p)).tolist()


def test_an_overwhelming_prior_turns_pomo_into_the_best_nearest_neighbour_start():
    pts = tasks.random_instances(12, 3, seed=3)
    outs = decode(_model(), pts, "tsp", "pomo", distance_prior=1e7)
    for p, out in zip(pts, outs, strict=True):
        d = tasks.distance_matrix(p)
        best = min(tasks.tour_length(p, nearest_neighbour(d, start=s)) for s in range(len(p)))
        assert tasks.tour_length(p, out.sequence) == pytest.approx(best, rel=1e-6)


def test_no_prior_is_the_network_alone_and_the_setting_lasts_one_call():
    model, pts = _model(), tasks.random_instances(20, 3, seed=4)
    alone = [o.sequence for o in decode(model, pts, "tsp", "greedy")]
    nudged = [o.sequence for o in decode(model, pts, "tsp", "greedy", distance_prior=1e7)]
    assert alone != nudged  # an untrained network does not walk to the nearest node
    assert [o.sequence for o in decode(model, pts, "tsp", "greedy")] == alone
    assert DISTANCE_PRIOR.get()[0] == 0.0  # nothing left set after the call


def test_two_threads_decoding_one_model_keep_their_own_priors():
    from concurrent.futures import ThreadPoolExecutor

    model, pts = _model(), tasks.random_instances(30, 2, seed=6)
    expected = {a: [o.sequence for o in decode(model, pts, "tsp", "greedy", distance_prior=a)] for a in (0.0, 1e7)}
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda a: (a, [o.sequence for o in decode(model, pts, "tsp", "greedy", distance_prior=a)]),
                             [0.0, 1e7] * 6))
    assert all(found == expected[a] for a, found in runs)


def test_the_prior_is_measured_in_the_training_sizes_point_spacing():
    model, pts = _model(), tasks.random_instances(40, 2, seed=5)
    model.card = {"trained_n": [10, 10]}
    # at 4x the training n, alpha is scaled by sqrt(40 / 10) = 2; the same as alpha x 2 at prior_n = 40
    scaled = [o.sequence for o in decode(model, pts, "tsp", "greedy", distance_prior=3.0)]
    model.card = {"trained_n": [40, 40]}
    assert [o.sequence for o in decode(model, pts, "tsp", "greedy", distance_prior=6.0)] == scaled


@pytest.mark.parametrize("alpha", [-1.0, float("nan")])
def test_a_negative_or_missing_prior_is_refused(alpha):
    with pytest.raises(LabInputError, match="distance prior"):
        decode(_model(), tasks.random_instances(8, 1, seed=1), "tsp", "greedy", distance_prior=alpha)


def test_the_ptrnet_has_no_distance_prior():
    net = PointerNetwork(hidden=16, task="tsp")
    with pytest.raises(LabInputError, match="attention model"):
        decode(net, tasks.random_instances(8, 1, seed=1), "tsp", "greedy", distance_prior=1.0)
    assert decode(net, tasks.random_instances(8, 1, seed=1), "tsp", "greedy", distance_prior=0.0)
