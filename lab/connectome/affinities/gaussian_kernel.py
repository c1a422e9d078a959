"""Gaussian-kernel similarity of z-scored signals within a window.

``a_ij = exp(-d_ij^2 / (2 sigma^2))`` with ``d_ij^2`` the mean squared difference of the two
z-scored signals (0 when identical, about 2 for independent ones). By default the signal is the
trace's lightly smoothed derivative (see ``derivative_correlation``); ``use_derivative=False`` uses the trace itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.connectome.affinities.base import Affinity, smoothed_derivative, zscore_rows
from lab.core.errors import LabInputError


@dataclass
class GaussianKernel(Affinity):
    """``exp(-mean((z_i - z_j)^2) / (2 sigma^2))`` per window."""

    sigma: float = 0.5
    use_derivative: bool = True
    smooth: float = 1.0
    name = "gaussian"

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise LabInputError(f"gaussian affinity: sigma is {self.sigma}; use a positive width.")
        if not 0 <= self.smooth <= 50:
            raise LabInputError(f"gaussian affinity: smooth is {self.smooth}; use 0 to 50 frames.")

    def matrices(self, windows: np.ndarray) -> np.ndarray:
        x = smoothed_derivative(windows, self.smooth) if self.use_derivative else windows
        z = zscore_rows(x)  # (W, N, L)
        sq = (z**2).mean(axis=-1)  # (W, N): 1, or 0 for a constant row
        gram = np.einsum("wil,wjl->wij", z, z) / z.shape[-1]
        d2 = np.maximum(sq[:, :, None] + sq[:, None, :] - 2 * gram, 0.0)  # (W, N, N)
        out = np.exp(-d2 / (2 * self.sigma**2))
        flat = sq < 0.5  # a constant signal is like nothing, not like every other constant signal
        out[np.broadcast_to(flat[:, :, None] | flat[:, None, :], out.shape)] = 0.0
        return out
