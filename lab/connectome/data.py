"""Calcium recordings: one container and the CSV / NPZ / NWB readers that fill it.

Every reader validates what it reads and raises :class:`LabInputError` with one sentence naming the
file and what to do: NaN frames, constant traces, mismatched neuron sets across animals, wrong shapes.
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


@dataclass
class Recording:
    """Calcium traces of one or more animals sharing one neuron set.

    Attributes
    ----------
    traces : ndarray, shape (A, N, T)
        ``A`` animals, ``N`` neurons, ``T`` frames (float64).
    names : list of str, length N
    fps : float
        Frames per second (1.0 when unknown: times are then in frames).
    epochs : ndarray of int, shape (T,), or None
        The stimulus epoch of every frame, when known.
    animals : list of str, length A
    notes : list of str
        Things the reader did that the person should know (e.g. animals cut to a common length).
    """

    traces: np.ndarray
    names: list[str]
    fps: float = 1.0
    epochs: np.ndarray | None = None
    animals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.traces.ndim != 3:
            raise LabInputError(f"traces must be (animals, neurons, frames), got shape {self.traces.shape}.")
        if not self.animals:
            self.animals = [f"animal {a}" for a in range(self.traces.shape[0])]
        if len(self.names) != self.traces.shape[1]:
            raise LabInputError(f"{len(self.names)} neuron names for {self.traces.shape[1]} neurons; give one name per neuron.")

    @property
    def shape(self) -> tuple[int, int, int]:
        a, n, t = self.traces.shape
        return int(a), int(n), int(t)


def validate_traces(traces: np.ndarray, label: str, names: list[str] | None = None) -> np.ndarray:
    """Check a (A, N, T) trace array: numeric, finite, enough neurons and frames, no constant trace."""
    traces = np.asarray(traces)
    if not np.issubdtype(traces.dtype, np.number) or np.issubdtype(traces.dtype, np.complexfloating):
        raise LabInputError(f"{label}: traces must be real numbers, got {traces.dtype}; save numeric traces.")
    traces = traces.astype(np.float64)
    a, n, t = traces.shape
    if n < 3:
        raise LabInputError(f"{label} has {n} neurons; at least 3 are needed to find communities.")
    if t < 4:
        raise LabInputError(f"{label} has {t} frames; at least 4 are needed for even one window.")
    bad = ~np.isfinite(traces)
    if bad.any():
        frames = np.unique(np.argwhere(bad)[:, 2])
        raise LabInputError(
            f"{label} has {int(bad.sum())} NaN or infinite values in {len(frames)} frames (first at frame {int(frames[0])}); "
            "fill or drop those frames before loading."
        )
    flat = traces.std(axis=2) < 1e-12  # (A, N)
    if flat.any():
        ai, ni = (int(x) for x in np.argwhere(flat)[0])
        who = names[ni] if names else f"#{ni}"
        raise LabInputError(
            f"{label}: neuron {who} is constant in animal {ai} ({int(flat.sum())} constant traces in all); "
            "remove constant traces, they have no affinity to anything."
        )
    return traces


def _epochs_from_array(raw: np.ndarray, t: int, label: str) -> np.ndarray:
    """Per-frame epoch labels from either (T,) labels or (E, 2) [start, stop) frame bounds."""
    raw = np.asarray(raw)
    if raw.ndim == 1 and raw.shape[0] == t:
        if not np.issubdtype(raw.dtype, np.number):
            raise LabInputError(f"{label}: 'epochs' must be numeric labels per frame.")
        _, labels = np.unique(raw, return_inverse=True)
        return labels.astype(int)
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
    """Read an NPZ with ``traces`` (N, T) or (A, N, T) and optional ``names``, ``fps``, ``epochs``."""
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
        names = [str(x) for x in raw]
    traces = validate_traces(traces, label, names)
    fps = 1.0
    if "fps" in arrays:
        fps = float(np.asarray(arrays["fps"]).reshape(-1)[0])
        if not np.isfinite(fps) or fps <= 0:
            raise LabInputError(f"{label}: 'fps' is {fps}; give a positive frame rate.")
    epochs = _epochs_from_array(arrays["epochs"], traces.shape[2], label) if "epochs" in arrays else None
    return Recording(traces, names, fps, epochs)


def read_traces_csv(source: Source, name: str | None = None) -> Recording:
    """Read a CSV: one column per neuron (header = name), one row per frame.

    Optional columns: ``time`` (seconds; sets fps), ``animal`` (rows grouped per animal, in order of
    first appearance), ``epoch`` (stimulus epoch per frame).
    """
    import pandas as pd

    label = source_name(source, name)
    frame = read_csv(source, name=name)
    lower = {c.lower(): c for c in frame.columns}
    special = {k: lower[k] for k in ("time", "animal", "epoch") if k in lower}
    neurons = [c for c in frame.columns if c not in special.values()]
    if len(neurons) < 3:
        raise LabInputError(f"{label} has {len(neurons)} neuron columns; give one column per neuron (at least 3).")
    non_numeric = [c for c in neurons if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise LabInputError(f"{label}: column {non_numeric[0]!r} is not numeric; every neuron column must hold numbers.")
    groups = [frame]
    animals = ["animal 0"]
    if "animal" in special:
        keys = list(dict.fromkeys(frame[special["animal"]].tolist()))
        groups = [frame[frame[special["animal"]] == k] for k in keys]
        animals = [str(k) for k in keys]
    notes: list[str] = []
    lengths = [len(g) for g in groups]
    t = min(lengths)
    if len(set(lengths)) > 1:
        notes.append(f"animals have {min(lengths)}..{max(lengths)} frames; all were cut to the first {t}.")
    traces = np.stack([g[neurons].to_numpy(dtype=np.float64)[:t].T for g in groups])  # (A, N, T)
    traces = validate_traces(traces, label, neurons)
    fps = 1.0
    if "time" in special:
        times = groups[0][special["time"]].to_numpy(dtype=np.float64)[:t]
        steps = np.diff(times)
        if len(steps) and (not np.all(np.isfinite(steps)) or np.any(steps <= 0)):
            raise LabInputError(f"{label}: the 'time' column is not strictly increasing; sort rows by time per animal.")
        if len(steps):
            fps = float(1.0 / np.median(steps))
    epochs = None
    if "epoch" in special:
        epochs = _epochs_from_array(groups[0][special["epoch"]].to_numpy()[:t], t, label)
    return Recording(traces, list(neurons), fps, epochs, animals, notes)


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
        traces = validate_traces(data.T[None], f"{label} ({chosen.name})", names)
        return Recording(traces, names, fps)
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
    """Stack several recordings (one or more animals each) that share the same neuron set.

    Neurons are matched by name (order may differ); a different set of names is an error naming the
    neurons that differ. Frame counts are cut to the shortest, with a note.
    """
    if not recordings:
        raise LabInputError("No recordings given; load at least one file.")
    if len(recordings) == 1:
        return recordings[0]
    labels = labels or [f"file {i}" for i in range(len(recordings))]
    ref = recordings[0]
    stacks, animals, notes = [], [], []
    for rec, lab in zip(recordings, labels, strict=True):
        if set(rec.names) != set(ref.names):
            missing = sorted(set(ref.names) - set(rec.names))[:3]
            extra = sorted(set(rec.names) - set(ref.names))[:3]
            raise LabInputError(
                f"{lab} has a different neuron set from {labels[0]} (missing {missing}, extra {extra}); "
                "give every animal the same neurons."
            )
        order = [rec.names.index(n) for n in ref.names]
        stacks.append(rec.traces[:, order])
        animals += [f"{lab}: {a}" for a in rec.animals]
        notes += rec.notes
    t = min(s.shape[2] for s in stacks)
    if any(s.shape[2] != t for s in stacks):
        notes.append(f"files have different lengths; all were cut to the first {t} frames.")
    traces = np.concatenate([s[:, :, :t] for s in stacks])
    epochs = ref.epochs[:t] if ref.epochs is not None else None
    return Recording(traces, list(ref.names), ref.fps, epochs, animals, notes)


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
