"""Max-probability threshold (BranchyNet's confidence rule): stop when the top class probability >= t."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.routing.policies.base import ExitPolicy


class MaxProb(ExitPolicy):
    name = "max_prob"
    label = "max probability"
    threshold_label = "stop when max p >= t"

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        return probs.max(-1) >= threshold
