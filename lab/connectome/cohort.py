"""Many animals, their own neurons: which neurons to analyse, how animals meet in the tensor, covariates.

Real recordings identify different neurons in different animals and share no clock unless a stimulus
protocol gives them one. This module turns a :class:`~lab.connectome.data.Recording` (the union of the
files' neurons, ``present`` per animal) into the NTF's input:

- :func:`align_neurons`: ``"common"`` keeps the neurons identified in every animal, ``"min:K"`` those
  identified in at least ``K`` animals (the missing (pair, animal) entries are then left out of the fit:
  a mask). Names match exactly, so ``AIA?`` stays apart from ``AIAL``. What each file loses is listed.
- :func:`resolve_layout`: ``"aligned"`` (a shared stimulus protocol: window ``w`` is the same moment in
  every animal, the animal mode of the tensor) or ``"independent"`` (no shared clock: each animal's windows
  follow one another along the time mode; the animal mode has one entry).
- :func:`build_tensor`: the (P, W, A) affinity tensor, its observed mask, and per window its animal and
  first frame.
- :func:`window_covariates` and :func:`covariate_correlations`: covariates averaged per window, and the
  correlation of every factor's time loading with every covariate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lab.connectome.affinities import Affinity, matrix_to_pairs, pair_index, window_starts, windows_of
from lab.connectome.data import Recording, plural
from lab.core.errors import LabInputError

LAYOUTS = ("auto", "aligned", "independent")
MIN_NEURONS = 3


def parse_neurons(rule: str) -> int | None:
    """``"common"`` -> None (every animal); ``"min:K"`` -> K. Anything else is a one-sentence error."""
    if rule == "common":
        return None
    match = re.fullmatch(r"min:(\d+)", str(rule).strip())
    if not match or int(match.group(1)) < 1:
        raise LabInputError(f"neurons is {rule!r}; use 'common' (identified in every animal) or 'min:K' "
                            "(identified in at least K animals, K >= 1).")
    return int(match.group(1))


def align_neurons(recording: Recording, rule: str = "common") -> Recording:
    """The recording on the neurons the rule keeps, with ``dropped`` (per file) filled in.

    Parameters
    ----------
    recording : Recording
        The union of the files' neurons (``present`` (A, N) says who was identified where).
    rule : str
        ``"common"`` or ``"min:K"`` (see :func:`parse_neurons`).

    Raises
    ------
    LabInputError
        When fewer than 3 neurons are kept (e.g. files whose neurons share nothing).
    """
    k = parse_neurons(rule)
    a_count = recording.shape[0]
    counts = recording.present.sum(axis=0)  # (N,) animals that identified each neuron
    need = a_count if k is None else k
    if k is not None and k > a_count:
        raise LabInputError(f"neurons is 'min:{k}' but there {'is' if a_count == 1 else 'are'} only "
                            f"{plural(a_count, 'animal')}; use a K of at most {a_count}.")
    keep = np.flatnonzero(counts >= need)
    if len(keep) < MIN_NEURONS:
        files = list(dict.fromkeys(recording.files))
        what = "in every animal" if k is None else f"in at least {plural(k, 'animal')}"
        hint = ("use --neurons min:K to keep neurons identified in at least K animals, or check that the files "
                "name neurons the same way" if k is None or k > 1 else "check the files")
        have = "no neuron" if len(keep) == 0 else "only " + plural(len(keep), "neuron")
        raise LabInputError(f"{', '.join(files[:3])}{'...' if len(files) > 3 else ''} "
                            f"{'have' if len(files) > 1 else 'has'} {have} identified {what} "
                            f"(at least {MIN_NEURONS} are needed); {hint}.")
    kept = set(keep.tolist())
    files = list(dict.fromkeys(recording.files))
    if len(files) > 1:
        sets = {f: set(np.flatnonzero(recording.present[[a for a in range(a_count) if recording.files[a] == f]]
                                      .any(axis=0)).tolist()) & kept for f in files}
        for f in files:
            others = set().union(*(sets[g] for g in files if g != f))
            if not sets[f] & others:
                raise LabInputError(f"{f} shares no neurons with the other files; check that the files name neurons "
                                    "the same way (names must match exactly).")
    dropped: dict[str, list[str]] = {}
    for f in dict.fromkeys(recording.files):
        animals = [a for a in range(a_count) if recording.files[a] == f]
        named = recording.named[animals].any(axis=0)
        dropped[f] = [recording.names[i] for i in np.flatnonzero(named) if i not in kept]
    rec = Recording(recording.traces[:, keep], [recording.names[i] for i in keep], recording.fps, recording.epochs,
                    list(recording.animals), list(recording.notes), present=recording.present[:, keep],
                    lengths=recording.lengths.copy(), animal_epochs=recording.animal_epochs,
                    files=list(recording.files), covariates=dict(recording.covariates), dropped=dropped,
                    named=recording.named[:, keep])
    lost = {f: len(v) for f, v in dropped.items() if v}
    if lost:
        rule_text = "identified in every animal" if k is None else f"identified in at least {plural(k, 'animal')}"
        rec.notes.append(f"{plural(len(keep), 'neuron')} {rule_text} analysed; left out: "
                         + "; ".join(f"{Path(f).name}: {n}" for f, n in lost.items()) + ".")
    missing = int((~rec.present).sum())
    if missing:
        rec.notes.append(f"{plural(missing, 'neuron-animal pair')} not identified: left out of the fit (masked).")
    return rec


def resolve_layout(recording: Recording, layout: str = "auto") -> str:
    """``aligned`` or ``independent``; ``auto``: aligned only when the animals share a clock.

    They share one when there is one animal, or every animal has the same number of frames and an
    epochs/stimulus column that says the same thing frame by frame.
    """
    if layout != "auto":
        return layout
    if recording.shape[0] == 1:
        return "aligned"
    lengths = recording.lengths
    ep = recording.animal_epochs
    if len(set(lengths.tolist())) == 1 and ep is not None and np.all(ep[:, : lengths[0]] >= 0) \
            and np.all(ep == ep[0]):
        return "aligned"
    return "independent"


@dataclass
class CohortTensor:
    """The NTF input and what every window is.

    Attributes
    ----------
    tensor : ndarray float32, shape (P, W, A')
        Pair affinities; ``A'`` is the number of animals (aligned) or 1 (independent).
    mask : ndarray of bool, shape (P, W, A'), or None
        True where observed (both neurons identified in that animal); None when everything is.
    starts : ndarray of int, shape (W,)
        First frame of every window, in its animal's own frames.
    window_animal : ndarray of int, shape (W,)
        The animal of every window (independent), or -1 (aligned: every animal).
    layout : str
    frames : int
        Aligned: the common number of frames analysed.
    notes : list of str
    """

    tensor: np.ndarray
    mask: np.ndarray | None
    starts: np.ndarray
    window_animal: np.ndarray
    layout: str
    frames: int
    notes: list[str]


def _animal_pairs(recording: Recording, a: int, affinity: Affinity, window: int, step: int,
                  frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair ids in the full neuron set, (P_a, W) affinities) of animal ``a``'s identified neurons."""
    idx, traces = recording.animal_traces(a)
    traces = traces[:, :frames]
    n = recording.shape[1]
    full = np.full((n, n), -1, dtype=int)
    i, j = pair_index(n)
    full[i, j] = np.arange(len(i))
    si, sj = pair_index(len(idx))
    ids = full[idx[si], idx[sj]]
    if len(idx) < 2:
        return ids, np.zeros((0, len(window_starts(frames, window, step))))
    mats = affinity.matrices(windows_of(traces, window, step))  # (W, n_a, n_a)
    return ids, matrix_to_pairs(mats).T  # (P_a, W)


def build_tensor(recording: Recording, affinity: Affinity, window: int, step: int, layout: str) -> CohortTensor:
    """The affinity tensor of a cohort in the given layout (``aligned`` or ``independent``)."""
    a_count, n, _ = recording.shape
    p = n * (n - 1) // 2
    notes: list[str] = []
    if layout == "aligned":
        frames = int(recording.lengths.min())
        if np.any(recording.lengths != frames):
            notes.append(f"aligned layout: animals have {recording.lengths.min()}..{recording.lengths.max()} frames; "
                         f"all were cut to the first {frames}.")
        starts = window_starts(frames, window, step)
        tensor = np.zeros((p, len(starts), a_count), dtype=np.float32)
        mask = np.zeros(tensor.shape, dtype=bool)
        for a in range(a_count):
            ids, values = _animal_pairs(recording, a, affinity, window, step, frames)
            tensor[ids, :, a] = values
            mask[ids, :, a] = True
        return CohortTensor(tensor, None if mask.all() else mask, starts, np.full(len(starts), -1), layout, frames,
                            notes)
    if layout != "independent":
        raise LabInputError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    blocks, starts, owners, skipped = [], [], [], []
    for a in range(a_count):
        length = int(recording.lengths[a])
        if length < window:
            skipped.append(recording.animals[a])
            continue
        s = window_starts(length, window, step)
        ids, values = _animal_pairs(recording, a, affinity, window, step, length)
        blocks.append((ids, values))
        starts.append(s)
        owners.append(np.full(len(s), a))
    if not blocks:
        raise LabInputError(f"every animal has fewer frames than one window of {window}; use a shorter window.")
    if skipped:
        notes.append(f"{', '.join(skipped)}: fewer frames than one window of {window}, left out.")
    w_total = sum(len(s) for s in starts)
    tensor = np.zeros((p, w_total, 1), dtype=np.float32)
    mask = np.zeros(tensor.shape, dtype=bool)
    w0 = 0
    for (ids, values), s in zip(blocks, starts, strict=True):
        tensor[ids, w0 : w0 + len(s), 0] = values
        mask[ids, w0 : w0 + len(s), 0] = True
        w0 += len(s)
    return CohortTensor(tensor, None if mask.all() else mask, np.concatenate(starts), np.concatenate(owners),
                        layout, int(recording.lengths.max()), notes)


def window_epochs(recording: Recording, starts: np.ndarray, window_animal: np.ndarray, window: int) -> np.ndarray | None:
    """The stimulus epoch of each window (-1: straddles two or unknown), or None without epochs."""
    ep = recording.animal_epochs
    if ep is None:
        return None
    out = np.full(len(starts), -1, dtype=int)
    for k, (s, a) in enumerate(zip(starts, window_animal, strict=True)):
        seg = ep[max(int(a), 0), s : s + window]
        if len(seg) and np.all(seg == seg[0]) and seg[0] >= 0:
            out[k] = int(seg[0])
    return out


def window_covariates(recording: Recording, starts: np.ndarray, window_animal: np.ndarray,
                      window: int) -> dict[str, np.ndarray]:
    """Every covariate averaged over each window's frames: name -> (W,) (NaN where nothing is known).

    Aligned windows (animal -1) average over the animals too: the time loading is shared by all of them.
    """
    out: dict[str, np.ndarray] = {}
    for name, values in recording.covariates.items():  # values (A, T)
        col = np.full(len(starts), np.nan)
        for k, (s, a) in enumerate(zip(starts, window_animal, strict=True)):
            seg = values[:, s : s + window] if a < 0 else values[int(a), s : s + window]
            if np.isfinite(seg).any():
                col[k] = float(np.nanmean(seg))
        out[name] = col
    return out


def covariate_correlations(time: np.ndarray, covariates: dict[str, np.ndarray]) -> dict[str, list[float | None]]:
    """Pearson correlation of every factor's time loading (W, R) with every per-window covariate (W,).

    Windows where a covariate is unknown are left out; None where it cannot be computed (fewer than 3
    windows with values, or a constant covariate or loading).
    """
    out: dict[str, list[float | None]] = {}
    for name, col in covariates.items():
        ok = np.isfinite(col)
        row: list[float | None] = []
        for r in range(time.shape[1]):
            x, y = time[ok, r], col[ok]
            if ok.sum() < 3 or x.std() < 1e-12 or y.std() < 1e-12:
                row.append(None)
            else:
                row.append(float(np.corrcoef(x, y)[0, 1]))
        out[name] = row
    return out
