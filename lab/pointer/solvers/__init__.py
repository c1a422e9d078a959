"""Classical TSP solvers behind one registry: reference, exact and the baselines a teacher compares against.

Every solver takes a symmetric distance matrix ``dist`` of shape (n, n) — floats for Euclidean
instances, the file's own integers for TSPLIB — and returns a tour as an int64 permutation of
shape (n,) starting at node 0. Lengths are then measured on that same matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lab.core.errors import LabInputError
from lab.pointer.solvers.christofides import christofides
from lab.pointer.solvers.farthest_insertion import farthest_insertion
from lab.pointer.solvers.held_karp import held_karp
from lab.pointer.solvers.nearest_neighbour import nearest_neighbour
from lab.pointer.solvers.reference import reference
from lab.pointer.solvers.two_opt import two_opt


@dataclass(frozen=True)
class Solver:
    """A registry entry: ``fn(dist, time_limit=None) -> tour``; ``max_n`` is the largest sensible n."""

    name: str
    label: str
    fn: Callable[..., np.ndarray]
    max_n: int
    exact: bool = False


SOLVERS: dict[str, Solver] = {
    s.name: s
    for s in (
        Solver("reference", "fast-tsp (exact <= 20 nodes, local search beyond)", reference, 65_535),
        Solver("held_karp", "Held-Karp dynamic programming (exact)", held_karp, 16, exact=True),
        Solver("nearest_neighbour", "nearest neighbour", nearest_neighbour, 100_000),
        Solver("farthest_insertion", "farthest insertion", farthest_insertion, 20_000),
        Solver("two_opt", "2-opt from nearest neighbour", two_opt, 5_000),
        Solver("christofides", "Christofides (networkx)", christofides, 400),
    )
}


def solve(name: str, dist: np.ndarray, *, time_limit: float | None = None) -> np.ndarray:
    """Run the solver ``name`` on ``dist`` (n, n); returns a tour (n,) starting at 0."""
    if name not in SOLVERS:
        raise LabInputError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}.")
    solver = SOLVERS[name]
    n = int(np.asarray(dist).shape[0])
    if n > solver.max_n:
        raise LabInputError(f"{solver.label} handles at most {solver.max_n} nodes, this instance has {n}; "
                            "pick the reference solver.")
    return solver.fn(np.asarray(dist), time_limit=time_limit)


def closed_length(dist: np.ndarray, tour: np.ndarray) -> float:
    """Length of the closed ``tour`` on the matrix ``dist``."""
    idx = np.asarray(tour, dtype=np.int64)
    return float(np.asarray(dist)[idx, np.roll(idx, -1)].sum())


__all__ = ["SOLVERS", "Solver", "solve", "closed_length"]
