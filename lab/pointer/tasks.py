"""The three pointer tasks: planar convex hull, Delaunay triangulation and Euclidean TSP.

Exact labels come from scipy (``ConvexHull``, ``Delaunay``, both Qhull); TSP reference tours
from ``fast-tsp`` on integer distances (exact up to 20 nodes, a strong local search beyond).
Everything here works on one instance ``points`` of shape (n, 2) unless said otherwise.

References
----------
Vinyals, Fortunato, Jaitly (2015), "Pointer Networks", NeurIPS — the three tasks and their
output conventions (hull in order, triangles as index triples, tours).
"""

from __future__ import annotations

import time

import numpy as np

from lab.core.errors import LabInputError

TASKS = ("hull", "delaunay", "tsp")

# The hull's output rules for a model's decoding, weakest first (see models.masks.HullConstraint):
# "index" = the index rule only (Vinyals et al. 2015); "simple" = + the polygon never crosses itself
# (the paper's notion of a valid output); "convex" = + it is convex and counter-clockwise.
HULL_RULES = ("index", "simple", "convex")
#: Where a single TSP rollout (greedy, beam, sample) starts: "learned", the attention model's start head
#: (node 0 for a model without one), or "node0". POMO starts from every node.
START_RULES = ("learned", "node0")
START_LABELS = {"learned": "start head", "node0": "node 0"}
HULL_RULE_HELP = ("What the mask guarantees about the model's polygon. simple: never self-intersecting (the paper's "
                  "notion of valid); convex: a convex counter-clockwise polygon; index: the paper's rule alone (start "
                  "at the smallest index), so outputs may cross themselves. No rule tells the model which points are "
                  "on the hull.")
TASK_LABELS = {"tsp": "TSP (tour)", "hull": "convex hull", "delaunay": "Delaunay triangulation"}

#: fast-tsp wants distances that fit in uint16; scale so the largest one is about this.
_INT_RANGE = 40_000


def random_instances(n: int, num: int, seed: int) -> np.ndarray:
    """Uniform random points in the unit square.

    Parameters
    ----------
    n : int
        Points per instance (>= 3).
    num : int
        Number of instances B (>= 1).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same instances.

    Returns
    -------
    np.ndarray
        float32 array of shape (B, n, 2) in [0, 1).
    """
    if int(n) < 3:
        raise LabInputError(f"n must be at least 3, got {n}; use a larger --n.")
    if int(num) < 1:
        raise LabInputError(f"the number of instances must be at least 1, got {num}.")
    rng = np.random.default_rng(int(seed))
    return rng.random((int(num), int(n), 2)).astype(np.float32)


def _as_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise LabInputError(f"points must have shape (n, 2), got {pts.shape}; pass one instance of x,y pairs.")
    if pts.shape[0] < 3:
        raise LabInputError(f"an instance needs at least 3 points, got {pts.shape[0]}; add points.")
    if not np.isfinite(pts).all():
        raise LabInputError("the points contain NaN or infinite coordinates; remove or fix them.")
    return pts


