"""Constant velocity from the last observed step (Schöller et al. 2020, "What the constant velocity model
can teach us about pedestrian motion prediction"): deterministic, and sampled with heading noise.

The mean prediction is ``x_To + h (x_To - x_To-1)``; each of the K samples turns that velocity by an angle
drawn from N(0, sigma^2) (sigma = 25 degrees by default), the paper's CVM-S.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.trajectories.predictors.base import Predictor


@dataclass
class ConstantVelocity(Predictor):
    sigma_deg: float = 25.0
    name = "cv"
    label = "constant velocity"

    def predict_windows(self, obs, pred_len, samples, rng):
        out = []
        horizon = np.arange(1, pred_len + 1)[:, None]  # (P, 1)
        for tracks in obs:
            last, v = tracks[:, -1], tracks[:, -1] - tracks[:, -2]  # (N, 2)
            mean = last[:, None] + horizon[None] * v[:, None]  # (N, P, 2)
            angle = rng.normal(0.0, np.deg2rad(self.sigma_deg), (samples, len(tracks)))  # (K, N)
            c, s = np.cos(angle), np.sin(angle)
            turned = np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], -1)  # (K, N, 2)
            out.append((mean, last[None, :, None] + horizon[None, None] * turned[:, :, None]))
        return out
