"""Calcium recordings: the one container every reader fills, and the checks every trace goes through.

Real recordings are uneven: neuron identification is partial and differs between animals (names such as
``AIA?`` carry an uncertain side), animals are recorded for different numbers of frames, traces have
gaps. A :class:`Recording` therefore holds, per animal, which neurons are present and how many frames it
has. :mod:`lab.connectome.readers` fills it from CSV / NPZ / NWB files, :mod:`lab.connectome.combine`
stacks several files on the union of their neuron names (with their covariate tables) and
:mod:`lab.connectome.cohort` decides which neurons to analyse. Every check raises :class:`LabInputError`
with one sentence naming the file and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lab.core.errors import LabInputError

#: CSV columns that are not neurons: ``time`` (s), ``animal`` and the stimulus epoch of every frame.
TIME_COLUMNS, ANIMAL_COLUMNS, EPOCH_COLUMNS = ("time",), ("animal",), ("epoch", "epochs", "stimulus")
#: A trace with more than this fraction of missing frames counts as not identified in that animal.
MAX_GAP_FRACTION = 0.5


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 animal``, ``2 animals`` (``many`` for irregular plurals)."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


@dataclass
class Recording:
    """Calcium traces of one or more animals, neurons matched by name.

    Attributes
    ----------
    traces : ndarray, shape (A, N, T)
        ``A`` animals, ``N`` neurons, ``T`` frames (float64). Zero where a neuron is absent in an animal
        or past that animal's last frame.
    names : list of str, length N
        Neuron names, as given (``AIA?`` and ``AIAL`` are two neurons).
    fps : float
        Frames per second (1.0 when unknown: times are then in frames).
    epochs : ndarray of int, shape (T,), or None
        The stimulus epoch of every frame of the first animal (the shared protocol when animals share one).
    animals : list of str, length A
    notes : list of str
        Things the reader did that the person should know (gaps filled, empty columns, lengths).
    present : ndarray of bool, shape (A, N)
        Whether each neuron was identified (has a trace) in each animal; all True by default.
    lengths : ndarray of int, shape (A,)
        Frames of every animal; all ``T`` by default.
    animal_epochs : ndarray of int, shape (A, T), or None
        Each animal's stimulus epoch per frame (-1: unknown or past its last frame).
    files : list of str, length A
        The file each animal came from (the keys of ``dropped``).
    covariates : dict of str to ndarray (A, T)
        Per-frame behaviour or stimulus covariates (NaN where unknown).
    dropped : dict of str to list of str
        Per file, the neuron names it had that are not analysed (set by :mod:`lab.connectome.cohort`).
    named : ndarray of bool, shape (A, N)
        Whether each animal's file named the neuron at all (an empty column is named, not present).
    """

    traces: np.ndarray
    names: list[str]
    fps: float = 1.0
    epochs: np.ndarray | None = None
    animals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    present: np.ndarray | None = None
    lengths: np.ndarray | None = None
    animal_epochs: np.ndarray | None = None
    files: list[str] = field(default_factory=list)
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)
    named: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.traces.ndim != 3:
            raise LabInputError(f"traces must be (animals, neurons, frames), got shape {self.traces.shape}.")
        a, n, t = self.traces.shape
        if not self.animals:
            self.animals = [f"animal {k}" for k in range(a)]
        if len(self.names) != n:
            raise LabInputError(f"{len(self.names)} neuron names for {n} neurons; give one name per neuron.")
        self.names = [str(x) for x in self.names]
        if self.present is None:
            self.present = np.ones((a, n), dtype=bool)
        if self.lengths is None:
            self.lengths = np.full(a, t, dtype=int)
        self.present = np.asarray(self.present, dtype=bool).reshape(a, n)
        self.lengths = np.asarray(self.lengths, dtype=int).reshape(a)
        self.named = np.ones((a, n), dtype=bool) if self.named is None else np.asarray(self.named, bool).reshape(a, n)
        if self.animal_epochs is None and self.epochs is not None:
            self.animal_epochs = np.tile(np.asarray(self.epochs, dtype=int), (a, 1))
            for k, length in enumerate(self.lengths):
                self.animal_epochs[k, length:] = -1
        if not self.files:
            self.files = ["recording"] * a

    @property
    def shape(self) -> tuple[int, int, int]:
        a, n, t = self.traces.shape
        return int(a), int(n), int(t)

    @property
    def complete(self) -> bool:
        """Every neuron present in every animal, every animal as long as the longest."""
        return bool(self.present.all() and np.all(self.lengths == self.traces.shape[2]))

    def animal_traces(self, a: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the neurons present in animal ``a``, their (n_a, T_a) traces)."""
        idx = np.flatnonzero(self.present[a])
        return idx, self.traces[a, idx, : int(self.lengths[a])]


