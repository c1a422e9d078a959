"""The whole lab as one call: traces -> affinity tensor -> NTF -> communities -> scores.

``ConnectomeConfig`` (validated, JSON-able) goes in, ``ConnectomeResult`` comes out. ``make_job`` wraps
a run as job work for the job runner (page) and ``run_foreground`` (CLI); ``rerun`` re-runs a saved
lab card's config.
"""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lab.connectome.affinities import AFFINITIES, affinity_tensor, make_affinity, window_starts
from lab.connectome.communities import (
    METHODS,
    FactorCommunities,
    factor_communities,
    membership_per_window,
    recovery_scores,
    window_epochs,
)
from lab.connectome.data import Recording, combine_recordings, load_recording
from lab.connectome.ntf import NTFResult, RankScan, fit_ntf, rank_scan
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback


@dataclass
class ConnectomeConfig:
    """Everything that decides a run (stored in the run store and in lab cards).

    ``source`` is ``"synthetic"`` (a worm made from ``worm``), ``"files"`` (``inputs``: paths, one or
    more animals each, sharing one neuron set) or ``"upload"`` (a recording passed straight to
    :func:`run_pipeline`; it is not stored, so such a run cannot be re-run from its card).
    """

    source: str = "synthetic"
    worm: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    series: str | None = None
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
        if self.source not in ("synthetic", "files", "upload"):
            raise LabInputError(f"source is '{self.source}'; use 'synthetic', 'files' or 'upload'.")
        if self.source == "files" and not self.inputs:
            raise LabInputError("source 'files' needs at least one input file.")
        if self.affinity not in AFFINITIES:
            raise LabInputError(f"Unknown affinity '{self.affinity}'; choose one of {', '.join(AFFINITIES)}.")
        if self.method not in METHODS:
            raise LabInputError(f"Unknown community method '{self.method}'; choose one of {', '.join(METHODS)}.")
        if not 1 <= int(self.rank) <= 200:
            raise LabInputError(f"rank is {self.rank}; choose a rank between 1 and 200.")
        if not 3 <= int(self.window) <= 100_000:
            raise LabInputError(f"window is {self.window} frames; use at least 3.")
        if not 1 <= int(self.step) <= 100_000:
            raise LabInputError(f"step is {self.step}; use a step of at least 1 frame.")
        if not 0 < self.resolution <= 100:
            raise LabInputError(f"resolution is {self.resolution}; use a positive value (1 = plain modularity).")
        if not 1 <= int(self.n_iter_max) <= 100_000:
            raise LabInputError(f"n_iter_max is {self.n_iter_max}; use 1 to 100000 iterations.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise LabInputError(f"seed is {self.seed!r}; use a non-negative integer.")
        make_affinity(self.affinity, smooth=self.smooth)  # validates smooth
        self.worm = WormConfig(**{**self.worm, "seed": self.worm.get("seed", self.seed)}).to_dict()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectomeConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


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
    communities : list of FactorCommunities, length R
    membership, factor : ndarray of int, shape (W, N)
    truth : ndarray of int, shape (E, N), or None
        Planted communities (synthetic worms only).
    win_epoch : ndarray of int, shape (W,), or None
    scores : dict or None
        ``ari``, ``nmi`` and per-epoch lists, when there is a truth.
    seconds : dict of float
        Wall time of each stage and ``total``.
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

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab connectome run --json`` document."""
        factors = [
            {
                "time": self.fit.time[:, r].tolist(),
                "animal": self.fit.animal[:, r].tolist(),
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
            "window_starts": self.starts.tolist(),
            "iterations": len(self.fit.errors),
            "stopped_early": bool(self.fit.stopped),
        }
        if self.scores is not None:
            doc["ari"] = float(self.scores["ari"])
            doc["nmi"] = float(self.scores["nmi"])
        return doc

    def metrics(self) -> dict[str, Any]:
        """Scalar metrics (plus the NTF error curve) for the run store."""
        out: dict[str, Any] = {
            "reconstruction_error": float(self.fit.error),
            "iterations": len(self.fit.errors),
            "mean_modularity": float(np.mean([c.modularity for c in self.communities])),
            "seconds": float(self.seconds.get("total", 0.0)),
            "curves": {"ntf_error": [float(e) for e in self.fit.errors]},
        }
        if self.scores is not None:
            out["ari"], out["nmi"] = float(self.scores["ari"]), float(self.scores["nmi"])
        return out


def load_inputs(config: ConnectomeConfig) -> Recording:
    """Read the config's input files (validated) into one recording."""
    recs = [load_recording(path, series=config.series) for path in config.inputs]
    return combine_recordings(recs, [str(p) for p in config.inputs])


def prepare(config: ConnectomeConfig, recording: Recording | None = None) -> tuple[Recording, np.ndarray | None]:
    """The recording to analyse and, for a synthetic worm, its planted (E, N) membership."""
    if recording is not None:
        return recording, None
    if config.source == "synthetic":
        worm = make_worm(WormConfig(**config.worm))
        return worm.recording, worm.membership
    if config.source == "upload":
        raise LabInputError("This run analysed an uploaded file, which is not stored; upload it again on the page "
                            "or run `dynlab connectome run --input FILE`.")
    return load_inputs(config), None


def build_tensor(config: ConnectomeConfig, recording: Recording) -> tuple[np.ndarray, np.ndarray]:
    """(P, W, A) float32 affinity tensor and (W,) window starts."""
    starts = window_starts(recording.shape[2], config.window, config.step)
    affinity = make_affinity(config.affinity, smooth=config.smooth)
    tensor = affinity_tensor(recording.traces, affinity, config.window, config.step).astype(np.float32)
    return tensor, starts


def run_pipeline(
    config: ConnectomeConfig,
    recording: Recording | None = None,
    truth: np.ndarray | None = None,
    on_progress: ProgressCallback | None = None,
) -> ConnectomeResult:
    """Run the whole lab. Progress is the NTF's ``(iteration, n_iter_max, {"error": e})``; stop is honoured."""
    t0 = time.perf_counter()
    recording, planted = prepare(config, recording)
    truth = truth if truth is not None else planted
    t1 = time.perf_counter()
    tensor, starts = build_tensor(config, recording)
    t2 = time.perf_counter()
    if config.rank > tensor.shape[0]:
        raise LabInputError(f"rank {config.rank} is more than the {tensor.shape[0]} neuron pairs; choose a smaller rank.")
    fit = fit_ntf(tensor, config.rank, n_iter_max=config.n_iter_max, tol=config.tol,
                  random_state=config.seed, device=config.device, on_progress=on_progress)
    t3 = time.perf_counter()
    n = recording.shape[1]
    comms = factor_communities(fit, n, config.method, seed=config.seed, resolution=config.resolution)
    membership, factor = membership_per_window(fit, comms, config.method, seed=config.seed,
                                               resolution=config.resolution)
    t4 = time.perf_counter()
    win_epoch = window_epochs(recording.epochs, starts, config.window) if recording.epochs is not None else None
    scores = None
    if truth is not None and win_epoch is not None:
        scores = recovery_scores(membership, truth, win_epoch)
    t5 = time.perf_counter()
    seconds = {"data": t1 - t0, "affinities": t2 - t1, "ntf": t3 - t2, "communities": t4 - t3,
               "scores": t5 - t4, "total": t5 - t0}
    return ConnectomeResult(config, recording, starts, tensor, fit, comms, membership, factor, truth,
                            win_epoch, scores, seconds)


def run_rank_scan(
    config: ConnectomeConfig, ranks: list[int], restarts: int, recording: Recording | None = None,
    on_progress: ProgressCallback | None = None,
) -> RankScan:
    """Rank scan (random restarts per rank) on the config's affinity tensor."""
    recording, _ = prepare(config, recording)
    tensor, _ = build_tensor(config, recording)
    bad = [r for r in ranks if not 1 <= r <= tensor.shape[0]]
    if bad:
        raise LabInputError(f"ranks {bad} are outside 1..{tensor.shape[0]} (the number of neuron pairs).")
    return rank_scan(tensor, ranks, restarts, n_iter_max=config.n_iter_max, tol=config.tol, seed=config.seed,
                     device=config.device, on_progress=on_progress)


# -- downloads ---------------------------------------------------------------------------------------
def factors_npz(result: ConnectomeResult) -> bytes:
    """Factors as an NPZ: pairs (P, R), time (W, R), animal (A, R), weights (R,), names, window starts."""
    buf = io.BytesIO()
    np.savez_compressed(
        buf, pairs=result.fit.pairs, time=result.fit.time, animal=result.fit.animal, weights=result.fit.weights,
        names=np.asarray(result.recording.names), window_starts=result.starts,
        labels=np.stack([c.labels for c in result.communities]),
    )
    return buf.getvalue()


def factors_csv(result: ConnectomeResult) -> str:
    """Time and animal loadings in long form: ``factor,mode,index,label,value``."""
    rows = ["factor,mode,index,label,value"]
    for r in range(result.fit.rank):
        for w, s in enumerate(result.starts):
            rows.append(f"{r},time,{w},frame {int(s)},{result.fit.time[w, r]:.6g}")
        for a, name in enumerate(result.recording.animals):
            rows.append(f"{r},animal,{a},{_csv_safe(name)},{result.fit.animal[a, r]:.6g}")
    return "\n".join(rows) + "\n"


def communities_csv(result: ConnectomeResult) -> str:
    """Membership per window: ``window,start_frame,neuron,name,community,factor``."""
    rows = ["window,start_frame,neuron,name,community,factor"]
    names = [_csv_safe(n) for n in result.recording.names]
    for w, s in enumerate(result.starts):
        for i, name in enumerate(names):
            rows.append(f"{w},{int(s)},{i},{name},{int(result.membership[w, i])},{int(result.factor[w, i])}")
    return "\n".join(rows) + "\n"


def _csv_safe(text: str) -> str:
    text = str(text).replace('"', "'")
    return f'"{text}"' if ("," in text or "\n" in text) else text


# -- jobs and lab cards ------------------------------------------------------------------------------
def artifacts(result: ConnectomeResult, with_figures: bool = True) -> dict[str, bytes | str]:
    """Files saved with a run: factors, communities and the key figures."""
    out: dict[str, bytes | str] = {
        "factors.npz": factors_npz(result),
        "factors.csv": factors_csv(result),
        "communities.csv": communities_csv(result),
    }
    if with_figures:
        from lab.connectome import figures

        out["ntf_error.plotly.json"] = figures.ntf_progress_figure(result.fit.errors).to_json()
        out["factors.plotly.json"] = figures.factor_time_figure(result).to_json()
        out["sankey.plotly.json"] = figures.membership_sankey(result).to_json()
    return out


def make_job(config: ConnectomeConfig, recording: Recording | None = None, truth: np.ndarray | None = None):
    """Job work for the job runner / ``run_foreground``: runs the pipeline and packs the run."""
    from lab.core.jobs import JobOutput

    def work(on_progress: ProgressCallback) -> JobOutput:
        result = run_pipeline(config, recording, truth, on_progress=on_progress)
        title = f"NTF rank {config.rank} ({config.source}, {config.affinity}, {config.method})"
        return JobOutput(config.to_dict(), result.metrics(), artifacts(result), result=result, title=title)

    return work


def rerun(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes | str]]:
    """Re-run a lab card's config (files must still exist at their paths) -> (metrics, artifacts)."""
    result = run_pipeline(ConnectomeConfig.from_dict(config))
    return result.metrics(), artifacts(result)
