"""Displacement errors, edge accuracy up to a permutation of edge types, and per-frame group ARI.

Conventions (as in Social-GAN / Trajectron++ evaluations): errors are Euclidean distances in metres,
averaged over every (window, agent) track. ``min_ade``/``min_fde`` take, per track, the best of the K
samples; the two minima are taken independently.
"""

from __future__ import annotations

import itertools

import numpy as np


def displacement(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Euclidean error per step: pred (..., N, P, 2), truth (N, P, 2) -> (..., N, P)."""
    return np.linalg.norm(pred - truth, axis=-1)


def ade(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Average displacement per track: (N, P, 2) x2 -> (N,)."""
    return displacement(pred, truth).mean(-1)


def fde(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Final displacement per track: (N, P, 2) x2 -> (N,)."""
    return displacement(pred, truth)[..., -1]


def min_ade(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Best-of-K average displacement per track: samples (K, N, P, 2), truth (N, P, 2) -> (N,)."""
    return displacement(samples, truth).mean(-1).min(0)


def min_fde(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Best-of-K final displacement per track: (K, N, P, 2), (N, P, 2) -> (N,)."""
    return displacement(samples, truth)[..., -1].min(0)


class ErrorAccumulator:
    """Sums of ADE/FDE/minADE/minFDE and error per horizon step over many windows."""

    def __init__(self, pred_len: int) -> None:
        self.n = 0
        self.sums = {"ade": 0.0, "fde": 0.0, "min_ade": 0.0, "min_fde": 0.0}
        self.horizon = np.zeros(pred_len)
        self.min_horizon = np.zeros(pred_len)

    def add(self, mean: np.ndarray, samples: np.ndarray, truth: np.ndarray) -> None:
        """mean (N, P, 2), samples (K, N, P, 2), truth (N, P, 2)."""
        d = displacement(mean, truth)  # (N, P)
        ds = displacement(samples, truth)  # (K, N, P)
        best = ds.mean(-1).argmin(0)  # (N,) the best sample by ADE
        self.n += d.shape[0]
        self.sums["ade"] += float(d.mean(-1).sum())
        self.sums["fde"] += float(d[:, -1].sum())
        self.sums["min_ade"] += float(ds.mean(-1).min(0).sum())
        self.sums["min_fde"] += float(ds[..., -1].min(0).sum())
        self.horizon += d.sum(0)
        self.min_horizon += ds[best, np.arange(d.shape[0])].sum(0)

    def result(self) -> dict[str, float]:
        n = max(self.n, 1)
        return {k: v / n for k, v in self.sums.items()}

    def by_horizon(self) -> tuple[np.ndarray, np.ndarray]:
        n = max(self.n, 1)
        return self.horizon / n, self.min_horizon / n


def edge_accuracy(pred: np.ndarray, truth: np.ndarray, n_types: int | None = None) -> tuple[float, tuple[int, ...]]:
    """Accuracy of predicted edge types against true ones, up to a permutation of the predicted types.

    Parameters
    ----------
    pred, truth : ndarray of int, same shape
        Edge type per (sample, pair); only off-diagonal pairs should be passed.
    n_types : int, optional
        Number of edge types (default: the largest label + 1 in either array).

    Returns
    -------
    (accuracy, permutation)
        ``permutation[k]`` is the true type that predicted type ``k`` is mapped to.
    """
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    if pred.size == 0:
        return float("nan"), ()
    k = n_types or int(max(pred.max(), truth.max())) + 1
    best, best_perm = -1.0, tuple(range(k))
    for perm in itertools.permutations(range(k)):
        acc = float((np.asarray(perm)[pred] == truth).mean())
        if acc > best:
            best, best_perm = acc, perm
    return best, best_perm


def adjusted_rand(labels_true: np.ndarray, labels_pred: np.ndarray) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(labels_true, labels_pred))


def frame_ari(truth: np.ndarray, pred: np.ndarray, present: np.ndarray, min_agents: int = 2) -> tuple[float, np.ndarray]:
    """Mean over frames of the ARI between true and inferred groups of the agents present in that frame.

    truth, pred: (F, A) group labels; present: (F, A) bool (agents with a known true group). Frames with
    fewer than ``min_agents`` agents are skipped. Returns (mean ARI, per-frame ARI with NaN where skipped).
    """
    per = np.full(truth.shape[0], np.nan)
    for f in range(truth.shape[0]):
        idx = np.nonzero(present[f])[0]
        if len(idx) >= min_agents:
            per[f] = adjusted_rand(truth[f, idx], pred[f, idx])
    valid = per[np.isfinite(per)]
    return (float(valid.mean()) if len(valid) else float("nan")), per
