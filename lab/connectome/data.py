"""Calcium recordings: one container and the CSV / NPZ / NWB readers that fill it.

Real recordings are uneven: neuron identification is partial and differs between animals (names such as
``AIA?`` carry an uncertain side), animals are recorded for different numbers of frames, traces have
gaps. A :class:`Recording` therefore holds, per animal, which neurons are present and how many frames it
has; :func:`combine_recordings` takes the union of several files' neuron names and
:mod:`lab.connectome.cohort` decides which neurons to analyse. Every reader validates what it reads and
raises :class:`LabInputError` with one sentence naming the file and what to do.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core.errors import LabInputError
from lab.core.inputs import Source, read_bytes, read_csv, read_npz, source_name

FORMATS = ("csv", "npz", "nwb")
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


def _check_names(names: list[str], label: str) -> list[str]:
    """Neuron names stripped of spaces; a name given twice is an error (``AIA?`` and ``AIAL`` are two names)."""
    names = [str(x).strip() for x in names]
    seen: set[str] = set()
    for name in names:
        if not name:
            raise LabInputError(f"{label} has a neuron without a name; name every neuron column.")
        if name in seen:
            raise LabInputError(f"{label} names neuron {name!r} twice; give every neuron one column.")
        seen.add(name)
    return names


def _epochs_from_array(raw: np.ndarray, t: int, label: str) -> np.ndarray:
    """Per-frame epoch labels from either (T,) labels or (E, 2) [start, stop) frame bounds."""
    raw = np.asarray(raw)
    if raw.ndim == 1 and raw.shape[0] == t:
        if not np.issubdtype(raw.dtype, np.number) and not np.issubdtype(raw.dtype, np.str_) \
                and raw.dtype != object:
            raise LabInputError(f"{label}: 'epochs' must be labels per frame.")
        if raw.dtype == object or np.issubdtype(raw.dtype, np.str_):
            raw = raw.astype(str)
        elif np.isnan(raw.astype(float)).any():
            raise LabInputError(f"{label}: the epoch column has empty cells; give every frame its epoch.")
        _, first = np.unique(raw, return_index=True)
        order = {v: k for k, v in enumerate(raw[np.sort(first)])}  # numbered in order of appearance
        return np.array([order[v] for v in raw], dtype=int)
    if raw.ndim == 2 and raw.shape[1] == 2:
        labels = np.full(t, -1, dtype=int)
        for e, (start, stop) in enumerate(raw.astype(int)):
            if not 0 <= start < stop <= t:
                raise LabInputError(f"{label}: epoch {e} spans frames {start}..{stop}, outside 0..{t}; fix the bounds.")
            labels[start:stop] = e
        return labels
    raise LabInputError(
        f"{label}: 'epochs' has shape {raw.shape}; give one label per frame ({t},) or [start, stop) rows (E, 2)."
    )


def read_traces_npz(source: Source, name: str | None = None) -> Recording:
    """Read an NPZ with ``traces`` (N, T) or (A, N, T) and optional ``names``, ``fps``, ``epochs``.

    NaN marks a missing value: a neuron with no value in an animal is not identified there.
    """
    label = source_name(source, name)
    arrays = read_npz(source, name=name)
    if "traces" not in arrays:
        raise LabInputError(f"{label} has no 'traces' array (it has {', '.join(arrays) or 'nothing'}); save traces=(N, T).")
    traces = arrays["traces"]
    if traces.ndim == 2:
        traces = traces[None]
    if traces.ndim != 3:
        raise LabInputError(f"{label}: 'traces' has shape {traces.shape}; expected (neurons, frames) or (animals, neurons, frames).")
    n = traces.shape[1]
    names = [f"n{i}" for i in range(n)]
    if "names" in arrays:
        raw = arrays["names"]
        if raw.shape != (n,):
            raise LabInputError(f"{label}: 'names' has {raw.size} entries for {n} neurons; give one name per neuron.")
        names = _check_names([str(x) for x in raw], label)
    traces, present, notes = validate_traces(traces, label, names)
    fps = 1.0
    if "fps" in arrays:
        fps = float(np.asarray(arrays["fps"]).reshape(-1)[0])
        if not np.isfinite(fps) or fps <= 0:
            raise LabInputError(f"{label}: 'fps' is {fps}; give a positive frame rate.")
    epochs = _epochs_from_array(arrays["epochs"], traces.shape[2], label) if "epochs" in arrays else None
    animals = [f"{Path(label).stem} {a}" for a in range(traces.shape[0])] if traces.shape[0] > 1 else [Path(label).stem]
    return Recording(traces, names, fps, epochs, animals, notes, present=present, files=[label] * traces.shape[0])


def _special_columns(columns: list[str]) -> dict[str, str]:
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


def _check_csv_duplicates(columns: list[str], label: str) -> None:
    """pandas renames a repeated header ``AVAL`` to ``AVAL.1``: say so instead of analysing a made-up neuron."""
    present = set(columns)
    for c in columns:
        base, dot, suffix = c.rpartition(".")
        if dot and suffix.isdigit() and base in present:
            raise LabInputError(f"{label} names neuron {base!r} twice; give every neuron one column.")


def _groups(frame, special: dict[str, str]) -> tuple[list, list[str]]:
    """Rows per animal (in order of first appearance), each sorted by ``frame`` when there is one."""
    groups, animals = [frame], ["animal 0"]
    if "animal" in special:
        keys = list(dict.fromkeys(frame[special["animal"]].astype(str).tolist()))
        col = frame[special["animal"]].astype(str)
        groups = [frame[col == k] for k in keys]
        animals = keys
    if "frame" in special:
        groups = [g.sort_values(special["frame"], kind="stable") for g in groups]
    return groups, animals


def read_traces_csv(source: Source, name: str | None = None) -> Recording:
    """Read a CSV: one column per neuron (header = name), one row per frame.

    Optional columns: ``time`` (seconds; sets fps), ``frame`` (rows are sorted by it), ``animal`` (rows
    grouped per animal, in order of first appearance; animals may have different numbers of frames) and
    ``epoch`` / ``epochs`` / ``stimulus`` (stimulus epoch per frame). Empty cells are missing values: an
    empty column (in an animal) is a neuron not identified there, short gaps are interpolated.
    """
    import pandas as pd

    label = source_name(source, name)
    frame = read_csv(source, name=name)
    columns = [str(c) for c in frame.columns]
    _check_csv_duplicates(columns, label)
    special = _special_columns(columns)
    neurons = [c for c in columns if c not in special.values()]
    if len(neurons) < 3:
        raise LabInputError(f"{label} has {len(neurons)} neuron columns; give one column per neuron (at least 3).")
    non_numeric = [c for c in neurons if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise LabInputError(f"{label}: column {non_numeric[0]!r} is not numeric; every neuron column must hold numbers.")
    names = _check_names(neurons, label)
    groups, animals = _groups(frame, special)
    lengths = np.array([len(g) for g in groups], dtype=int)
    t = int(lengths.max())
    traces = np.zeros((len(groups), len(neurons), t))
    for a, g in enumerate(groups):
        traces[a, :, : len(g)] = g[neurons].to_numpy(dtype=np.float64).T
    traces, present, notes = validate_traces(traces, label, names, lengths)
    if len(set(lengths.tolist())) > 1:
        notes.append(f"{label}: animals have {lengths.min()}..{lengths.max()} frames.")
    fps = 1.0
    if "time" in special:
        times = pd.to_numeric(groups[0][special["time"]], errors="coerce").to_numpy(dtype=np.float64)
        steps = np.diff(times)
        if len(steps) and (not np.all(np.isfinite(steps)) or np.any(steps <= 0)):
            raise LabInputError(f"{label}: the 'time' column is not strictly increasing; sort rows by time per animal.")
        if len(steps):
            fps = float(1.0 / np.median(steps))
    epochs = animal_epochs = None
    if "epoch" in special:
        animal_epochs = np.full((len(groups), t), -1, dtype=int)
        for a, g in enumerate(groups):
            animal_epochs[a, : len(g)] = _epochs_from_array(g[special["epoch"]].to_numpy(), len(g), label)
        epochs = animal_epochs[0]
    if "animal" not in special:
        animals = [Path(label).stem]
    return Recording(traces, names, fps, epochs, animals, notes, present=present, lengths=lengths,
                     animal_epochs=animal_epochs, files=[label] * len(groups))


def list_nwb_series(source: Source, name: str | None = None) -> list[str]:
    """Names of the fluorescence-like series (2-D ``RoiResponseSeries`` or ``TimeSeries``) in an NWB file."""
    return [s.name for s in _nwb_series(source, name)[1]]


def _nwb_series(source: Source, name: str | None):
    """Open an NWB file from bytes and list its candidate series, RoiResponseSeries first."""
    import h5py
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.ophys import RoiResponseSeries

    label = source_name(source, name)
    data = read_bytes(source, name=name)
    try:
        handle = h5py.File(io.BytesIO(data), "r")
        reader = NWBHDF5IO(file=handle, mode="r", load_namespaces=True)
        nwbfile = reader.read()
    except Exception as err:
        raise LabInputError(f"{label} could not be opened as NWB ({type(err).__name__}); check it is an NWB 2 HDF5 file.") from None
    objects = list(nwbfile.objects.values())
    roi = [o for o in objects if isinstance(o, RoiResponseSeries)]
    other = [o for o in objects if isinstance(o, TimeSeries) and not isinstance(o, RoiResponseSeries)
             and getattr(o, "data", None) is not None and len(getattr(o.data, "shape", ())) == 2]
    return (reader, nwbfile), roi + other


def read_traces_nwb(source: Source, name: str | None = None, series: str | None = None) -> Recording:
    """Read the first ``RoiResponseSeries`` (or the one named ``series``) of an NWB file.

    NWB stores data as (T, N); names come from the ROI table's ``name``/``neuron_name``/``label``
    column when present, else ``roi<i>``. The frame rate comes from ``rate`` or the timestamps.
    """
    label = source_name(source, name)
    (reader, _nwbfile), found = _nwb_series(source, name)
    try:
        if not found:
            raise LabInputError(f"{label} has no RoiResponseSeries or 2-D TimeSeries; store fluorescence traces in it.")
        chosen = found[0]
        if series is not None:
            matches = [s for s in found if s.name == series]
            if not matches:
                raise LabInputError(f"{label} has no series {series!r}; it has {', '.join(s.name for s in found)}.")
            chosen = matches[0]
        data = np.asarray(chosen.data[:])
        if data.ndim != 2:
            raise LabInputError(f"{label}: series {chosen.name!r} has shape {data.shape}; expected (frames, neurons).")
        n = data.shape[1]
        names = [f"roi{i}" for i in range(n)]
        rois = getattr(chosen, "rois", None)
        if rois is not None:
            table = rois.table
            for col in ("name", "neuron_name", "label"):
                if col in table.colnames:
                    ids = list(rois.data[:])
                    names = [str(table[col][int(i)]) for i in ids]
                    break
        fps = 1.0
        if getattr(chosen, "rate", None):
            fps = float(chosen.rate)
        elif getattr(chosen, "timestamps", None) is not None and len(chosen.timestamps) > 1:
            fps = float(1.0 / np.median(np.diff(np.asarray(chosen.timestamps[:]))))
        names = _check_names(names, label)
        traces, present, notes = validate_traces(data.T[None], f"{label} ({chosen.name})", names)
        return Recording(traces, names, fps, animals=[Path(label).stem], notes=notes, present=present, files=[label])
    finally:
        reader.close()


def load_recording(source: Source, name: str | None = None, series: str | None = None) -> Recording:
    """Read a CSV, NPZ or NWB recording, choosing the reader by the file name's suffix."""
    label = source_name(source, name)
    suffix = Path(label).suffix.lower().lstrip(".")
    if suffix == "csv":
        return read_traces_csv(source, name)
    if suffix == "npz":
        return read_traces_npz(source, name)
    if suffix == "nwb":
        return read_traces_nwb(source, name, series)
    raise LabInputError(f"{label}: unknown format '.{suffix}'; give a .csv, .npz or .nwb file.")


