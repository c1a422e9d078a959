"""The CSV / NPZ / NWB readers that fill a :class:`~lab.connectome.data.Recording`, and the NWB writer.

Each reader takes a path or bytes (an upload), validates what it reads (:func:`~lab.connectome.data.validate_traces`)
and raises :class:`LabInputError` with one sentence naming the file and what to do. One file may hold one
animal or several; :func:`~lab.connectome.combine.combine_recordings` stacks several files.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from lab.connectome.data import Recording, special_columns, validate_traces
from lab.core.errors import LabInputError
from lab.core.inputs import Source, read_bytes, read_csv, read_npz, source_name

FORMATS = ("csv", "npz", "nwb")


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
    special = special_columns(columns)
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
