"""What every predictor is: observed tracks of one window in, a mean prediction and K samples out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Predictor:
    """Base of the predictors. Subclasses override :meth:`predict_windows`.

    ``predict_windows(obs, pred_len, samples, rng)`` takes a list of observed windows, each (N, To, 2)
    absolute positions in metres, and returns one ``(mean (N, P, 2), samples (K, N, P, 2))`` per window.
    """

    name = "base"
    label = "base"

    def predict_windows(self, obs: list[np.ndarray], pred_len: int, samples: int,
                        rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def relations(self, obs: list[np.ndarray]) -> list[dict] | None:
        """Inferred pairwise relations per window (only the group model has them)."""
        return None
