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


def test_a_generalisation_sweep_takes_the_prior_and_its_rows_say_so():
    from lab.pointer import zoo
    from lab.pointer.generalisation import GeneraliseConfig, reference_lengths, run_generalise

    config = GeneraliseConfig(task="tsp", model="am", checkpoint=zoo.UNTRAINED, sizes=(9,), num=3, seed=5,
                              distance_prior=1e7)
    row = run_generalise(config).rows[0]
    assert row["distance_prior"] == 1e7
    # an overwhelming prior is nearest neighbour from node 0, on the sweep's own instances (seed + n)
    pts = tasks.random_instances(9, 3, 5 + 9)
    nn = [tasks.tour_length(p, nearest_neighbour(tasks.distance_matrix(p))) for p in pts]
    assert row["gap"] == pytest.approx(float((nn / reference_lengths(9, 3, 5 + 9) - 1).mean()), rel=1e-6)
    assert "distance_prior" not in run_generalise(config.replace(distance_prior=0.0)).rows[0]


@pytest.mark.parametrize(("fields", "match"), [
    ({"distance_prior": -2.0}, "number >= 0"),
    ({"distance_prior": float("inf")}, "number >= 0"),
    ({"distance_prior": 5.0, "model": "ptrnet"}, "set it to 0"),
    ({"distance_prior": 5.0, "task": "hull", "model": "ptrnet"}, "set it to 0"),
])
def test_a_generalisation_config_refuses_a_prior_that_cannot_apply(fields, match):
    from lab.pointer.generalisation import GeneraliseConfig

    with pytest.raises(LabInputError, match=match):
        GeneraliseConfig(**{"task": "tsp", "model": "am", **fields})
