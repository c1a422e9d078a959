"""Patience (PABEE, Zhou et al. 2020): stop when ``t`` consecutive exits predict the same class.

``t = 1`` stops at the first exit; a larger patience never stops earlier.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.routing.policies.base import ExitPolicy


class Patience(ExitPolicy):
    name = "patience"
    label = "patience"
    threshold_label = "stop after t agreeing exits"

    def thresholds(self, n_exits: int) -> tuple[float, ...]:
        return tuple(float(t) for t in range(1, n_exits + 1))

    def default_threshold(self, n_exits: int) -> float:
        return 2.0

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        pred = probs.argmax(-1)
        if k == 0:
            streak = np.ones(len(pred), dtype=np.int64)
        else:
            streak = np.where(pred == state["pred"], state["streak"] + 1, 1)
        state["pred"], state["streak"] = pred, streak
        return streak >= threshold
