"""A Ptr-Net that reads its points sorted by x ("Order Matters"): the decoders work in the sorted frame
and hand back sequences and attention in the caller's indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.core.errors import LabInputError
from lab.pointer.decoding import decode
from lab.pointer.frames import reading_order
from lab.pointer.metrics import is_simple_polygon
from lab.pointer.models import build_model
from lab.pointer.models.data import label_sequence
from lab.pointer.train import TrainConfig


def _model(order: str = "x", seed: int = 0):
    torch.manual_seed(seed)
    return build_model({"model": "ptrnet", "task": "hull", "hidden": 16, "layers": 1, "input_order": order})


def test_reading_order_sorts_by_x_then_y():
    pts = torch.tensor([[[0.5, 0.9], [0.1, 0.2], [0.5, 0.1], [0.9, 0.0]]])
    order = reading_order(_model(), pts)
    assert order.tolist() == [[1, 2, 0, 3]]
    assert reading_order(_model("given"), pts) is None


@pytest.mark.parametrize("method", ["greedy", "beam", "sample", "pomo"])
def test_outputs_are_in_the_given_indices(method):
    """Decoding shuffled points gives the same polygon (as points) as decoding them sorted."""
    rng = np.random.default_rng(3)
    pts = rng.random((4, 12, 2)).astype(np.float32)
    model = _model()
    shuffled = np.stack([p[rng.permutation(12)] for p in pts])
    for a, b, pa, pb in zip(decode(model, pts, "hull", method, beam_width=3, num_samples=4),
                            decode(model, shuffled, "hull", method, beam_width=3, num_samples=4), pts, shuffled,
                            strict=True):
        assert len(set(a.sequence)) == len(a.sequence) >= 3
        assert is_simple_polygon(pa, a.sequence)
        assert {tuple(pa[i]) for i in a.sequence} == {tuple(pb[i]) for i in b.sequence}
        assert a.log_prob == pytest.approx(b.log_prob, abs=1e-4)


def test_trace_columns_follow_the_given_points():
    """The attention row of each step puts the chosen point's probability in the chosen point's column."""
    rng = np.random.default_rng(4)
    pts = rng.random((3, 10, 2)).astype(np.float32)
    for out in decode(_model(), pts, "hull", "greedy", trace=True):
        att = out.attention
        assert att.shape == (len(out.sequence), 10)
        for step, chosen in enumerate(out.sequence):
            assert att[step, chosen] == pytest.approx(att[step].max())  # greedy picks the most probable


def test_training_labels_start_at_the_leftmost_point():
    rng = np.random.default_rng(5)
    p = rng.random((20, 2))
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    assert label_sequence("hull", p)[0] == 0


def test_input_order_is_validated_and_recorded():
    assert TrainConfig(task="hull", input_order="x").architecture()["input_order"] == "x"
    assert "input_order" not in TrainConfig(task="hull").architecture()  # older checkpoints still match
    with pytest.raises(LabInputError):
        TrainConfig(task="tsp", input_order="x")
    with pytest.raises(LabInputError):
        TrainConfig(task="hull", input_order="angle")
    with pytest.raises(LabInputError):
        build_model({"model": "ptrnet", "task": "tsp", "input_order": "x"})
    with pytest.raises(LabInputError):
        TrainConfig(task="tsp", model="am", input_order="x")
    assert TrainConfig(task="delaunay", input_order="x").architecture()["input_order"] == "x"


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_delaunay_triangles_come_back_in_the_given_indices(method):
    from lab.pointer.metrics import triangles_from_sequence

    torch.manual_seed(1)
    model = build_model({"model": "ptrnet", "task": "delaunay", "hidden": 16, "layers": 1, "input_order": "x"})
    rng = np.random.default_rng(6)
    pts = rng.random((3, 7, 2)).astype(np.float32)
    perms = [rng.permutation(7) for _ in range(3)]
    shuffled = np.stack([p[q] for p, q in zip(pts, perms, strict=True)])
    for a, b, pa, pb in zip(decode(model, pts, "delaunay", method, beam_width=3, num_samples=4),
                            decode(model, shuffled, "delaunay", method, beam_width=3, num_samples=4), pts, shuffled,
                            strict=True):
        as_points = lambda tri, p: {frozenset(map(tuple, p[t].tolist())) for t in tri}  # noqa: E731
        assert as_points(triangles_from_sequence(a.sequence), pa) == as_points(triangles_from_sequence(b.sequence), pb)
        assert a.log_prob == pytest.approx(b.log_prob, abs=1e-4)
