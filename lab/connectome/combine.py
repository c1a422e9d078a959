"""Several files, one recording: trace files stacked on the union of their neuron names, and the per-frame
covariate table (behaviour, stimulus) of each trace file, matched to it by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lab.connectome.data import Recording, special_columns
from lab.core.errors import LabInputError
from lab.core.inputs import Source, read_csv, source_name


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
    special = special_columns([str(c) for c in frame.columns])
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


def attach_covariates(recording: Recording, source: Any, name: str | None = None, traces_label: str = "") -> None:
    """Read a covariate table for ``recording`` (one trace file) and add its columns to it."""
    covs, notes = read_covariates(source, recording, name=name, traces_label=traces_label or "its trace file")
    recording.covariates.update(covs)
    recording.notes.extend(notes)


def match_covariates(trace_names: list[str], covariate_names: list[str]) -> list[int | None]:
    """Which covariate file belongs to each trace file, by file name.

    A trace file ``A.csv`` takes the one covariate file whose name starts with its stem (``A_beh.csv``);
    when no name matches at all and there are as many covariate files as trace files, they pair up in the
    order given.

    Returns
    -------
    list of int or None, length ``len(trace_names)``
        The index into ``covariate_names`` of each trace file's covariate file (None: it has none).

    Raises
    ------
    LabInputError
        A covariate file that belongs to no trace file.
    """
    if not covariate_names:
        return [None] * len(trace_names)
    out: list[int | None] = []
    for trace in trace_names:
        stem = Path(trace).stem
        match = [k for k, c in enumerate(covariate_names) if Path(c).stem.startswith(stem) and c != trace]
        out.append(match[0] if len(match) == 1 else None)
    if all(k is None for k in out) and len(covariate_names) == len(trace_names):
        return list(range(len(trace_names)))  # no name matches: in the order given
    missing = [c for k, c in enumerate(covariate_names) if k not in out]
    if missing:
        raise LabInputError(f"{missing[0]} matches no trace file; name it after its trace file (A.csv -> "
                            "A_beh.csv) or upload one covariate file per trace file.")
    return out