def validate_traces(traces: np.ndarray, label: str, names: list[str] | None = None,
                    lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Check and clean (A, N, T) traces: numeric, enough neurons and frames, no infinity, no constant trace.

    Missing values (NaN) are how real files say "not identified here" or "tracking lost": a trace with no
    value in an animal (an empty column) or more than :data:`MAX_GAP_FRACTION` of its frames missing is
    *absent* in that animal; shorter gaps are filled by linear interpolation (with a note).

    Returns
    -------
    traces : ndarray float64, shape (A, N, T)
        Gaps filled; zero where absent or past an animal's ``lengths``.
    present : ndarray of bool, shape (A, N)
    notes : list of str
    """
    traces = np.asarray(traces)
    if not np.issubdtype(traces.dtype, np.number) or np.issubdtype(traces.dtype, np.complexfloating):
        raise LabInputError(f"{label}: traces must be real numbers, got {traces.dtype}; save numeric traces.")
    traces = traces.astype(np.float64)  # a copy: the caller's array is never changed
    a_count, n, t = traces.shape
    if n < 3:
        raise LabInputError(f"{label} has {n} neurons; at least 3 are needed to find communities.")
    lengths = np.full(a_count, t, dtype=int) if lengths is None else np.asarray(lengths, dtype=int)
    if int(lengths.max(initial=0)) < 4:
        raise LabInputError(f"{label} has {int(lengths.max(initial=0))} frames; at least 4 are needed for even one window.")
    if np.isinf(traces).any():
        frames = np.unique(np.argwhere(np.isinf(traces))[:, 2])
        raise LabInputError(f"{label} has infinite values in {len(frames)} frames (first at frame {int(frames[0])}); "
                            "replace them with numbers or leave the cells empty.")
    present = np.zeros((a_count, n), dtype=bool)
    filled, gappy, notes = 0, [], []
    for a in range(a_count):
        length = int(lengths[a])
        traces[a, :, length:] = 0.0
        for i in range(n):
            row = traces[a, i, :length]
            bad = np.isnan(row)
            missing = int(bad.sum())
            if missing == length or missing > MAX_GAP_FRACTION * length:
                if 0 < missing < length:
                    gappy.append(names[i] if names else f"#{i}")
                traces[a, i] = 0.0
                continue
            present[a, i] = True
            if missing:
                good = np.flatnonzero(~bad)
                row[bad] = np.interp(np.flatnonzero(bad), good, row[good])
                filled += missing
    if filled:
        notes.append(f"{label}: filled {plural(filled, 'missing value')} inside traces by linear interpolation.")
    if gappy:
        notes.append(f"{label}: {', '.join(gappy[:5])}{'...' if len(gappy) > 5 else ''} had more than "
                     f"{int(MAX_GAP_FRACTION * 100)} % of frames missing in an animal and count as not identified there.")
    if not present.any():
        raise LabInputError(f"{label} has no trace with values; fill the neuron columns with numbers.")
    empty = [names[i] if names else f"#{i}" for i in np.flatnonzero(~present.any(axis=0))]
    if empty:
        notes.append(f"{label}: {plural(len(empty), 'column')} without values ({', '.join(empty[:5])}"
                     f"{'...' if len(empty) > 5 else ''}): not identified, left out.")
    std = np.array([[traces[a, i, : lengths[a]].std() if present[a, i] else 1.0 for i in range(n)]
                    for a in range(a_count)])
    flat = std < 1e-12  # (A, N)
    if flat.any():
        ai, ni = (int(x) for x in np.argwhere(flat)[0])
        who = names[ni] if names else f"#{ni}"
        raise LabInputError(
            f"{label}: neuron {who} is constant in animal {ai} ({int(flat.sum())} constant traces in all); "
            "remove constant traces, they have no affinity to anything."
        )
    return traces, present, notes


def special_columns(columns: list[str]) -> dict[str, str]:
    """The CSV's non-neuron columns by role: ``time``, ``frame``, ``animal``, ``epoch``."""
    lower = {c.lower(): c for c in columns}
    out = {}
    for role, options in (("time", TIME_COLUMNS), ("frame", ("frame",)), ("animal", ANIMAL_COLUMNS),
                          ("epoch", EPOCH_COLUMNS)):
        for option in options:
            if option in lower:
                out[role] = lower[option]
                break
    return out

