"""The frames a pointer model reads a point set in, and batched tour lengths.

- :func:`augment8`: the 8 symmetries of the unit square that POMO decodes (Kwon et al. 2020).
- :func:`reading_order` and :func:`reorder`: the order a Ptr-Net trained with ``input_order="x"`` reads
  its points in (Vinyals et al. 2016, "Order Matters").
- :func:`tour_lengths`: closed tour lengths of many rows at once, for POMO's rewards and its choice of tour.

Shared by the decoders (:mod:`lab.pointer.decoding`) and the training losses (:mod:`lab.pointer.losses`).
"""

from __future__ import annotations

import torch


def augment8(points: torch.Tensor) -> torch.Tensor:
    """The 8 symmetries of the unit square (POMO, Kwon et al. 2020): (B, n, 2) -> (8, B, n, 2).

    Reflections and quarter turns keep every distance, so a tour of a copy is a tour of the original
    with the same length, while the model sees 8 different inputs.
    """
    x, y = points[..., :1], points[..., 1:]
    pairs = [(x, y), (y, x), (x, 1 - y), (y, 1 - x), (1 - x, y), (1 - y, x), (1 - x, 1 - y), (1 - y, 1 - x)]
    return torch.stack([torch.cat(p, dim=-1) for p in pairs])


def tour_lengths(points: torch.Tensor, tours: torch.Tensor) -> torch.Tensor:
    """points (R, n, 2), tours (R, n) -> closed tour lengths (R,).

    The batched torch form of :func:`lab.pointer.tasks.tour_length` (one instance, numpy).
    """
    ordered = points.gather(1, tours[..., None].expand(-1, -1, 2))  # (R, n, 2)
    return (ordered - ordered.roll(-1, dims=1)).norm(dim=-1).sum(dim=1)


def reading_order(model, points: torch.Tensor) -> torch.Tensor | None:
    """The order in which ``model`` reads ``points`` (B, n, 2): (B, n) long, or None when as given.

    A Ptr-Net trained with ``input_order="x"`` reads the points by increasing x, ties by y (Vinyals et al.
    2016, "Order Matters": the order of a set's elements changes what a sequence model learns).
    """
    if getattr(model, "input_order", "given") != "x":
        return None
    by_y = points[..., 1].argsort(dim=1, stable=True)  # (B, n)
    x_then = points[..., 0].gather(1, by_y).argsort(dim=1, stable=True)  # stable: equal x keep y order
    return by_y.gather(1, x_then)


def reorder(points: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """points (B, n, 2) in ``order`` (B, n): row b's i-th point is points[b, order[b, i]]."""
    return points.gather(1, order[..., None].expand(-1, -1, points.shape[-1]))
