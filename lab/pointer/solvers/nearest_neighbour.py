"""Nearest-neighbour construction: from node 0, always go to the closest unvisited node."""

from __future__ import annotations

import numpy as np


def nearest_neighbour(dist: np.ndarray, *, time_limit: float | None = None, start: int = 0) -> np.ndarray:
    """Tour (n,) from ``start`` (then rotated to begin at 0); ties go to the lowest index."""
    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    visited = np.zeros(n, dtype=bool)
    tour = np.empty(n, dtype=np.int64)
    cur = start
    for step in range(n):
        tour[step] = cur
        visited[cur] = True
        if step == n - 1:
            break
        row = np.where(visited, np.inf, d[cur])
        cur = int(np.argmin(row))
    zero = int(np.flatnonzero(tour == 0)[0])
    return np.roll(tour, -zero)
