"""Decoding: every decoder returns valid outputs for every task and n from 3 to 200; traces; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.core.errors import LabInputError
from lab.pointer import tasks
from lab.pointer.decoding import ModelOutput, decode
from lab.pointer.frames import augment8
from lab.pointer.metrics import is_simple_polygon, polygon_area, same_cycle
from lab.pointer.models import AttentionModel, PointerNetwork
from lab.pointer.models.masks import teacher_masks

torch.set_num_threads(1)  # small tensors: extra threads only contend on a shared machine

SIZES = [3, 4, 10, 50, 200]


def _models(task):
    torch.manual_seed(0)
    out = [PointerNetwork(task, hidden=16)]
    if task == "tsp":
        out.append(AttentionModel(hidden=16, layers=1, heads=2, ff=32))
    return out


def _check(task: str, n: int, out: ModelOutput, points: np.ndarray) -> None:
    s = out.sequence
    assert all(isinstance(v, int) for v in s)
    if task == "tsp":
        assert s[0] == 0 and sorted(s) == list(range(n))
    elif task == "hull":
        assert 3 <= len(s) <= n and len(set(s)) == len(s) and min(s) >= 0 and max(s) < n
        assert is_simple_polygon(points, s)  # the default "simple" rule: never self-intersecting
    else:
        tri = np.asarray(s).reshape(-1, 3)
        assert 1 <= len(tri) <= max(1, 2 * n - 5)
        assert (np.diff(tri, axis=1) > 0).all() and tri.min() >= 0 and tri.max() < n
        assert len({tuple(t) for t in tri.tolist()}) == len(tri)
    assert out.log_prob <= 1e-5


@pytest.mark.parametrize("task", ["tsp", "hull", "delaunay"])
@pytest.mark.parametrize("n", SIZES)
def test_every_decoder_gives_valid_outputs(task, n):
    pts = tasks.random_instances(n, 2 if n < 200 else 1, seed=n)
    methods = ["greedy", "beam", "sample"] + (["pomo"] if task != "delaunay" else [])
    for model in _models(task):
        for method in methods:
            # POMO at n=200 with all 8 copies is 1,600 rollouts; one copy checks the same code path
            augment = not (method == "pomo" and n >= 200)
            outs = decode(model, pts, task, method, beam_width=3, num_samples=4, augment=augment)
            assert len(outs) == len(pts)
            for o, p in zip(outs, pts, strict=True):
                _check(task, n, o, p)


def _teacher_forced(model, task: str, points: np.ndarray, sequence: list[int]) -> tuple[np.ndarray, float]:
    """The model's distribution over the n points before each choice of ``sequence``, and the summed
    log-probability of its choices (+ the EOS that ends a hull or Delaunay output), from the teacher-forced
    forward pass that training uses: a path independent of step-by-step decoding."""
    n = points.shape[0]
    x = torch.from_numpy(np.asarray(points, dtype=np.float32)[None])
    with torch.no_grad():
        if task == "tsp":  # the attention model: steps 1..n-1 (node 0 is given)
            tour = torch.tensor([sequence])
            visited = torch.nn.functional.one_hot(tour, n).bool().cumsum(dim=1).bool()[:, :-1]
            logp = model(x, tour).masked_fill(visited, float("-inf")).log_softmax(dim=-1)[0]  # (n-1, n)
            probs = np.vstack([np.eye(n)[sequence[0]], logp.exp().numpy()])
            total = logp.gather(1, tour[0, 1:, None]).sum()
        else:  # the Ptr-Net, with the decoding's default hull rule ("simple")
            target = torch.tensor([sequence + [n]])
            masks = teacher_masks(task, target, n, x if task == "hull" else None)
            logits = model(x, target)[..., : masks.shape[-1]]
            logp = logits.masked_fill(~masks, float("-inf")).log_softmax(dim=-1)[0]  # (T + 1, n + 1)
            probs = logp[:-1, :n].exp().numpy()  # the steps that chose a point (the last one chose EOS)
            total = logp.gather(1, target[0, :, None]).sum()
    return probs, float(total)


@pytest.mark.parametrize("task", ["tsp", "hull", "delaunay"])
def test_trace_is_the_pointer_distribution_of_each_step(task):
    model = _models(task)[-1].eval()
    pts = tasks.random_instances(12, 3, seed=1)
    outs = decode(model, pts, task, "greedy", trace=True)
    for p, o in zip(pts, outs, strict=True):
        att = o.attention
        assert att.shape == (len(o.sequence), 12)
        assert (att >= 0).all()
        rows = np.arange(len(o.sequence))
        assert (att[rows, o.sequence] > 0).all()  # the chosen point was allowed
        if task == "tsp":  # no EOS slot: each row is a full distribution over the points
            assert np.allclose(att.sum(1), 1, atol=1e-5)
        else:  # the rest of each row is the probability of stopping there
            assert (att.sum(1) <= 1 + 1e-5).all()
        # greedy chose the most probable point at every step (ignoring EOS, which ended the sequence)
        assert (att[rows, o.sequence] >= att.max(1) - 1e-6).all()
        # every row is the model's distribution at that step, and log_prob sums the log-probabilities of
        # every choice -- the final EOS of a hull or Delaunay output included -- for every task
        probs, total = _teacher_forced(model, task, p, o.sequence)
        assert np.allclose(att, probs, atol=1e-5)
        assert o.log_prob == pytest.approx(total, abs=1e-4)
    assert decode(model, pts, task, "greedy")[0].attention is None


def test_beam_width_one_is_greedy_and_search_never_worse_for_tsp():
    model = _models("tsp")[-1]
    pts = tasks.random_instances(15, 4, seed=2)
    greedy = decode(model, pts, "tsp", "greedy")
    beam1 = decode(model, pts, "tsp", "beam", beam_width=1)
    assert [o.sequence for o in greedy] == [o.sequence for o in beam1]
    pomo = decode(model, pts, "tsp", "pomo")
    for p, g, q in zip(pts, greedy, pomo, strict=True):
        # POMO includes the un-augmented rollout from node 0, which is the greedy tour
        assert tasks.tour_length(p, q.sequence) <= tasks.tour_length(p, g.sequence) + 1e-5


def test_sampling_is_seeded():
    model = _models("tsp")[0]
    pts = tasks.random_instances(10, 4, seed=0)
    a = decode(model, pts, "tsp", "sample", num_samples=3, seed=5)
    b = decode(model, pts, "tsp", "sample", num_samples=3, seed=5)
    assert [o.sequence for o in a] == [o.sequence for o in b]
    others = [[o.sequence for o in decode(model, pts, "tsp", "sample", num_samples=3, seed=s)] for s in (6, 7)]
    assert any(seqs != [o.sequence for o in a] for seqs in others)


def test_sample_decoding_in_a_solve_follows_the_config_seed():
    """``solve`` with ``decode="sample"``: the same seed gives the same tours, other seeds other tours."""
    from lab.pointer.io import random_instance_list
    from lab.pointer.service import SolveConfig, run_solve

    data = random_instance_list(12, 4, seed=3)  # the instances stay fixed; only the sampling seed moves

    def tours(seed: int) -> list[list[int]]:
        config = SolveConfig(task="tsp", model="ptrnet", checkpoint="untrained", decode="sample", num_samples=4,
                             seed=seed)
        return [r.output.tolist() for r in run_solve(config, data=data).instances]

    first = tours(0)
    assert tours(0) == first
    assert tours(1) != first or tours(2) != first


def test_augment8_keeps_distances():
    pts = torch.rand(2, 6, 2)
    copies = augment8(pts)
    assert copies.shape == (8, 2, 6, 2)
    d0 = torch.cdist(pts, pts)
    for c in copies:
        assert torch.allclose(torch.cdist(c, c), d0, atol=1e-6)


def test_bad_requests_are_one_clear_error():
    ptr = _models("hull")[0]
    pts = tasks.random_instances(6, 1, seed=0)
    with pytest.raises(LabInputError, match="decoding"):
        decode(ptr, pts, "hull", "viterbi")
    with pytest.raises(LabInputError, match="trained for hull"):
        decode(ptr, pts, "tsp")
    with pytest.raises(LabInputError, match="POMO"):
        decode(_models("delaunay")[0], pts, "delaunay", "pomo")
    with pytest.raises(LabInputError, match="n >= 3"):
        decode(ptr, pts[:, :2], "hull")
    bad = pts.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(LabInputError, match="NaN"):
        decode(ptr, bad, "hull")


def _is_convex_ccw(points: np.ndarray, seq: list[int]) -> bool:
    """Every vertex on or left of every edge of the closed polygon (counter-clockwise convex)."""
    p = np.asarray(points, dtype=np.float64)[seq]
    a, b = p, np.roll(p, -1, axis=0)  # edges a_i -> b_i
    cross = (b[:, None, 0] - a[:, None, 0]) * (p[None, :, 1] - a[:, None, 1]) - \
        (b[:, None, 1] - a[:, None, 1]) * (p[None, :, 0] - a[:, None, 0])  # (edges, vertices)
    return bool((cross > -1e-9).all())


@pytest.mark.parametrize("n", [3, 4, 7, 30, 120])
def test_hull_rules_hold_for_an_untrained_model(n):
    """An untrained model chooses almost at random: the rules alone must keep its outputs valid."""
    model = _models("hull")[0]
    pts = tasks.random_instances(n, 12, seed=n + 1)
    for method in ("greedy", "sample", "beam"):
        simple = decode(model, pts, "hull", method, beam_width=3, num_samples=4, hull_rule="simple")
        convex = decode(model, pts, "hull", method, beam_width=3, num_samples=4, hull_rule="convex")
        for p, s_out, c_out in zip(pts, simple, convex, strict=True):
            assert is_simple_polygon(p, s_out.sequence)
            assert len(c_out.sequence) >= 3 and _is_convex_ccw(p, c_out.sequence)
            assert polygon_area(p, c_out.sequence) > 0
    with pytest.raises(LabInputError, match="hull rule"):
        decode(model, pts, "hull", hull_rule="star-shaped")


def test_index_rule_alone_can_self_intersect_and_simple_rule_prevents_it():
    """The point of the "simple" rule: the paper's index rule alone lets an untrained model cross itself."""
    model = _models("hull")[0]
    pts = tasks.random_instances(30, 40, seed=5)
    plain = decode(model, pts, "hull", "sample", num_samples=2, hull_rule="index")
    assert not all(is_simple_polygon(p, o.sequence) for p, o in zip(pts, plain, strict=True))
    ruled = decode(model, pts, "hull", "sample", num_samples=2, hull_rule="simple")
    assert all(is_simple_polygon(p, o.sequence) for p, o in zip(pts, ruled, strict=True))


