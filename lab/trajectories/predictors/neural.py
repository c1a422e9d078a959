"""A trained :class:`~lab.trajectories.models.TrajectoryNet` as a predictor (the ``seq`` and ``group`` models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lab.core.errors import LabInputError
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
        if obs and (pred_len != m.pred_len or obs[0].shape[1] != m.obs_len):
            raise LabInputError(f"the {self.name} model predicts {m.pred_len} steps from {m.obs_len}; use "
                                f"--obs {m.obs_len} --pred {m.pred_len} or train a model for this protocol.")
        gen = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**31)))
        out = []
        for lo in range(0, len(obs), self.chunk):
            part = obs[lo:lo + self.chunk]
            res = m(make_batch(part, self.device))
            picked, mean = sample_modes(res, samples, gen)  # (K, n, P, 2), (n, P, 2)
            last = torch.as_tensor(np.concatenate([w[:, -1] for w in part]), dtype=torch.float32,
                                   device=self.device)  # (n, 2)
            picked = (picked + last[None, :, None]).cpu().numpy().astype(float)
            mean = (mean + last[:, None]).cpu().numpy().astype(float)
            k = 0
            for w in part:
                out.append((mean[k:k + len(w)], picked[:, k:k + len(w)]))
                k += len(w)
        return out

    def relations(self, obs):
        if not self.model.relational:
            return None
        from lab.trajectories.grouping import model_relations

        return model_relations(self.model, [np.transpose(w, (1, 0, 2)) for w in obs], self.device)


class SequenceModel(NeuralPredictor):
    name = "seq"
    label = "sequence model (no interactions)"


class GroupModel(NeuralPredictor):
    name = "group"
    label = "group-aware relational model"
