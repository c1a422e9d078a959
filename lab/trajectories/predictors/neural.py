"""A trained :class:`~lab.trajectories.models.TrajectoryNet` as a predictor (the ``seq`` and ``group`` models).

A model reads ``obs_len`` steps and predicts ``pred_len`` (8 and 12 for the shipped ones). Other protocols
are adapted, not refused: a longer observation uses its last ``obs_len`` steps, a shorter one is padded
backwards at the first observed velocity; a shorter horizon is cut, a longer one continues each sample at
its last predicted velocity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lab.trajectories.models import TrajectoryNet, make_batch, sample_modes
from lab.trajectories.predictors.base import Predictor


@dataclass
class NeuralPredictor(Predictor):
    model: TrajectoryNet
    device: str = "cpu"
    chunk: int = 64

    @torch.no_grad()
    def predict_windows(self, obs, pred_len, samples, rng):
        m = self.model.eval().to(self.device)
        obs = [fit_observation(w, m.obs_len) for w in obs]
        gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**31)))
        out = []
        for lo in range(0, len(obs), self.chunk):
            part = obs[lo:lo + self.chunk]
            res = m(make_batch(part, self.device))
            picked, mean = sample_modes(res, samples, gen)  # (K, n, P, 2), (n, P, 2)
            last = torch.as_tensor(np.concatenate([w[:, -1] for w in part]), dtype=torch.float32,
                                   device=self.device)  # (n, 2)
            picked = fit_horizon((picked + last[None, :, None]).cpu().numpy().astype(float), pred_len)
            mean = fit_horizon((mean + last[:, None]).cpu().numpy().astype(float), pred_len)
            k = 0
            for w in part:
                out.append((mean[k:k + len(w)], picked[:, k:k + len(w)]))
                k += len(w)
        return out

    def relations(self, obs):
        if not self.model.relational:
            return None
        from lab.trajectories.grouping import model_relations

        obs = [fit_observation(w, self.model.obs_len) for w in obs]
        return model_relations(self.model, [np.transpose(w, (1, 0, 2)) for w in obs], self.device)


def fit_observation(tracks: np.ndarray, length: int) -> np.ndarray:
    """(N, To, 2) -> (N, length, 2): the last ``length`` steps, or padded backwards at the first velocity."""
    have = tracks.shape[1]
    if have >= length:
        return tracks[:, have - length:]
    v = tracks[:, 1] - tracks[:, 0] if have > 1 else np.zeros_like(tracks[:, 0])
    back = tracks[:, :1] - np.arange(length - have, 0, -1)[None, :, None] * v[:, None]
    return np.concatenate([back, tracks], 1)


def fit_horizon(pred: np.ndarray, length: int) -> np.ndarray:
    """(..., P, 2) -> (..., length, 2): cut, or continued at the last predicted velocity."""
    have = pred.shape[-2]
    if have >= length:
        return pred[..., :length, :]
    v = pred[..., -1, :] - pred[..., -2, :] if have > 1 else np.zeros_like(pred[..., -1, :])
    steps = np.arange(1, length - have + 1)[:, None]
    return np.concatenate([pred, pred[..., -1:, :] + steps * v[..., None, :]], -2)


class SequenceModel(NeuralPredictor):
    name = "seq"
    label = "sequence model (no interactions)"


class GroupModel(NeuralPredictor):
    name = "group"
    label = "group-aware relational model"
