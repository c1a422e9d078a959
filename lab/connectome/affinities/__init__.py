"""Pairwise affinity methods, one per file, behind the ``AFFINITIES`` registry.

A new method is a small dataclass subclassing :class:`Affinity` and overriding ``matrices``;
add it to ``AFFINITIES`` and the shared tests pick it up.
"""

from __future__ import annotations

from typing import Any

from lab.connectome.affinities.base import (
    Affinity,
    affinity_tensor,
    matrix_to_pairs,
    n_from_pairs,
    pair_index,
    pairs_to_matrix,
    window_starts,
    windows_of,
)
from lab.connectome.affinities.derivative_correlation import DerivativeCorrelation
from lab.connectome.affinities.gaussian_kernel import GaussianKernel
from lab.core.errors import LabInputError

AFFINITIES: dict[str, type[Affinity]] = {
    DerivativeCorrelation.name: DerivativeCorrelation,
    GaussianKernel.name: GaussianKernel,
}


def make_affinity(name: str, **params: Any) -> Affinity:
    """Instantiate the affinity registered as ``name``."""
    if name not in AFFINITIES:
        raise LabInputError(f"Unknown affinity '{name}'; choose one of {', '.join(AFFINITIES)}.")
    return AFFINITIES[name](**params)


__all__ = [
    "AFFINITIES",
    "Affinity",
    "DerivativeCorrelation",
    "GaussianKernel",
    "affinity_tensor",
    "make_affinity",
    "matrix_to_pairs",
    "n_from_pairs",
    "pair_index",
    "pairs_to_matrix",
    "window_starts",
    "windows_of",
]
