"""Rectified correlation of the traces' derivatives.

Calcium traces are slow, so raw traces of independent neurons correlate by chance within a window;
their frame-to-frame changes (the derivative, where events show as rises) do not. Negative
correlation is rectified to zero so that the affinity is non-negative and non-linear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.connectome.affinities.base import Affinity, smoothed_derivative, zscore_rows
from lab.core.errors import LabInputError


@dataclass
class DerivativeCorrelation(Affinity):
    """``max(0, corr(dx_i/dt, dx_j/dt))`` per window; ``smooth`` is a Gaussian sigma in frames (0: none)."""

    smooth: float = 1.0
    name = "derivative-correlation"

    def __post_init__(self) -> None:
        if not 0 <= self.smooth <= 50:
            raise LabInputError(f"derivative-correlation: smooth is {self.smooth}; use 0 to 50 frames.")

    def matrices(self, windows: np.ndarray) -> np.ndarray:
        z = zscore_rows(smoothed_derivative(windows, self.smooth))  # (W, N, L-1), unit RMS
        corr = np.einsum("wil,wjl->wij", z, z) / z.shape[-1]  # (W, N, N)
        return np.clip(corr, 0.0, 1.0)
