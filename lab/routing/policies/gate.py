"""Learned gate (in the spirit of JEI-DNN, Regol et al. 2023): stop when the exit's gate says p(stop) >= t.

The gates are trained together with the exits (:func:`lab.routing.train.gate_loss`): each gate reads
its exit's features and class probabilities and learns, per input, whether stopping there costs no more
(loss plus compute) than the best later exit, instead of a confidence being thresholded after training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.routing.policies.base import ExitPolicy


class LearnedGate(ExitPolicy):
    name = "gate"
    label = "learned gate"
    threshold_label = "stop when gate >= t"
    uses_gates = True

    def default_threshold(self, n_exits: int) -> float:
        return 0.5

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        if gate is None:
            return np.zeros(len(probs), dtype=bool)
        return gate >= threshold
