"""Entropy threshold (BranchyNet's original rule), as a confidence: stop when 1 - H(p) / log C >= t."""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.routing.policies.base import ExitPolicy, normalised_entropy


class Entropy(ExitPolicy):
    name = "entropy"
    label = "entropy"
    threshold_label = "stop when 1 - H/log C >= t"

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        return 1.0 - normalised_entropy(probs) >= threshold
