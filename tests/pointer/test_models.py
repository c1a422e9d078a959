"""Pointer models: shapes, set-equivariance of the attention model, architecture cards, masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.core.errors import LabInputError
from lab.pointer import tasks
from lab.pointer.models import AttentionModel, PointerNetwork, build_model
from lab.pointer.models.data import label_sequence, pad_sequences
from lab.pointer.models.masks import make_constraint, teacher_masks

torch.set_num_threads(1)  # small tensors: extra threads only contend on a shared machine


def test_ptrnet_shapes_and_step_interface():
    torch.manual_seed(0)
    net = PointerNetwork("hull", hidden=16)
    pts = torch.rand(3, 7, 2)
    targets = torch.tensor([[0, 2, 4, 7], [1, 3, 5, 7], [0, 1, 2, 7]])
    assert net(pts, targets).shape == (3, 4, 8)  # (B, T, n + 1): the last slot is EOS
    state = net.init_state(pts)
    assert net.logits(state).shape == (3, 8)
    state = net.advance(state, torch.tensor([0, 1, 2]))
    assert state.select(torch.tensor([2, 2])).query.shape == (2, 16)


def test_ptrnet_teacher_forcing_matches_step_by_step():
    torch.manual_seed(0)
    net = PointerNetwork("tsp", hidden=16).eval()
    pts = torch.rand(2, 6, 2)
    tours = torch.tensor([[0, 3, 1, 5, 2, 4], [0, 1, 2, 3, 4, 5]])
    forced = net(pts, tours)  # (2, 6, 7)
    state = net.init_state(pts)
    for t in range(6):
        assert torch.allclose(net.logits(state), forced[:, t], atol=1e-5)
        state = net.advance(state, tours[:, t])


def test_attention_model_is_permutation_equivariant_and_forward_matches_steps():
    torch.manual_seed(0)
    am = AttentionModel(hidden=16, layers=2, heads=2, ff=32).eval()
    pts = torch.rand(2, 9, 2)
    perm = torch.randperm(9)
    with torch.no_grad():
        assert torch.allclose(am.encode(pts)[:, perm], am.encode(pts[:, perm]), atol=1e-5)
        tours = torch.stack([torch.randperm(9) for _ in range(2)])
        forced = am(pts, tours)  # (2, 8, 9)
        assert forced.shape == (2, 8, 9)
        state = am.advance(am.init_state(pts), tours[:, 0])
        for t in range(1, 9):
            assert torch.allclose(am.logits(state), forced[:, t - 1], atol=1e-4)
            state = am.advance(state, tours[:, t])
    assert forced.abs().max() <= am.clip + 1e-5  # C tanh(.) bounds the logits


def test_build_model_from_architecture_round_trip():
    for net in (PointerNetwork("delaunay", hidden=24, layers=2), AttentionModel(hidden=32, layers=1, heads=4, ff=64)):
        again = build_model(net.architecture())
        again.load_state_dict(net.state_dict())
        assert again.architecture() == net.architecture()
    with pytest.raises(LabInputError):
        build_model({"model": "am", "task": "hull"})
    with pytest.raises(LabInputError):
        build_model({"model": "transformer-xl"})


@pytest.mark.parametrize("task", ["hull", "delaunay", "tsp"])
def test_teacher_masks_allow_every_label(task):
    pts = tasks.random_instances(12, 6, seed=3)
    targets = pad_sequences([label_sequence(task, p) for p in pts])
    masks = teacher_masks(task, targets, 12)
    valid = targets >= 0
    chosen = masks.gather(2, targets.clamp(min=0)[..., None])[..., 0]
    assert bool(chosen[valid].all())


@pytest.mark.parametrize("task", ["hull", "delaunay", "tsp"])
@pytest.mark.parametrize("n", [3, 4, 5, 9, 30])
def test_constraints_never_get_stuck_under_random_choices(task, n):
    gen = torch.Generator().manual_seed(n)
    cons = make_constraint(task, 16, n)
    seq = []
    for _ in range(4 * n * 3):
        if bool(cons.finished.all()):
            break
        allowed = cons.allowed()
        assert bool(allowed.any(dim=1).all())
        choice = torch.multinomial(allowed.float(), 1, generator=gen)[:, 0]
        seq.append(choice)
        cons.update(choice)
    assert bool(cons.finished.all())
    seqs = torch.stack(seq, 1).numpy()
    for row in seqs:
        out = [int(v) for v in row if v < n] if task != "tsp" else list(row)
        if task != "tsp":
            out = out[: list(row).index(n)] if n in row else out
        if task == "tsp":
            assert sorted(out) == list(range(n))
        elif task == "hull":
            assert len(out) >= 3 and len(set(out)) == len(out) and out[0] == min(out)
        else:
            tri = np.array(out).reshape(-1, 3)
            assert len(tri) >= 1 and (np.diff(tri, axis=1) > 0).all()
            assert all(tuple(a) < tuple(b) for a, b in zip(tri[:-1], tri[1:], strict=True))


@pytest.mark.parametrize("rule", ["simple", "convex"])
@pytest.mark.parametrize("n", [3, 4, 6, 25, 200])
def test_hull_geometric_rules_allow_every_label(rule, n):
    pts = tasks.random_instances(n, 40 if n < 200 else 5, seed=n)
    targets = pad_sequences([label_sequence("hull", p) for p in pts])
    masks = teacher_masks("hull", targets, n, torch.from_numpy(np.asarray(pts, dtype=np.float32)), rule)
    chosen = masks.gather(2, targets.clamp(min=0)[..., None])[..., 0]
    assert bool(chosen[targets >= 0].all())


def test_convex_rule_refuses_a_reflex_turn_and_a_crossing():
    # a square 0..3 counter-clockwise and a point 4 inside it
    pts = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.4]]])
    for rule in ("simple", "convex"):
        cons = make_constraint("hull", 1, 5, points=pts, hull_rule=rule)
        for c in (0, 1, 4):  # 0 -> 1 -> 4 turns left, into the square
            cons.update(torch.tensor([c]))
        allowed = cons.allowed()[0]
        # after 0 -> 1 -> 4, going to 2 makes a reflex (non-convex) polygon but it is still simple
        assert bool(allowed[2]) == (rule == "simple")
        assert bool(allowed[5])  # EOS: a triangle is a valid output
        # 0 -> 2 -> 1 (a diagonal, then back down): going on to 3 would cross the diagonal 0 -> 2
        cons = make_constraint("hull", 1, 5, points=pts, hull_rule=rule)
        for c in (0, 2, 1):
            cons.update(torch.tensor([c]))
        assert not bool(cons.allowed()[0, 3])
    plain = make_constraint("hull", 1, 5)
    for c in (0, 2, 1):
        plain.update(torch.tensor([c]))
    assert bool(plain.allowed()[0, 3])  # the index rule alone would allow the crossing
    with pytest.raises(LabInputError, match="hull rule"):
        make_constraint("hull", 1, 5, points=pts, hull_rule="round")
