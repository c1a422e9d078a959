"""Sliding windows, pair flattening and the (pairs, windows, animals) affinity tensor.

Pairs are flattened as in Dyballa et al. 2024: the strict upper triangle of each N x N affinity
matrix, row by row (``numpy.triu_indices(N, k=1)``), so pair ``p`` is neurons ``(i[p], j[p])`` with
``i < j`` and there are ``P = N (N - 1) / 2`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.core.errors import LabInputError


def pair_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The neuron pair of every flattened pair: two (P,) arrays ``i < j``."""
    return np.triu_indices(n, k=1)


def n_from_pairs(p: int) -> int:
    """N such that N (N - 1) / 2 == p (raises if there is none)."""
    n = int(round((1 + np.sqrt(1 + 8 * p)) / 2))
    if n * (n - 1) // 2 != p:
        raise ValueError(f"{p} is not a number of neuron pairs N(N-1)/2")
    return n


def matrix_to_pairs(matrix: np.ndarray) -> np.ndarray:
    """(..., N, N) symmetric matrices -> (..., P) flattened upper triangles."""
    i, j = pair_index(matrix.shape[-1])
    return matrix[..., i, j]


def pairs_to_matrix(pairs: np.ndarray, n: int | None = None) -> np.ndarray:
    """(..., P) flattened upper triangles -> (..., N, N) symmetric matrices with a zero diagonal."""
    n = n or n_from_pairs(pairs.shape[-1])
    i, j = pair_index(n)
    out = np.zeros(pairs.shape[:-1] + (n, n), dtype=pairs.dtype)
    out[..., i, j] = pairs
    out[..., j, i] = pairs
    return out


def window_starts(frames: int, window: int, step: int) -> np.ndarray:
    """First frame of every window ``[s, s + window)`` that fits in ``frames``."""
    if window < 3:
        raise LabInputError(f"window is {window} frames; use at least 3 so a derivative has a correlation.")
    if step < 1:
        raise LabInputError(f"step is {step}; use a step of at least 1 frame.")
    if frames < window:
        raise LabInputError(
            f"the recording has {frames} frames, fewer than one window of {window}; use a shorter --window or a longer recording."
        )
    return np.arange(0, frames - window + 1, step)


def windows_of(traces: np.ndarray, window: int, step: int) -> np.ndarray:
    """(N, T) traces -> (W, N, window) views of every window."""
    starts = window_starts(traces.shape[-1], window, step)
    view = np.lib.stride_tricks.sliding_window_view(traces, window, axis=-1)  # (N, T - window + 1, window)
    return np.ascontiguousarray(view[:, starts].transpose(1, 0, 2))


def smoothed_derivative(windows: np.ndarray, smooth: float) -> np.ndarray:
    """(..., L) windows -> (..., L-1) frame-to-frame changes after Gaussian smoothing (sigma in frames).

    Differencing amplifies frame noise; a light smoothing first keeps the calcium rises that matter.
    """
    if smooth > 0:
        from scipy.ndimage import gaussian_filter1d

        windows = gaussian_filter1d(windows, smooth, axis=-1, mode="nearest")
    return np.diff(windows, axis=-1)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    """Centre and scale the last axis to unit RMS; a constant row becomes all zeros (no affinity)."""
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x**2).mean(axis=-1, keepdims=True))
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-12)


@dataclass
class Affinity:
    """A pairwise, non-negative, non-linear affinity computed per window.

    Subclasses implement :meth:`matrices`. Values lie in [0, 1]; 1 means "act as one".
    """

    name = "base"

    def matrices(self, windows: np.ndarray) -> np.ndarray:
        """(W, N, L) windows of one animal -> (W, N, N) affinities in [0, 1]."""
        raise NotImplementedError


def affinity_tensor(traces: np.ndarray, affinity: Affinity, window: int, step: int) -> np.ndarray:
    """The NTF input: (A, N, T) traces -> (P, W, A) tensor of pair affinities per window per animal."""
    a_count, n, t = traces.shape
    starts = window_starts(t, window, step)
    out = np.empty((n * (n - 1) // 2, len(starts), a_count))
    for a in range(a_count):  # one animal at a time keeps the (W, N, N) intermediate small
        mats = affinity.matrices(windows_of(traces[a], window, step))  # (W, N, N)
        out[:, :, a] = matrix_to_pairs(mats).T  # (P, W)
    return out