def combine_recordings(recordings: list[Recording], labels: list[str] | None = None) -> Recording:
    """Stack several recordings (one or more animals each) on the union of their neuron names.

    Neurons are matched by exact name (``AIA?`` is never merged with ``AIAL``); a neuron a file does not
    name is absent in that file's animals (``present`` False). Animals keep their own number of frames
    (``lengths``); :mod:`lab.connectome.cohort` then chooses the neurons and the layout. ``labels`` name
    the files (the keys of ``dropped``), default ``file 0``, ``file 1``, ...
    """
    if not recordings:
        raise LabInputError("No recordings given; load at least one file.")
    labels = labels or [f"file {i}" for i in range(len(recordings))]
    if len(recordings) == 1:
        rec = recordings[0]
        rec.files = [labels[0]] * rec.shape[0]
        return rec
    names: list[str] = list(dict.fromkeys(n for rec in recordings for n in rec.names))  # first appearance
    column = {n: i for i, n in enumerate(names)}
    a_total = sum(rec.shape[0] for rec in recordings)
    t = max(rec.shape[2] for rec in recordings)
    traces = np.zeros((a_total, len(names), t))
    present = np.zeros((a_total, len(names)), dtype=bool)
    named = np.zeros((a_total, len(names)), dtype=bool)
    lengths = np.zeros(a_total, dtype=int)
    epochs = np.full((a_total, t), -1, dtype=int)
    has_epochs = all(rec.animal_epochs is not None for rec in recordings)
    cov_names = list(dict.fromkeys(c for rec in recordings for c in rec.covariates))
    covariates = {c: np.full((a_total, t), np.nan) for c in cov_names}
    animals, files, notes, fps = [], [], [], []
    a0 = 0
    for rec, lab in zip(recordings, labels, strict=True):
        a, _, tr = rec.shape
        cols = [column[n] for n in rec.names]
        traces[a0 : a0 + a, cols, :tr] = rec.traces
        present[a0 : a0 + a, cols] = rec.present
        named[a0 : a0 + a, cols] = rec.named
        lengths[a0 : a0 + a] = rec.lengths
        if rec.animal_epochs is not None:
            epochs[a0 : a0 + a, :tr] = rec.animal_epochs
        for c, values in rec.covariates.items():
            covariates[c][a0 : a0 + a, :tr] = values
        base = Path(lab).name
        animals += [base] if a == 1 else [f"{base}: {x}" for x in rec.animals]
        files += [lab] * a
        notes += rec.notes
        fps.append(rec.fps)
        a0 += a
    if max(fps) > 1.01 * min(fps):
        notes.append(f"files have different frame rates ({min(fps):.3g}..{max(fps):.3g} fps); windows count frames, "
                     f"times are shown at {fps[0]:.3g} fps.")
    animal_epochs = epochs if has_epochs else None
    return Recording(traces, names, fps[0], animal_epochs[0] if has_epochs else None, animals, notes,
                     present=present, lengths=lengths, animal_epochs=animal_epochs, files=files, covariates=covariates,
                     named=named)


