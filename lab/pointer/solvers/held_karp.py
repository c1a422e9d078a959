"""Exact TSP by the Held-Karp dynamic programme (Held & Karp 1962; Bellman 1962), O(2^n n^2).

``cost[S, k]`` is the shortest path that starts at node 0, visits the set ``S`` of the other nodes
and ends at ``k`` in ``S``. Layers of equal ``|S|`` are computed together in numpy.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from lab.core.errors import LabInputError

MAX_N = 20


def held_karp(dist: np.ndarray, *, time_limit: float | None = None) -> np.ndarray:
    """Optimal tour (n,) starting at 0 for a symmetric or asymmetric matrix ``dist`` (n, n).

    ``time_limit`` is ignored (the programme always finishes); n is limited to 20 for memory.
    """
    d = np.asarray(dist, dtype=np.float64)
    n = d.shape[0]
    if n > MAX_N:
        raise LabInputError(f"Held-Karp is exact but exponential; it takes at most {MAX_N} nodes, got {n}.")
    if n <= 3:
        return np.arange(n, dtype=np.int64)
    m = n - 1  # nodes 1..n-1 are bits 0..m-1
    inner = d[1:, 1:]  # (m, m)
    cost = np.full((1 << m, m), np.inf)
    parent = np.full((1 << m, m), -1, dtype=np.int8)
    bits = 1 << np.arange(m)
    cost[bits, np.arange(m)] = d[0, 1:]
    for size in range(1, m):
        masks = np.array([sum(1 << b for b in c) for c in combinations(range(m), size)], dtype=np.int64)  # (M,)
        # extend every path ending at j by the step j -> k: (M, m_j, m_k)
        cand = cost[masks][:, :, None] + inner[None, :, :]
        best_j = cand.argmin(axis=1)  # (M, m)
        best = np.take_along_axis(cand, best_j[:, None, :], axis=1)[:, 0, :]  # (M, m)
        free = (masks[:, None] & bits[None, :]) == 0  # k not yet visited, (M, m)
        rows, ks = np.nonzero(free)
        new = masks[rows] | bits[ks]
        # each (new, k) has exactly one predecessor set new - {k}, so a plain assignment is exact
        cost[new, ks] = best[rows, ks]
        parent[new, ks] = best_j[rows, ks]
    full = (1 << m) - 1
    last = int(np.argmin(cost[full] + d[1:, 0]))
    tour = []
    mask = full
    while last >= 0:
        tour.append(last + 1)
        prev = int(parent[mask, last])
        mask ^= 1 << last
        last = prev
    return np.array([0] + tour[::-1], dtype=np.int64)
