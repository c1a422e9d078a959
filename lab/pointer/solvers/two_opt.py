"""2-opt local search (Croes 1958) from the nearest-neighbour tour.

A 2-opt move removes edges (a, b) and (c, d) and reconnects (a, c), (b, d) by reversing the path
b..c. We apply the best improving move for each first edge until none improves.
"""

from __future__ import annotations

import time

import numpy as np

from lab.pointer.solvers.nearest_neighbour import nearest_neighbour


def improve_2opt(dist: np.ndarray, tour: np.ndarray, time_limit: float | None = None) -> np.ndarray:
    """Apply improving 2-opt moves to ``tour`` (n,) until it is 2-optimal or time runs out."""
    d = np.asarray(dist, dtype=np.float64)
    t = np.asarray(tour, dtype=np.int64).copy()
    n = t.size
    if n < 4:
        return t
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    eps = 1e-9 * max(1.0, float(d.max()))
    improved = True
    while improved:
        improved = False
        for i in range(n - 2):
            a, b = t[i], t[i + 1]
            j = np.arange(i + 2, n if i > 0 else n - 1)  # never pick the edge adjacent across the wrap
            c, dd = t[j], t[(j + 1) % n]
            delta = d[a, c] + d[b, dd] - d[a, b] - d[c, dd]  # (len(j),)
            k = int(np.argmin(delta))
            if delta[k] < -eps:
                jj = int(j[k])
                t[i + 1 : jj + 1] = t[i + 1 : jj + 1][::-1]
                improved = True
        if deadline is not None and time.perf_counter() > deadline:
            break
    return np.roll(t, -int(np.flatnonzero(t == 0)[0]))


def two_opt(dist: np.ndarray, *, time_limit: float | None = None) -> np.ndarray:
    """Nearest neighbour, then 2-opt; tour (n,) starting at 0."""
    return improve_2opt(dist, nearest_neighbour(dist), time_limit=time_limit)