def test_hull_search_keeps_the_largest_polygon_and_never_loses_to_greedy():
    """beam, sample and POMO x8 keep the largest simple polygon; greedy is one of POMO's 8 candidates."""
    from lab.pointer import zoo

    net = zoo.load("ptrnet_hull", task="hull")  # a trained model: the search has something to choose from
    pts = tasks.random_instances(30, 24, seed=9)
    greedy = decode(net, pts, "hull", "greedy")
    for method in ("pomo", "beam", "sample"):
        found = decode(net, pts, "hull", method, beam_width=4, num_samples=8)
        for p, g, f in zip(pts, greedy, found, strict=True):
            # the start: the smallest index of the frame the model reads (x-sorted: the leftmost vertex)
            frame = [int(i) for i in np.lexsort((p[:, 1], p[:, 0]))] if net.input_order == "x" else list(range(30))
            assert is_simple_polygon(p, f.sequence) and f.sequence[0] == min(f.sequence, key=frame.index)
            assert np.isfinite(f.log_prob)
            area = polygon_area(p, f.sequence)
            assert area <= polygon_area(p, tasks.convex_hull_label(p)) + 1e-9  # no polygon beats the hull
            if method == "pomo":
                assert area >= polygon_area(p, g.sequence) - 1e-12
                if same_cycle(g.sequence, tasks.convex_hull_label(p)):
                    assert same_cycle(f.sequence, tasks.convex_hull_label(p))
    # the x8 copies, reflected ones included, come back counter-clockwise and valid under the convex rule
    for p, o in zip(pts, decode(net, pts, "hull", "pomo", hull_rule="convex"), strict=True):
        assert _is_convex_ccw(p, o.sequence) and np.isfinite(o.log_prob)


def test_all_starts_equals_decoding_each_start_on_its_own():
    """POMO's shared-encoding rollouts give the same tours and log-probs as n separate rollouts."""
    from lab.pointer.decoding import _rollout

    model = _models("tsp")[1].eval()
    n = 9
    pts = torch.from_numpy(np.random.default_rng(3).random((4, n, 2)).astype(np.float32))
    argmax = lambda lp: lp.argmax(dim=-1)  # noqa: E731
    with torch.no_grad():
        tours, logp = model.all_starts(pts, argmax)  # (4, n, n), (4, n)
        for s in range(n):
            start = torch.full((4,), s, dtype=torch.long)
            seq, total, _ = _rollout(model, model.init_state(pts), "tsp", n, 4, start, argmax)
            assert torch.equal(tours[:, s], seq)
            assert torch.allclose(logp[:, s], total, atol=1e-5)
    assert all(sorted(t) == list(range(n)) for t in tours.reshape(-1, n).tolist())
