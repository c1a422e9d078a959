"""The oracle: the earliest exit whose prediction is correct (the first exit if none is). An upper bound.

No policy that sees only the inputs can be more accurate at less compute: every input that some exit
classifies correctly is classified correctly at the cheapest such exit, and an input that no exit gets
right costs the least it can (the first exit).

It reads the labels, so it cannot run on a device; it has one operating point (threshold 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.routing.policies.base import ExitOutputs, ExitPolicy


class Oracle(ExitPolicy):
    name = "oracle"
    label = "oracle (upper bound)"
    threshold_label = "no threshold"
    runnable = False

    def thresholds(self, n_exits: int) -> tuple[float, ...]:
        return (0.0,)

    def default_threshold(self, n_exits: int) -> float:
        return 0.0

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError("the oracle needs the labels; use exit_index")

    def exit_index(self, outputs: ExitOutputs, threshold: float) -> np.ndarray:
        correct = outputs.preds == outputs.labels[None]  # (E, N)
        return np.where(correct.any(0), correct.argmax(0), 0)
