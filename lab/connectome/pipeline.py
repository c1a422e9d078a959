"""The whole lab as one call: traces -> affinity tensor -> NTF -> communities -> scores.

The lab's two verbs (declared in :mod:`lab.connectome`), each ``verb(config, on_progress, data) -> result``:

- ``run``: :class:`ConnectomeConfig` -> :func:`run_verb` -> :class:`ConnectomeResult`;
- ``scan``: :class:`ScanConfig` -> :func:`run_scan_verb` -> :class:`ScanResult` (random restarts per rank).

``data`` is an optional :class:`~lab.connectome.data.Recording` the config cannot name (an upload, parsed);
without it the recording comes from the config: a synthetic worm (with its planted truth) or input files.
Jobs, saving and re-running go through :mod:`lab.core.verbs`.
"""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.connectome.affinities import AFFINITIES, make_affinity
from lab.connectome.cohort import (
    LAYOUTS,
    CohortTensor,
    align_neurons,
    covariate_correlations,
    parse_neurons,
    resolve_layout,
    window_covariates,
    window_epochs,
)
from lab.connectome.cohort import build_tensor as cohort_tensor
from lab.connectome.communities import (
    METHODS,
    FactorCommunities,
    factor_communities,
    match_membership,
    membership_per_window,
    recovery_scores,
)
from lab.connectome.data import Recording, combine_recordings, load_recording, plural, read_covariates
from lab.connectome.ntf import NTFResult, RankScan, fit_ntf, rank_scan
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback

SOURCES = ("synthetic", "files", "upload")
#: Files of the page's Downloads tab (name: MIME type), built on request by :meth:`ConnectomeResult.download`.
DOWNLOADS = {"factors.npz": "application/octet-stream", "factors.csv": "text/csv", "communities.csv": "text/csv",
             "figures.zip": "application/zip"}


