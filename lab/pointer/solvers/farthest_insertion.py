"""Farthest insertion (Rosenkrantz, Stearns & Lewis 1977): insert the node farthest from the tour
at the position where it lengthens the tour least."""

from __future__ import annotations

import numpy as np


def farthest_insertion(dist: np.ndarray, *, time_limit: float | None = None) -> np.ndarray:
    """Tour (n,) starting at 0, O(n^2) with numpy per insertion."""
    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    if n <= 3:
        return np.arange(n, dtype=np.int64)
    far = int(np.argmax(d[0]))
    tour = [0, far]
    in_tour = np.zeros(n, dtype=bool)
    in_tour[[0, far]] = True
    gap = np.minimum(d[0], d[far])  # (n,) distance of each node to the tour
    while len(tour) < n:
        node = int(np.argmax(np.where(in_tour, -np.inf, gap)))
        t = np.asarray(tour)
        nxt = np.roll(t, -1)
        increase = d[t, node] + d[node, nxt] - d[t, nxt]  # (len(tour),) cost of inserting after t[i]
        pos = int(np.argmin(increase))
        tour.insert(pos + 1, node)
        in_tour[node] = True
        gap = np.minimum(gap, d[node])
    arr = np.asarray(tour, dtype=np.int64)
    return np.roll(arr, -int(np.flatnonzero(arr == 0)[0]))