def convex_hull_label(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull, counter-clockwise, starting from the smallest index.

    Points lying on a hull edge (collinear) are not vertices (Qhull's convention).

    Parameters
    ----------
    points : np.ndarray
        (n, 2) coordinates.

    Returns
    -------
    np.ndarray
        int64 array of shape (h,) with 3 <= h <= n.
    """
    from scipy.spatial import ConvexHull, QhullError

    pts = _as_points(points)
    try:
        hull = ConvexHull(pts)
    except QhullError:
        raise LabInputError(
            "the points are all on one line (or repeated), so they have no convex hull; use points that span an area."
        ) from None
    verts = np.asarray(hull.vertices, dtype=np.int64)  # 2-D Qhull returns them counter-clockwise
    start = int(np.argmin(verts))
    return np.roll(verts, -start)


def delaunay_label(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles as index triples, each row ascending, rows in lexicographic order.

    Parameters
    ----------
    points : np.ndarray
        (n, 2) coordinates.

    Returns
    -------
    np.ndarray
        int64 array of shape (T, 3).
    """
    from scipy.spatial import Delaunay, QhullError

    pts = _as_points(points)
    try:
        tri = Delaunay(pts)
    except QhullError:
        raise LabInputError(
            "the points are all on one line (or repeated), so they have no triangulation; use points that span an area."
        ) from None
    simplices = np.sort(np.asarray(tri.simplices, dtype=np.int64), axis=1)  # (T, 3)
    order = np.lexsort(simplices.T[::-1])
    return simplices[order]


def distance_matrix(points: np.ndarray) -> np.ndarray:
    """Euclidean distances, (n, 2) -> (n, n) float64."""
    pts = np.asarray(points, dtype=np.float64)
    diff = pts[:, None, :] - pts[None, :, :]  # (n, n, 2)
    return np.sqrt((diff**2).sum(-1))


def integer_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances scaled and rounded to integers that fit fast-tsp's uint16 range.

    The scale maps the largest distance to about 40,000, so rounding changes a tour length by
    well under 0.01 % for n <= 1,000. Returns (n, n) int64.
    """
    dist = distance_matrix(points)
    top = float(dist.max())
    scale = _INT_RANGE / top if top > 0 else 1.0
    return np.rint(dist * scale).astype(np.int64)


def rotate_to_zero(tour: np.ndarray | list[int]) -> np.ndarray:
    """Rotate a closed tour so that it starts at node 0 (same cycle, same direction)."""
    arr = np.asarray(tour, dtype=np.int64)
    start = int(np.flatnonzero(arr == 0)[0])
    return np.roll(arr, -start)


#: fast-tsp stops on the wall clock. A search that got less than this share of it on the CPU is run once
#: more, for longer (a benchmark beside a training run had cached 207 of 2000 TSP50 references up to 22 %
#: long: README, Pointer tours). The share is low on purpose: a search that ran for a fair part of its
#: time has mostly converged at these limits, and the second search costs time on a busy machine.
MIN_CPU_SHARE = 0.3
STARVED_RETRIES = 1


def solve_integer_tsp(dist: np.ndarray, time_limit: float | None = None) -> np.ndarray:
    """fast-tsp on an integer distance matrix; returns a tour starting at node 0.

    fast-tsp searches for ``time_limit`` seconds of wall-clock time, so a busy CPU would give it less
    search and a worse tour. The search's own CPU time is measured; when it got less than
    :data:`MIN_CPU_SHARE` of the wall time, it runs again with the limit stretched by the shortfall (at
    most 10x; :data:`STARVED_RETRIES` times) and the shorter tour is kept.

    Parameters
    ----------
    dist : np.ndarray
        (n, n) symmetric non-negative integers, each <= 65535.
    time_limit : float, optional
        Seconds for the local search (n > 20); default 0.05 s up to 100 nodes, then n/200 s (at most 10 s).
        Instances of <= 20 nodes are solved exactly whatever the limit.
    """
    import fast_tsp

    n = dist.shape[0]
    if n <= 3:
        return np.arange(n, dtype=np.int64)
    if int(dist.max()) > 65535:
        raise LabInputError(
            f"distances up to {int(dist.max())} exceed the reference solver's 65535 limit; rescale the coordinates."
        )
    if time_limit is None:
        # measured on random 442-node instances: 0.44 s left 0.08 % on the table, 2.2 s matched 8 s
        time_limit = 0.05 if n <= 100 else float(min(10.0, n / 200.0))
    matrix = np.ascontiguousarray(dist, dtype=np.int64)
    rows = matrix.tolist()

    def search(limit: float) -> tuple[np.ndarray, int, float]:
        """(tour, its integer length, the share of the wall time the search ran on the CPU)."""
        cpu, wall = time.thread_time(), time.perf_counter()
        tour = np.asarray(fast_tsp.find_tour(rows, limit, stop_when_converged=True), dtype=np.int64)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        return tour, int(matrix[tour, np.roll(tour, -1)].sum()), cpu / max(wall, 1e-9)

    best, best_length, share = search(time_limit)
    for _ in range(STARVED_RETRIES):
        if share >= MIN_CPU_SHARE:
            break
        tour, length, share = search(time_limit * min(10.0, 1.0 / max(share, 0.1)))
        if length < best_length:
            best, best_length = tour, length
    return rotate_to_zero(best)


def tsp_reference(points: np.ndarray, time_limit: float | None = None) -> np.ndarray:
    """A reference tour (exact for n <= 20, near-optimal beyond) starting at node 0.

    Parameters
    ----------
    points : np.ndarray
        (n, 2) coordinates.
    time_limit : float, optional
        Search time for n > 20, see :func:`solve_integer_tsp`.

    Returns
    -------
    np.ndarray
        int64 permutation of shape (n,), ``tour[0] == 0``.
    """
    pts = _as_points(points)
    return solve_integer_tsp(integer_distances(pts), time_limit=time_limit)


def tour_length(points: np.ndarray, tour: np.ndarray | list[int]) -> float:
    """Euclidean length of the closed tour (returning to its first node).

    Parameters
    ----------
    points : np.ndarray
        (n, 2) coordinates.
    tour : array of int
        Node order, (k,) with k >= 1.
    """
    pts = np.asarray(points, dtype=np.float64)
    idx = np.asarray(tour, dtype=np.int64)
    if idx.size < 2:
        return 0.0
    ordered = pts[idx]  # (k, 2)
    return float(np.linalg.norm(ordered - np.roll(ordered, -1, axis=0), axis=1).sum())


def is_valid_tour(tour: np.ndarray | list[int], n: int) -> bool:
    """True if ``tour`` is a permutation of 0..n-1."""
    arr = np.asarray(tour, dtype=np.int64)
    return arr.shape == (n,) and bool(np.array_equal(np.sort(arr), np.arange(n)))


def normalize(points: np.ndarray) -> tuple[np.ndarray, float | np.ndarray, np.ndarray]:
    """Map coordinates into the unit square, keeping the aspect ratio.

    ``points01 = (points - offset) / scale`` with ``offset`` the minimum corner and ``scale``
    the longer side of the bounding box, so the longer side spans [0, 1]. Lengths measured on
    ``points01`` times ``scale`` are lengths in the original units.

    Parameters
    ----------
    points : np.ndarray
        (n, 2) for one instance, or (B, n, 2) for a batch (one box per instance).

    Returns
    -------
    points01 : np.ndarray
        float32, same shape as ``points``.
    scale : float or np.ndarray
        A float for one instance; (B,) for a batch.
    offset : np.ndarray
        (2,) for one instance; (B, 2) for a batch.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 2:
        offset = pts.min(axis=0)  # (2,)
        span = float((pts.max(axis=0) - offset).max())
        scale = span if span > 0 else 1.0
        return ((pts - offset) / scale).astype(np.float32), scale, offset
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise LabInputError(f"points must have shape (n, 2) or (B, n, 2), got {pts.shape}.")
    offset = pts.min(axis=1)  # (B, 2)
    spans = (pts.max(axis=1) - offset).max(axis=-1)  # (B,)
    spans = np.where(spans > 0, spans, 1.0)
    out = (pts - offset[:, None, :]) / spans[:, None, None]
    return out.astype(np.float32), spans, offset