def _check_range(name: str, value: Any, lo: float, hi: float, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise LabInputError(f"{name} is {value!r}; {hint}.")


@dataclass(frozen=True)
class ConnectomeConfig(LabConfig):
    """Everything that decides a run (stored in the run store and in lab cards).

    ``source`` is ``"synthetic"`` (a worm made from ``worm``, every setting spelled out; its seed is ``seed``
    unless ``worm`` names its own, so a new seed is a new worm), ``"files"``
    (``inputs``: paths, one or more animals each, neurons matched by name; ``covariates``: one per-frame
    table per input, in the same order; ``truth``: a ``truth.json`` to score against, found beside the
    first input when it names that file) or ``"upload"`` (a recording passed as the verb's ``data``; it is
    not stored, so such a run cannot be re-run from its card).
    ``neurons`` is ``"common"`` (neurons identified in every animal) or ``"min:K"`` (in at least K animals,
    the rest masked); ``layout`` is ``"aligned"``, ``"independent"`` or ``"auto"`` (see
    :func:`lab.connectome.cohort.resolve_layout`).
    ``device`` is what was asked for (``auto``, ``cpu``, ``cuda``, ``mps``); :attr:`ntf_device` is what
    the NTF runs on (``cuda`` when asked for and present, else ``cpu``: tensorly has no MPS path here).
    """

    source: str = "synthetic"
    worm: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    truth: str | None = None
    series: str | None = None
    neurons: str = "common"
    layout: str = "auto"
    rank: int = 3
    window: int = 40
    step: int = 20
    affinity: str = "derivative-correlation"
    smooth: float = 1.0
    method: str = "leiden"
    resolution: float = 1.0
    n_iter_max: int = 300
    tol: float = 1e-5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()  # seed, device
        self.check_choice("source", SOURCES)
        self.check_choice("affinity", AFFINITIES)
        self.check_choice("method", METHODS, what="community method")
        inputs = (self.inputs,) if isinstance(self.inputs, str) else self.inputs
        self.normalise("inputs", tuple(str(p) for p in inputs))
        covariates = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
        self.normalise("covariates", tuple(str(p) for p in covariates))
        if self.source == "files" and not self.inputs:
            raise LabInputError("source 'files' needs at least one input file.")
        if self.covariates and len(self.covariates) != len(self.inputs):
            raise LabInputError(f"{plural(len(self.covariates), 'covariate file')} for "
                                f"{plural(len(self.inputs), 'input file')}; give one covariate file per input, "
                                "in the same order.")
        parse_neurons(self.neurons)
        self.check_choice("layout", LAYOUTS)
        _check_range("rank", self.rank, 1, 200, "choose a rank between 1 and 200")
        _check_range("window", self.window, 3, 100_000, "use a window of at least 3 frames")
        _check_range("step", self.step, 1, 100_000, "use a step of at least 1 frame")
        _check_range("resolution", self.resolution, 0, 100, "use a positive value (1 = plain modularity)")
        if self.resolution == 0:
            raise LabInputError("resolution is 0; use a positive value (1 = plain modularity).")
        _check_range("n_iter_max", self.n_iter_max, 1, 100_000, "use 1 to 100000 iterations")
        make_affinity(self.affinity, smooth=self.smooth)  # validates smooth
        if not isinstance(self.worm, dict):
            raise LabInputError(f"worm must be a mapping of synthetic-worm settings, got {type(self.worm).__name__}.")
        unknown = sorted(set(self.worm) - set(WormConfig.field_names()))
        if unknown:
            raise LabInputError(f"unknown synthetic-worm setting {unknown[0]!r}; use {', '.join(WormConfig.field_names())}.")
        # every worm setting spelled out (a saved run names its worm in full), in a fresh dict nobody else holds;
        # the seed only when the worm was given its own (else it follows ``seed``, also after ``replace``)
        full = self.worm_config().to_dict()
        self.normalise("worm", {k: v for k, v in full.items() if k != "seed" or "seed" in self.worm})

    def worm_config(self) -> WormConfig:
        """The synthetic worm this config describes (validated)."""
        return WormConfig(**{"seed": self.seed, **self.worm})

    @property
    def ntf_device(self) -> str:
        """The device the NTF runs on: ``cuda`` when it was asked for (or ``auto`` found it), else ``cpu``."""
        if self.device == "cpu":
            return "cpu"
        from lab.core.device import resolve_device

        return "cuda" if resolve_device(self.device).name == "cuda" else "cpu"


@dataclass(frozen=True)
class ScanConfig(ConnectomeConfig):
    """A rank scan: the run's fields plus the ranks to try and the restarts per rank.

    ``rank`` is set to the largest scanned rank (what the scan goes up to), so it never tells two scans of the
    same ranks apart.
    """

    ranks: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    restarts: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        ranks = (self.ranks,) if isinstance(self.ranks, int) else self.ranks
        if not ranks or any(isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 200 for r in ranks):
            raise LabInputError(f"ranks are {list(ranks)}; list ranks between 1 and 200.")
        self.normalise("ranks", tuple(sorted(set(ranks))))
        self.normalise("rank", self.ranks[-1])
        _check_range("restarts", self.restarts, 1, 100, "use 1 to 100 restarts per rank")


@dataclass
class ConnectomeResult:
    """One run, everything the page, CLI and downloads need.

    Attributes
    ----------
    recording : Recording
        Traces (A, N, T).
    starts : ndarray of int, shape (W,)
        First frame of every window.
    tensor : ndarray float32, shape (P, W, A)
        The affinity tensor that was factorized.
    fit : NTFResult
        ``fit.stopped``: the NTF was asked to stop; the rest was computed from its partial factors.
    communities : list of FactorCommunities, length R
    membership, factor : ndarray of int, shape (W, N)
    truth : ndarray of int, shape (E, N), or None
        Planted communities (a synthetic worm, or a file with a ``truth.json``); -1 for unknown neurons.
    win_epoch : ndarray of int, shape (W,), or None
    scores : dict or None
        ``ari``, ``nmi`` and per-epoch lists, when there is a truth.
    seconds : dict of float
        Wall time of each stage and ``total``.
    window_animal : ndarray of int, shape (W,)
        Independent layout: the animal of every window; aligned: -1 (every animal).
    layout : str
        ``aligned`` or ``independent``.
    mask : ndarray of bool, shape (P, W, A), or None
        Observed entries of the tensor (None: all).
    covariates : dict of str to ndarray (W,)
        Covariates averaged per window.
    correlations : dict of str to list of float or None
        Correlation of every factor's time loading with every covariate.
    warnings : list of str
        Settings that make the result hard to read (said in words).
    """

    config: ConnectomeConfig
    recording: Recording
    starts: np.ndarray
    tensor: np.ndarray
    fit: NTFResult
    communities: list[FactorCommunities]
    membership: np.ndarray
    factor: np.ndarray
    truth: np.ndarray | None = None
    win_epoch: np.ndarray | None = None
    scores: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    window_animal: np.ndarray | None = None
    layout: str = "aligned"
    mask: np.ndarray | None = None
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    correlations: dict[str, list[float | None]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.window_animal is None:
            self.window_animal = np.full(len(self.starts), -1, dtype=int)

    @property
    def window(self) -> int:
        return int(self.config.window)

    def window_offsets(self) -> np.ndarray:
        """(A,) first frame of every animal on the page's time axis (independent: animals one after another)."""
        a_count = self.recording.shape[0]
        if self.layout != "independent":
            return np.zeros(a_count, dtype=int)
        used = [int(self.recording.lengths[a]) if np.any(self.window_animal == a) else 0 for a in range(a_count)]
        return np.concatenate([[0], np.cumsum(used)[:-1]]).astype(int)

    def window_frames(self) -> np.ndarray:
        """(W,) every window's first frame on the time axis (independent: offset by the animals before it)."""
        offsets = self.window_offsets()
        return self.starts + np.where(self.window_animal >= 0, offsets[np.maximum(self.window_animal, 0)], 0)

    def boundaries(self) -> list[tuple[float, str]]:
        """Independent layout: (frame where an animal's windows start on the time axis, its name), in order."""
        if self.layout != "independent":
            return []
        offsets = self.window_offsets()
        return [(float(offsets[a]), self.recording.animals[a]) for a in dict.fromkeys(self.window_animal.tolist())]

    def window_label(self, w: int) -> str:
        """``frames 40-80 (10.0-20.0 s), epoch 1, worm 2``: where window ``w`` lies."""
        s, fps = int(self.starts[w]), self.recording.fps
        text = f"frames {s}-{s + self.window} ({s / fps:.1f}-{(s + self.window) / fps:.1f} s)"
        if self.win_epoch is not None:
            e = int(self.win_epoch[w])
            text += f", epoch {e}" if e >= 0 else ", between two epochs"
        if self.window_animal[w] >= 0:
            text += f", {self.recording.animals[int(self.window_animal[w])]}"
        return text

    def animal_loadings(self) -> np.ndarray:
        """(A, R) how much each factor is active in each animal.

        Aligned layout: the NTF's animal factor. Independent layout (the animal mode has one entry): the mean
        of each factor's time loading over that animal's windows, scaled to unit norm per factor like the NTF's.
        """
        if self.layout != "independent":
            return self.fit.animal
        a_count = self.recording.shape[0]
        out = np.zeros((a_count, self.fit.rank))
        for a in range(a_count):
            rows = self.window_animal == a
            if rows.any():
                out[a] = self.fit.time[rows].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=0, keepdims=True), 1e-300)

    @property
    def mean_modularity(self) -> float:
        """Mean over factors of the modularity of each factor's partition."""
        return float(np.mean([c.modularity for c in self.communities]))

    def title(self) -> str:
        c = self.config
        return f"NTF rank {c.rank} ({c.source}, {c.affinity}, {c.method})"

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab connectome run --json`` document."""
        animals = self.animal_loadings()
        factors = [
            {
                "time": self.fit.time[:, r].tolist(),
                "animal": animals[:, r].tolist(),
                "communities": self.communities[r].groups,
                "modularity": float(self.communities[r].modularity),
                "weight": float(self.fit.weights[r]),
            }
            for r in range(self.fit.rank)
        ]
        doc: dict[str, Any] = {
            "factors": factors,
            "membership": self.membership.tolist(),
            "reconstruction_error": float(self.fit.error),
            "seconds": float(self.seconds.get("total", 0.0)),
            "neurons": list(self.recording.names),
            "dropped": {f: list(v) for f, v in self.recording.dropped.items()},
            "layout": self.layout,
            "animals": list(self.recording.animals),
            "window_starts": self.starts.tolist(),
            "window_animal": self.window_animal.tolist(),
            "iterations": len(self.fit.errors),
            "stopped_early": bool(self.fit.stopped),
            "masked_entries": int((~self.mask).sum()) if self.mask is not None else 0,
            "warnings": list(self.warnings),
            "notes": list(self.recording.notes),
        }
        if self.covariates:
            doc["covariates"] = {k: list(v) for k, v in self.correlations.items()}
        if self.scores is not None:
            doc["ari"] = float(self.scores["ari"])
            doc["nmi"] = float(self.scores["nmi"])
        return doc

    def metrics(self) -> dict[str, Any]:
        """Scalar metrics (plus the NTF error curve) for the run store; timings are the ``seconds*`` ones."""
        out: dict[str, Any] = {
            "reconstruction_error": float(self.fit.error),
            "iterations": len(self.fit.errors),
            "mean_modularity": self.mean_modularity,
            "seconds": float(self.seconds.get("total", 0.0)),
            "seconds_ntf": float(self.seconds.get("ntf", 0.0)),
            "curves": {"ntf_error": [float(e) for e in self.fit.errors]},
            "neurons": int(self.recording.shape[1]),
            "windows": int(len(self.starts)),
        }
        if self.scores is not None:
            out["ari"], out["nmi"] = float(self.scores["ari"]), float(self.scores["nmi"])
        if self.fit.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self, with_figures: bool = True) -> dict[str, bytes | str]:
        """Files saved with a run: factors, communities and the key figures."""
        out: dict[str, bytes | str] = {
            "factors.npz": factors_npz(self),
            "factors.csv": factors_csv(self),
            "communities.csv": communities_csv(self),
        }
        if with_figures:
            from lab.connectome import figures

            out["ntf_error.plotly.json"] = figures.ntf_progress_figure(self.fit.errors).to_json()
            out["factors.plotly.json"] = figures.factor_time_figure(self).to_json()
            out["sankey.plotly.json"] = figures.membership_sankey(self).to_json()
        return out

    def download(self, name: str) -> bytes:
        """One of :data:`DOWNLOADS` as bytes (``figures.zip``: every figure as a self-contained HTML file)."""
        if name == "factors.npz":
            return factors_npz(self)
        if name == "factors.csv":
            return factors_csv(self).encode()
        if name == "communities.csv":
            return communities_csv(self).encode()
        if name == "figures.zip":
            return figures_zip(self)
        raise LabInputError(f"unknown download {name!r}; choose one of {', '.join(DOWNLOADS)}.")


@dataclass
class ScanResult:
    """A rank scan (``scan``: errors and similarities per rank and restart) and the config that made it."""

    config: ScanConfig
    scan: RankScan

    def summary(self) -> list[dict[str, float]]:
        return self.scan.summary()

    def title(self) -> str:
        c = self.config
        return f"Rank scan {c.ranks[0]}-{c.ranks[-1]} x {c.restarts} ({c.source}, {c.affinity})"

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab connectome scan --json`` document."""
        rows = self.summary()
        for row in rows:
            row["error"] = row["error_min"]
        return {
            "ranks": [row["rank"] for row in rows],
            "error": [row["error_min"] for row in rows],
            "similarity": [row["similarity"] for row in rows],
            "scan": rows,
            "errors": self.scan.errors.tolist(),
            "similarities": self.scan.similarity.tolist(),
            "restarts": self.config.restarts,
            "seconds": self.scan.seconds,
        }

    def metrics(self) -> dict[str, Any]:
        """Fits done, the time, and per scanned rank (curves) the best error and the restarts' similarity."""
        rows = self.summary()
        out: dict[str, Any] = {
            "fits": int(np.sum(~np.isnan(self.scan.errors))),
            "ranks_scanned": len(rows),
            "seconds": float(self.scan.seconds),
            "curves": {"rank": [float(r["rank"]) for r in rows], "error_min": [r["error_min"] for r in rows],
                       "similarity": [r["similarity"] for r in rows]},
        }
        if self.scan.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self) -> dict[str, bytes | str]:
        from lab.connectome import figures

        lines = ["rank,error_min,error_mean,similarity,restarts"]
        lines += [f"{r['rank']},{r['error_min']:.6g},{r['error_mean']:.6g},{r['similarity']:.6g},{r['restarts']}"
                  for r in self.summary()]
        return {"rank_scan.csv": "\n".join(lines) + "\n",
                "rank_scan.plotly.json": figures.rank_scan_figure(self.scan).to_json()}


