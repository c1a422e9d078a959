"""Scores for the three tasks, as in Vinyals et al. (2015) and the neural-TSP literature.

* hull: **accuracy** — the predicted sequence is exactly the hull cycle (same vertices in the same
  cyclic order; rotation and direction do not matter, since both describe the same polygon);
  **area coverage** — area of the predicted polygon / area of the true hull, 0 when the predicted
  polygon is not simple (self-intersecting) or has fewer than 3 distinct points.
* delaunay: **accuracy** — the predicted set of triangles equals the Delaunay set exactly;
  **triangle coverage** — fraction of the true triangles that were predicted.
* tsp: **gap** — ``length / reference_length - 1`` (a fraction; x100 for percent).
"""

from __future__ import annotations

import numpy as np

from lab.pointer.tasks import convex_hull_label, delaunay_label


def polygon_area(points: np.ndarray, order: np.ndarray | list[int]) -> float:
    """Absolute shoelace area of the polygon visiting ``points`` (n, 2) in ``order`` (k,)."""
    idx = np.asarray(order, dtype=np.int64)
    if idx.size < 3:
        return 0.0
    p = np.asarray(points, dtype=np.float64)[idx]  # (k, 2)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))


def _segments_cross(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> bool:
    def orient(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def is_simple_polygon(points: np.ndarray, order: np.ndarray | list[int]) -> bool:
    """True if the closed polygon through ``order`` has >= 3 distinct vertices and no proper crossings."""
    idx = np.asarray(order, dtype=np.int64)
    if idx.size < 3 or np.unique(idx).size != idx.size:
        return False
    p = np.asarray(points, dtype=np.float64)[idx]
    k = len(p)
    for i in range(k):
        for j in range(i + 2, k):
            if i == 0 and j == k - 1:
                continue  # adjacent across the wrap
            if _segments_cross(p[i], p[(i + 1) % k], p[j], p[(j + 1) % k]):
                return False
    return True


def same_cycle(a: np.ndarray | list[int], b: np.ndarray | list[int]) -> bool:
    """True if ``a`` and ``b`` are the same cyclic sequence up to rotation or reversal."""
    x = [int(i) for i in a]
    y = [int(i) for i in b]
    if len(x) != len(y) or sorted(x) != sorted(y) or not x:
        return False
    start = y.index(x[0])
    fwd = y[start:] + y[:start]
    rev = [fwd[0]] + fwd[1:][::-1]
    return x == fwd or x == rev


def hull_scores(points: np.ndarray, predicted: np.ndarray | list[int],
                label: np.ndarray | None = None) -> dict[str, float]:
    """``{"accuracy": 0/1, "area_coverage": [0, 1], "valid": 0/1}`` for one instance."""
    true = convex_hull_label(points) if label is None else np.asarray(label)
    pred = np.asarray(predicted, dtype=np.int64)
    valid = is_simple_polygon(points, pred)
    true_area = polygon_area(points, true)
    coverage = polygon_area(points, pred) / true_area if valid and true_area > 0 else 0.0
    return {"accuracy": float(same_cycle(pred, true)), "area_coverage": float(coverage), "valid": float(valid)}


def triangles_from_sequence(sequence: np.ndarray | list[int]) -> np.ndarray:
    """Flattened triangles (3T,) -> unique rows (T', 3), each sorted ascending, rows sorted."""
    seq = np.asarray(sequence, dtype=np.int64)
    if seq.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    tri = np.sort(seq[: seq.size // 3 * 3].reshape(-1, 3), axis=1)
    return np.unique(tri, axis=0)


def delaunay_scores(points: np.ndarray, predicted: np.ndarray | list[int],
                    label: np.ndarray | None = None) -> dict[str, float]:
    """``{"accuracy": 0/1, "triangle_coverage": [0, 1]}``; ``predicted`` is flattened (3T,) or (T, 3)."""
    true = delaunay_label(points) if label is None else np.asarray(label)
    pred = triangles_from_sequence(np.asarray(predicted).reshape(-1))
    true_set = {tuple(r) for r in true.tolist()}
    pred_set = {tuple(r) for r in pred.tolist()}
    hit = len(true_set & pred_set)
    return {"accuracy": float(pred_set == true_set), "triangle_coverage": hit / max(1, len(true_set))}


def crossing_edges(points: np.ndarray, triangles: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Pairs of triangle edges that cross (properly intersect; edges sharing a point never count).

    points (n, 2), triangles (T, 3). A triangulation has none.
    """
    pts = np.asarray(points, dtype=float)
    tri = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    edges = sorted({tuple(sorted((int(t[i]), int(t[(i + 1) % 3])))) for t in tri for i in range(3)})
    if len(edges) < 2:
        return []
    e = np.asarray(edges)  # (E, 2)
    a, b = pts[e[:, 0]], pts[e[:, 1]]  # (E, 2) each

    def orient(p, q, r):  # sign of the turn p -> q -> r, for every pair (E, E)
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    A, B = a[:, None, :], b[:, None, :]  # edge i
    C, D = a[None, :, :], b[None, :, :]  # edge j
    proper = (orient(A, B, C) * orient(A, B, D) < 0) & (orient(C, D, A) * orient(C, D, B) < 0)  # (E, E)
    shares = (e[:, None, 0] == e[None, :, 0]) | (e[:, None, 0] == e[None, :, 1]) | \
             (e[:, None, 1] == e[None, :, 0]) | (e[:, None, 1] == e[None, :, 1])
    i, j = np.nonzero(np.triu(proper & ~shares, k=1))
    return [(edges[x], edges[y]) for x, y in zip(i.tolist(), j.tolist(), strict=True)]


def delaunay_valid(points: np.ndarray, triangles: np.ndarray, n: int) -> bool:
    """Distinct, non-degenerate triangles of points ``0..n-1`` whose edges never cross one another."""
    tri = np.asarray(triangles, dtype=np.int64).reshape(-1, 3)
    if not tri.size or tri.min() < 0 or tri.max() >= n:
        return False
    if any(len(set(t)) < 3 for t in tri.tolist()) or len({tuple(sorted(t)) for t in tri.tolist()}) < len(tri):
        return False
    return not crossing_edges(points, tri)


def gap(length: float, reference: float | None) -> float | None:
    """``length / reference - 1`` as a fraction, or None without a (positive) reference."""
    if reference is None or reference <= 0:
        return None
    value = float(length) / float(reference) - 1.0
    return 0.0 if abs(value) < 1e-12 else value  # equal tours summed in another order differ by float noise