def read_covariates(source: Source, recording: Recording, name: str | None = None,
                    traces_label: str = "its trace file") -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-frame behaviour / stimulus covariates for the animals of one trace file.

    The CSV has a ``time`` or ``frame`` column and any numeric columns (velocity, reversal, head angle,
    stimulus on/off, ...), one row per frame of the trace file; with several animals in the trace file, an
    ``animal`` column with the same animal names (or the animals' rows one after another). With a
    ``frame`` column (numbered from 0 or 1, up to the trace file's last frame), frames that are not listed
    are missing values. Non-numeric columns are left out
    with a note.

    Returns
    -------
    covariates : dict of str to ndarray (A, T)
        NaN where a value is missing (or past an animal's last frame).
    notes : list of str
    """
    import pandas as pd

    label = source_name(source, name)
    frame = read_csv(source, name=name)
    special = _special_columns([str(c) for c in frame.columns])
    if "time" not in special and "frame" not in special:
        raise LabInputError(f"{label} has no 'time' or 'frame' column; give one row per frame with a time or frame "
                            "column and one column per covariate.")
    special.pop("epoch", None)  # a stimulus column is a covariate here
    skip = set(special.values())
    notes: list[str] = []
    values: dict[str, np.ndarray] = {}
    for c in frame.columns:
        if c in skip:
            continue
        col = frame[c]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(float)
        if not pd.api.types.is_numeric_dtype(col):
            notes.append(f"{label}: column {c!r} is not numeric and was left out.")
            continue
        if col.isna().all():
            notes.append(f"{label}: column {c!r} is empty and was left out.")
            continue
        values[str(c)] = col.to_numpy(dtype=np.float64)
    if not values:
        raise LabInputError(f"{label} has no numeric covariate column besides time/frame; add e.g. a velocity column.")
    a_count, _, t = recording.shape
    lengths = recording.lengths
    if "animal" in special and a_count > 1:
        keys = frame[special["animal"]].astype(str).to_numpy()
        wanted = [str(x).split(": ", 1)[-1] for x in recording.animals]
        unknown = sorted(set(keys) - set(wanted))
        if unknown:
            raise LabInputError(f"{label} names animal {unknown[0]!r}, which {traces_label} does not have; "
                                f"use its animal names ({', '.join(wanted[:4])}).")
        rows = [np.flatnonzero(keys == w) for w in wanted]
    else:
        expected = int(lengths.sum())
        if "frame" not in special and len(frame) != expected:
            raise LabInputError(f"{label} has {len(frame)} frames but {traces_label} has {expected}; give one row per "
                                "frame of the trace file.")
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        rows = [np.arange(bounds[a], bounds[a + 1]) for a in range(a_count)] if len(frame) == expected else [
            np.arange(len(frame))]
        if len(rows) != a_count:
            raise LabInputError(f"{label} has {len(frame)} rows for the {a_count} animals of {traces_label}; add an "
                                "'animal' column or give one row per frame of every animal.")
    out = {c: np.full((a_count, t), np.nan) for c in values}
    for a, idx in enumerate(rows):
        length = int(lengths[a])
        if "frame" in special:
            frames = pd.to_numeric(frame[special["frame"]].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
            if not np.all(np.isfinite(frames)) or np.any(frames != np.round(frames)):
                raise LabInputError(f"{label}: the 'frame' column must hold whole frame numbers.")
            order = np.argsort(frames, kind="stable")
            frames, idx = frames[order].astype(int), idx[order]
            if len(np.unique(frames)) != len(frames):
                raise LabInputError(f"{label} lists a frame twice; give one row per frame.")
            if len(frames) == length:
                where = np.arange(length)  # every frame listed: rows in frame order, whatever the first number
            elif len(frames) and frames.min() >= 0 and frames.max() == length - 1:
                where = frames  # numbered from 0, some frames not listed: those stay missing
            elif len(frames) and frames.min() >= 1 and frames.max() == length:
                where = frames - 1  # numbered from 1
            else:
                raise LabInputError(f"{label} has {len(frames)} frames (numbered {frames.min()}..{frames.max()}) but "
                                    f"{traces_label} has {length}; give one row per frame of the trace file.")
        else:
            if len(idx) != length:
                raise LabInputError(f"{label} has {len(idx)} frames but {traces_label} has {length}; give one row per "
                                    "frame of the trace file.")
            times = pd.to_numeric(frame[special["time"]].iloc[idx], errors="coerce").to_numpy(dtype=np.float64)
            order = np.argsort(times, kind="stable")
            idx, where = idx[order], np.arange(length)
        for c, v in values.items():
            out[c][a, where] = v[idx]
    return out, notes


def recording_to_nwb(recording: Recording, path: str | Path, animal: int = 0, description: str = "") -> Path:
    """Write one animal's traces as an NWB file: an ``RoiResponseSeries`` (T, N) over a plane segmentation
    whose ``neuron_name`` column holds the neuron names (the layout :func:`read_traces_nwb` reads back)."""
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    nwb = NWBFile(session_description=description or "dynlab connectome recording",
                  identifier=f"dynlab-{recording.animals[animal]}", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device(name="microscope")
    channel = OpticalChannel(name="green", description="GCaMP", emission_lambda=525.0)
    plane = nwb.create_imaging_plane(name="plane", optical_channel=channel, description="whole brain",
                                     device=device, excitation_lambda=488.0, imaging_rate=recording.fps,
                                     indicator="GCaMP", location="head")
    segmentation = ImageSegmentation()
    nwb.create_processing_module(name="ophys", description="calcium imaging").add(segmentation)
    planes = segmentation.create_plane_segmentation(name="neurons", description="one ROI per neuron", imaging_plane=plane)
    planes.add_column(name="neuron_name", description="neuron name")
    for i, name in enumerate(recording.names):
        planes.add_roi(pixel_mask=[(i, 0, 1.0)], neuron_name=name)
    region = planes.create_roi_table_region(region=list(range(len(recording.names))), description="all neurons")
    with warnings.catch_warnings():  # hdmf warns that the region's table is not linked yet; it is on write
        warnings.simplefilter("ignore", UserWarning)
        series = RoiResponseSeries(name="calcium", data=recording.traces[animal].T, rois=region, unit="a.u.",
                                   rate=float(recording.fps))
        nwb.processing["ophys"].add(Fluorescence(roi_response_series=series))
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io_:
        io_.write(nwb)
    return path