def load_inputs(config: ConnectomeConfig) -> Recording:
    """Read the config's input files (validated), with their covariates, into one recording (union of neurons)."""
    recs = []
    for k, path in enumerate(config.inputs):
        rec = load_recording(path, series=config.series)
        if config.covariates:
            attach_covariates(rec, config.covariates[k], traces_label=str(path))
        recs.append(rec)
    return combine_recordings(recs, [str(p) for p in config.inputs])


def attach_covariates(recording: Recording, source: Any, name: str | None = None, traces_label: str = "") -> None:
    """Read a covariate table for ``recording`` (one trace file) and add its columns to it."""
    covs, notes = read_covariates(source, recording, name=name, traces_label=traces_label or "its trace file")
    recording.covariates.update(covs)
    recording.notes.extend(notes)


@dataclass
class Truth:
    """Planted communities: (E, N_t) membership over ``names``, and epoch per frame when the recording lacks it."""

    names: list[str]
    membership: np.ndarray
    epochs: np.ndarray | None = None

    def on(self, names: list[str]) -> np.ndarray:
        """(E, len(names)) membership on these neurons; -1 for a neuron the truth does not name."""
        col = {n: i for i, n in enumerate(self.names)}
        out = np.full((self.membership.shape[0], len(names)), -1, dtype=int)
        for k, n in enumerate(names):
            if n in col:
                out[:, k] = self.membership[:, col[n]]
        return out


