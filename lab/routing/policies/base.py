"""What an exit policy is: a rule that stops each input at one exit, given a threshold.

A policy sees the exits one at a time, as a deployed early-exit network does: :meth:`ExitPolicy.stop`
gets exit ``k``'s class probabilities (and its gate's probability) for the inputs still running and
says which of them stop there. :meth:`ExitPolicy.exit_index` replays that rule on every exit's outputs
at once (for curves), so the simulated and the measured (:mod:`lab.routing.throughput`) decisions are
one rule. Inputs that no exit stops leave at the last exit.

Thresholds are ordered so that a higher threshold never exits earlier (the tests check this for every
registered policy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Confidence thresholds of the curves: coarse in the middle, fine near 1 where the trade-off lives.
CONFIDENCE_GRID = tuple(sorted({*np.round(np.linspace(0.0, 0.9, 10), 4).tolist(),
                                0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 1.0}))


@dataclass(frozen=True)
class ExitOutputs:
    """Every exit's outputs on a set of inputs.

    probs : (E, N, C) class probabilities per exit.
    gates : (E-1, N) gate probabilities of stopping (no gate at the last exit).
    labels : (N,) true labels (only the oracle reads them).
    """

    probs: np.ndarray
    gates: np.ndarray
    labels: np.ndarray

    @property
    def n_exits(self) -> int:
        return int(self.probs.shape[0])

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(-1)  # (E, N)


class ExitPolicy:
    """A policy: ``name``, a ``threshold`` meaning, its curve's ``thresholds`` and the ``stop`` rule."""

    name = "base"
    label = "base"
    threshold_label = "threshold"
    uses_gates = False  # its cost includes the gates' MACs
    runnable = True  # can run on a device without labels (the oracle cannot)

    def thresholds(self, n_exits: int) -> tuple[float, ...]:
        return CONFIDENCE_GRID

    def default_threshold(self, n_exits: int) -> float:
        return 0.9

    def stop(self, k: int, probs: np.ndarray, gate: np.ndarray | None, threshold: float,
             state: dict[str, Any]) -> np.ndarray:
        """(n,) bool: which of the ``n`` inputs still running stop at exit ``k`` (not called at the last exit).

        ``probs`` (n, C), ``gate`` (n,) or None; ``state`` holds what the policy keeps per input between
        exits (already restricted to the running inputs by the caller: values are (n, ...) arrays).
        """
        raise NotImplementedError

    def exit_index(self, outputs: ExitOutputs, threshold: float) -> np.ndarray:
        """(N,) the exit each input leaves at, 0-based."""
        e, n = outputs.n_exits, outputs.probs.shape[1]
        out = np.full(n, e - 1, dtype=np.int64)
        running = np.arange(n)
        state: dict[str, Any] = {}
        for k in range(e - 1):
            gate = outputs.gates[k, running] if outputs.gates.shape[0] else None
            stop = np.asarray(self.stop(k, outputs.probs[k, running], gate, threshold, state), dtype=bool)
            out[running[stop]] = k
            running = running[~stop]
            state = {key: value[~stop] for key, value in state.items()}
            if running.size == 0:
                break
        return out


def first_crossing(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """(E, N) confidences -> (N,) first exit with confidence >= threshold (the last exit if none)."""
    hit = confidence[:-1] >= threshold
    first = hit.argmax(axis=0)
    return np.where(hit.any(axis=0), first, confidence.shape[0] - 1)


def normalised_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy over the last axis divided by log C: 0 (one-hot) to 1 (uniform)."""
    c = probs.shape[-1]
    ent = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(-1)
    return ent / np.log(c) if c > 1 else np.zeros_like(ent)
