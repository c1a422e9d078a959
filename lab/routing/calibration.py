"""Calibration: expected calibration error and the reliability diagram's bins (Guo et al. 2017).

ECE = sum over equal-width confidence bins b of (n_b / N) * |accuracy_b - mean confidence_b|.
"""

from __future__ import annotations

import numpy as np

N_BINS = 15


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, float]]:
    """One row per non-empty bin: ``lo``, ``hi``, ``confidence`` (mean), ``accuracy``, ``count``.

    Bins are ``[0, 1/n), [1/n, 2/n), ..., [(n-1)/n, 1]`` (a confidence of exactly 1 is in the last bin).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    which = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            rows.append({"lo": b / n_bins, "hi": (b + 1) / n_bins, "confidence": float(confidence[mask].mean()),
                         "accuracy": float(correct[mask].mean()), "count": int(mask.sum())})
    return rows


def ece(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error of predictions with ``confidence`` (N,) that were ``correct`` (N,) or not."""
    n = len(confidence)
    if n == 0:
        return 0.0
    return float(sum(r["count"] / n * abs(r["accuracy"] - r["confidence"]) for r in reliability(confidence, correct, n_bins)))