def find_truth(config: ConnectomeConfig) -> Truth | None:
    """The config's ``truth`` file, or a ``truth.json`` beside the first input that names that input."""
    import json
    from pathlib import Path

    if config.truth:
        path = Path(config.truth)
        if not path.is_file():
            raise LabInputError(f"{path.name}: no such truth file; give a truth.json with 'names' and 'membership'.")
    elif config.source == "files" and config.inputs:
        path = Path(config.inputs[0]).parent / "truth.json"
        try:
            files = json.loads(path.read_text()).get("files", []) if path.is_file() else []
        except (OSError, ValueError, AttributeError):
            files = []
        if Path(config.inputs[0]).name not in files:
            return None
    else:
        return None
    found = truth_from_json(path)
    if found is None and config.truth:
        raise LabInputError(f"{path.name} is not a truth file; give 'names' and 'membership' (epochs x neurons).")
    return found


def truth_from_json(path: Any) -> Truth | None:
    """A :class:`Truth` from a ``truth.json`` (``names``, ``membership`` (E, N), optional ``epoch_frames``)."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text())
        membership = np.asarray(doc["membership"], dtype=int)
        names = [str(x) for x in doc["names"]]
        bounds = doc.get("epoch_frames") or []
        epochs = None
        if bounds:
            epochs = np.full(int(bounds[-1][1]), -1, dtype=int)
            for e, (lo, hi) in enumerate(bounds):
                epochs[int(lo) : int(hi)] = e
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if membership.ndim != 2 or membership.shape[1] != len(names):
        return None
    return Truth(names, membership, epochs)


def prepare(config: ConnectomeConfig, recording: Recording | None = None) -> tuple[Recording, Truth | None]:
    """The recording to analyse (all its files' neurons, before alignment) and its truth, when known."""
    if recording is not None:
        return recording, None
    if config.source == "synthetic":
        worm = make_worm(config.worm_config())
        return worm.recording, Truth(list(worm.recording.names), worm.membership)
    if config.source == "upload":
        raise LabInputError("This run analysed an uploaded file, which is not stored; upload it again on the page "
                            "or run `dynlab connectome run --input FILE`.")
    return load_inputs(config), find_truth(config)


def cohort(config: ConnectomeConfig, recording: Recording) -> tuple[Recording, CohortTensor]:
    """Align the neurons (``config.neurons``), choose the layout and build the (masked) affinity tensor."""
    aligned = align_neurons(recording, config.neurons)
    layout = resolve_layout(aligned, config.layout)
    affinity = make_affinity(config.affinity, smooth=config.smooth)
    tensor = cohort_tensor(aligned, affinity, config.window, config.step, layout)
    aligned.notes.extend(tensor.notes)
    if layout == "aligned" and tensor.frames < aligned.shape[2]:  # animals cut to a common length
        t = tensor.frames
        aligned = Recording(aligned.traces[:, :, :t], aligned.names, aligned.fps,
                            None if aligned.epochs is None else aligned.epochs[:t], aligned.animals, aligned.notes,
                            present=aligned.present, lengths=np.minimum(aligned.lengths, t),
                            animal_epochs=None if aligned.animal_epochs is None else aligned.animal_epochs[:, :t],
                            files=aligned.files, covariates={k: v[:, :t] for k, v in aligned.covariates.items()},
                            dropped=aligned.dropped, named=aligned.named)
    return aligned, tensor


def check_settings(config: ConnectomeConfig, windows: int, ranks: tuple[int, ...] | None = None) -> list[str]:
    """Refuse what cannot be identified; return warnings, in words, about what makes the result hard to read."""
    ranks = ranks or (config.rank,)
    if max(ranks) > windows:
        raise LabInputError(f"rank {max(ranks)} is more than the {plural(windows, 'window')}: a factor's time "
                            f"course cannot be identified; choose a rank of at most {windows}, or a shorter step "
                            "or window for more windows.")
    out = []
    if config.step > config.window:
        out.append(f"The step ({config.step} frames) is longer than the window ({config.window}): "
                   f"{config.step - config.window} frames between windows are never looked at.")
    if windows < 10:
        out.append(f"Only {plural(windows, 'window')}: time courses need about 10 or more windows to mean "
                   "something; use a shorter step or window.")
    return out


def run_pipeline(
    config: ConnectomeConfig,
    recording: Recording | None = None,
    truth: Truth | np.ndarray | None = None,
    on_progress: ProgressCallback | None = None,
) -> ConnectomeResult:
    """Run the whole lab. Progress is the NTF's ``(iteration, n_iter_max, {"error": e})``; stop is honoured.

    ``truth`` may be a :class:`Truth` or an (E, N) membership over ``recording``'s neurons in order.
    """
    t0 = time.perf_counter()
    recording, found = prepare(config, recording)
    if isinstance(truth, np.ndarray):
        truth = Truth(list(recording.names), truth)
    truth = truth if truth is not None else found
    t1 = time.perf_counter()
    recording, ct = cohort(config, recording)
    tensor, starts = ct.tensor, ct.starts
    warnings = check_settings(config, len(starts))
    t2 = time.perf_counter()
    if config.rank > tensor.shape[0]:
        raise LabInputError(f"rank {config.rank} is more than the {tensor.shape[0]} neuron pairs; choose a smaller rank.")
    fit = fit_ntf(tensor, config.rank, n_iter_max=config.n_iter_max, tol=config.tol,
                  random_state=config.seed, device=config.ntf_device, on_progress=on_progress, mask=ct.mask)
    t3 = time.perf_counter()
    n = recording.shape[1]
    comms = factor_communities(fit, n, config.method, seed=config.seed, resolution=config.resolution)
    membership, factor = membership_per_window(fit, comms, config.method, seed=config.seed,
                                               resolution=config.resolution)
    membership = match_membership(membership)
    t4 = time.perf_counter()
    if truth is not None and recording.animal_epochs is None and truth.epochs is not None:
        recording.animal_epochs = np.full(recording.traces.shape[::2], -1, dtype=int)
        t = min(recording.shape[2], len(truth.epochs))
        recording.animal_epochs[:, :t] = truth.epochs[:t]
        recording.epochs = recording.animal_epochs[0]
    win_epoch = window_epochs(recording, starts, ct.window_animal, config.window)
    scores, planted = None, None
    if truth is not None and win_epoch is not None:
        planted = truth.on(recording.names)
        try:
            scores = recovery_scores(membership, planted, win_epoch)
        except LabInputError as err:
            warnings.append(f"Not scored against the truth: {err}")
    covariates = window_covariates(recording, starts, ct.window_animal, config.window)
    correlations = covariate_correlations(fit.time, covariates)
    t5 = time.perf_counter()
    seconds = {"data": t1 - t0, "affinities": t2 - t1, "ntf": t3 - t2, "communities": t4 - t3,
               "scores": t5 - t4, "total": t5 - t0}
    return ConnectomeResult(config, recording, starts, tensor, fit, comms, membership, factor, planted,
                            win_epoch, scores, seconds, ct.window_animal, ct.layout, ct.mask, covariates,
                            correlations, warnings)


def run_rank_scan(config: ScanConfig, recording: Recording | None = None,
                  on_progress: ProgressCallback | None = None) -> RankScan:
    """Rank scan (``config.restarts`` random restarts per rank in ``config.ranks``) on the config's tensor.

    Progress is ``(fit, total_fits, {"rank": r, "error": e})``; a stop request ends the scan after the
    current fit, with NaN for the fits that did not run.
    """
    recording, _ = prepare(config, recording)
    _, ct = cohort(config, recording)
    tensor = ct.tensor
    bad = [r for r in config.ranks if not 1 <= r <= tensor.shape[0]]
    if bad:
        raise LabInputError(f"ranks {bad} are outside 1..{tensor.shape[0]} (the number of neuron pairs).")
    check_settings(config, len(ct.starts), config.ranks)
    return rank_scan(tensor, config.ranks, config.restarts, n_iter_max=config.n_iter_max, tol=config.tol,
                     seed=config.seed, device=config.ntf_device, on_progress=on_progress, mask=ct.mask)


# -- the verbs ---------------------------------------------------------------------------------------
def _recording(data: Any) -> Recording | None:
    if data is None or isinstance(data, Recording):
        return data
    raise LabInputError(f"the connectome lab analyses a Recording (parsed traces), not a {type(data).__name__}.")


def run_verb(config: ConnectomeConfig, on_progress: ProgressCallback | None = None,
             data: Recording | None = None) -> ConnectomeResult:
    """``dynlab connectome run``: the whole pipeline on ``data`` (an upload) or the config's own recording.

    A stop request (``on_progress`` returns True) ends the NTF early; communities and scores are then
    computed from its partial factors, so a stopped run is a full (partial) result with metrics.
    """
    return run_pipeline(config, recording=_recording(data), on_progress=on_progress)


def run_scan_verb(config: ScanConfig, on_progress: ProgressCallback | None = None,
                  data: Recording | None = None) -> ScanResult:
    """``dynlab connectome scan``: error and factor similarity over random restarts, per rank."""
    return ScanResult(config, run_rank_scan(config, recording=_recording(data), on_progress=on_progress))


# -- downloads ---------------------------------------------------------------------------------------
def factors_npz(result: ConnectomeResult) -> bytes:
    """Factors as an NPZ: pairs (P, R), time (W, R), animal (A, R) (see :meth:`ConnectomeResult.animal_loadings`),
    weights (R,), neuron names (N,), pair neurons (P, 2), window starts and animals (W,), labels (R, N)."""
    from lab.connectome.affinities import pair_index

    i, j = pair_index(result.recording.shape[1])
    buf = io.BytesIO()
    np.savez_compressed(
        buf, pairs=result.fit.pairs, time=result.fit.time, animal=result.animal_loadings(),
        weights=result.fit.weights, names=np.asarray(result.recording.names), pair_neurons=np.stack([i, j], axis=1),
        window_starts=result.starts, window_animal=result.window_animal,
        labels=np.stack([c.labels for c in result.communities]),
    )
    return buf.getvalue()


def factors_csv(result: ConnectomeResult) -> str:
    """Time and animal loadings in long form: ``factor,mode,index,label,value`` (time labels name the window)."""
    rows = ["factor,mode,index,label,value"]
    animals = result.animal_loadings()
    for r in range(result.fit.rank):
        for w, s in enumerate(result.starts):
            where = f" {result.recording.animals[int(result.window_animal[w])]}" if result.window_animal[w] >= 0 else ""
            rows.append(f"{r},time,{w},{_csv_safe(f'frame {int(s)}{where}')},{result.fit.time[w, r]:.6g}")
        for a, name in enumerate(result.recording.animals):
            rows.append(f"{r},animal,{a},{_csv_safe(name)},{animals[a, r]:.6g}")
    return "\n".join(rows) + "\n"


def communities_csv(result: ConnectomeResult) -> str:
    """Membership per window: ``window,start_frame,animal,neuron,name,community,factor`` (community ids are
    matched across windows; ``animal`` is the window's animal, or ``all`` in the aligned layout)."""
    rows = ["window,start_frame,animal,neuron,name,community,factor"]
    names = [_csv_safe(n) for n in result.recording.names]
    for w, s in enumerate(result.starts):
        a = int(result.window_animal[w])
        who = _csv_safe(result.recording.animals[a]) if a >= 0 else "all"
        for i, name in enumerate(names):
            rows.append(f"{w},{int(s)},{who},{i},{name},{int(result.membership[w, i])},{int(result.factor[w, i])}")
    return "\n".join(rows) + "\n"


def _csv_safe(text: str) -> str:
    text = str(text).replace('"', "'")
    return f'"{text}"' if ("," in text or "\n" in text) else text


def result_figures(result: ConnectomeResult, highlight: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every figure of a run by file stem (what figures.zip holds)."""
    from lab.connectome import figures

    figs = {"traces": figures.traces_heatmap(result.recording, highlight=highlight),
            "time_courses": figures.factor_time_figure(result),
            "sankey": figures.membership_sankey(result, highlight=highlight)}
    if result.correlations:
        figs["covariate_correlations"] = figures.correlation_figure(result)
    figs.update({f"motif_{r}": figures.motif_figure(result, r, highlight=highlight) for r in range(result.fit.rank)})
    figs.update({f"graph_{r}": figures.community_graph_figure(result, r, seed=result.config.seed, highlight=highlight)
                 for r in range(result.fit.rank)})
    return figs


def figures_zip(result: ConnectomeResult, highlight: tuple[str, ...] = ()) -> bytes:
    """Every figure of a run as HTML that opens offline in any browser, without Python (figures.zip).

    ``all_figures.html`` is self-contained (plotly.js inside, once, and every figure); each ``<name>.html``
    loads the ``plotly.min.js`` next to it, so the unzipped folder opens figure by figure too. (One
    self-contained file per figure would repeat plotly.js's 3.5 MB in each.)
    """
    from plotly.offline import get_plotlyjs

    figs = result_figures(result, highlight)
    divs = [f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)
            for name, fig in figs.items()]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dynamic connectome: "
            f"{_html_escape(result.title())}</title><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body><h1>{_html_escape(result.title())}</h1>" + "".join(divs) + "</body></html>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all_figures.html", page)
        zf.writestr("plotly.min.js", get_plotlyjs())
        for name, fig in figs.items():
            zf.writestr(f"{name}.html", fig.to_html(include_plotlyjs="directory", full_html=True))
    return buf.getvalue()


def _html_escape(text: str) -> str:
    import html

    return html.escape(str(text))
