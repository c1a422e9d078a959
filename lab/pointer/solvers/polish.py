"""Local-search polish of a given tour: 2-opt, then Or-opt, repeated until neither improves.

For a user with a real instance who wants a good tour: the model proposes, local search finishes.
The lab reports the model's own tour and the polished one side by side, so the network's share of
the result stays visible.

Or-opt (Or 1976) moves a segment of 1 to 3 consecutive cities to another place in the tour, in
either orientation; with 2-opt (:func:`~lab.pointer.solvers.two_opt.improve_2opt`) it is the classic
pair of cheap improvement moves.
"""

from __future__ import annotations

import time

import numpy as np

from lab.pointer.solvers.two_opt import improve_2opt


def _or_opt_pass(d: np.ndarray, t: np.ndarray, eps: float) -> bool:
    """One sweep of improving segment moves over ``t`` (changed in place); True when it improved."""
    n = t.size
    improved = False
    for seg_len in (1, 2, 3):
        if n < seg_len + 3:
            continue
        i = 0
        while i < n:
            # Segment t[i .. i+seg_len-1] (cyclic), between prev = t[i-1] and nxt = t[i+seg_len].
            seg_idx = [(i + k) % n for k in range(seg_len)]
            first, last = t[seg_idx[0]], t[seg_idx[-1]]
            prev, nxt = t[(i - 1) % n], t[(i + seg_len) % n]
            removal = d[prev, first] + d[last, nxt] - d[prev, nxt]  # what taking the segment out saves
            # The remaining path, as consecutive pairs (a, b) between which the segment may go.
            rest = np.roll(t, -(i + seg_len))[: n - seg_len]  # (n - seg_len,), starts at nxt, ends at prev
            a, b = rest[:-1], rest[1:]
            forward = d[a, first] + d[last, b] - d[a, b]  # (n - seg_len - 1,)
            backward = d[a, last] + d[first, b] - d[a, b]
            best_f, best_b = int(np.argmin(forward)), int(np.argmin(backward))
            gain_f, gain_b = removal - forward[best_f], removal - backward[best_b]
            if max(gain_f, gain_b) > eps:
                seg = t[seg_idx]
                pos, seg = (best_f, seg) if gain_f >= gain_b else (best_b, seg[::-1])
                new = np.concatenate([rest[: pos + 1], seg, rest[pos + 1:]])
                t[:] = new
                improved = True
                # The new tour starts at nxt, the city after the moved segment: going on from index 0
                # is going on from where we were, and the sweep ends after n moves without a gain.
                i = 0
                continue
            i += 1
    return improved


def improve_or_opt(dist: np.ndarray, tour: np.ndarray, time_limit: float | None = None) -> np.ndarray:
    """Apply improving Or-opt moves (segments of 1-3 cities) until none improves or time runs out."""
    d = np.asarray(dist, dtype=np.float64)
    t = np.asarray(tour, dtype=np.int64).copy()
    if t.size < 4:
        return t
    eps = 1e-9 * max(1.0, float(d.max()))
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    while _or_opt_pass(d, t, eps):
        if deadline is not None and time.perf_counter() > deadline:
            break
    return np.roll(t, -int(np.flatnonzero(t == 0)[0]))


def polish(dist: np.ndarray, tour: np.ndarray, time_limit: float | None = None) -> np.ndarray:
    """2-opt then Or-opt, alternating until a full round improves nothing; tour (n,) starting at 0.

    Never longer than ``tour``: both moves only ever apply strict improvements.
    """
    d = np.asarray(dist, dtype=np.float64)
    t = np.asarray(tour, dtype=np.int64)
    deadline = None if time_limit is None else time.perf_counter() + time_limit

    def length(x: np.ndarray) -> float:
        return float(d[x, np.roll(x, -1)].sum())

    best = length(t)
    while True:
        left = None if deadline is None else max(0.0, deadline - time.perf_counter())
        t = improve_or_opt(d, improve_2opt(d, t, time_limit=left), time_limit=left)
        now = length(t)
        if now >= best - 1e-9 * max(1.0, best) or (deadline is not None and time.perf_counter() > deadline):
            return np.roll(t, -int(np.flatnonzero(t == 0)[0]))
        best = now
