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
    (``inputs``: paths, one or more animals each, sharing one neuron set) or ``"upload"`` (a recording
    passed as the verb's ``data``; it is not stored, so such a run cannot be re-run from its card).
    ``device`` is what was asked for (``auto``, ``cpu``, ``cuda``, ``mps``); :attr:`ntf_device` is what
    the NTF runs on (``cuda`` when asked for and present, else ``cpu``: tensorly has no MPS path here).
    """

    source: str = "synthetic"
    worm: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
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
        super().__post_init__()  # seed, device
        self.check_choice("source", SOURCES)
        self.check_choice("affinity", AFFINITIES)
        self.check_choice("method", METHODS, what="community method")
        inputs = (self.inputs,) if isinstance(self.inputs, str) else self.inputs
        self.normalise("inputs", tuple(str(p) for p in inputs))
        if self.source == "files" and not self.inputs:
            raise LabInputError("source 'files' needs at least one input file.")
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

    @property
    def mean_modularity(self) -> float:
        """Mean over factors of the modularity of each factor's partition."""
        return float(np.mean([c.modularity for c in self.communities]))

    def title(self) -> str:
        c = self.config
        return f"NTF rank {c.rank} ({c.source}, {c.affinity}, {c.method})"

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
        """Scalar metrics (plus the NTF error curve) for the run store; timings are the ``seconds*`` ones."""
        out: dict[str, Any] = {
            "reconstruction_error": float(self.fit.error),
            "iterations": len(self.fit.errors),
            "mean_modularity": self.mean_modularity,
            "seconds": float(self.seconds.get("total", 0.0)),
            "seconds_ntf": float(self.seconds.get("ntf", 0.0)),
            "curves": {"ntf_error": [float(e) for e in self.fit.errors]},
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
        """One of :data:`DOWNLOADS` as bytes (``figures.zip``: every figure as plotly JSON)."""
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
    """Read the config's input files (validated) into one recording."""
    recs = [load_recording(path, series=config.series) for path in config.inputs]
    return combine_recordings(recs, [str(p) for p in config.inputs])


def prepare(config: ConnectomeConfig, recording: Recording | None = None) -> tuple[Recording, np.ndarray | None]:
    """The recording to analyse and, for a synthetic worm, its planted (E, N) membership."""
    if recording is not None:
        return recording, None
    if config.source == "synthetic":
        worm = make_worm(config.worm_config())
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
                  random_state=config.seed, device=config.ntf_device, on_progress=on_progress)
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


def run_rank_scan(config: ScanConfig, recording: Recording | None = None,
                  on_progress: ProgressCallback | None = None) -> RankScan:
    """Rank scan (``config.restarts`` random restarts per rank in ``config.ranks``) on the config's tensor.

    Progress is ``(fit, total_fits, {"rank": r, "error": e})``; a stop request ends the scan after the
    current fit, with NaN for the fits that did not run.
    """
    recording, _ = prepare(config, recording)
    tensor, _ = build_tensor(config, recording)
    bad = [r for r in config.ranks if not 1 <= r <= tensor.shape[0]]
    if bad:
        raise LabInputError(f"ranks {bad} are outside 1..{tensor.shape[0]} (the number of neuron pairs).")
    return rank_scan(tensor, config.ranks, config.restarts, n_iter_max=config.n_iter_max, tol=config.tol,
                     seed=config.seed, device=config.ntf_device, on_progress=on_progress)


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


def figures_zip(result: ConnectomeResult) -> bytes:
    """Every figure of a run as ``<name>.plotly.json`` in one ZIP (the Downloads tab's figures.zip)."""
    from lab.connectome import figures

    figs = {"traces": figures.traces_heatmap(result.recording), "time_courses": figures.factor_time_figure(result),
            "sankey": figures.membership_sankey(result)}
    figs.update({f"motif_{r}": figures.motif_figure(result, r) for r in range(result.fit.rank)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, fig in figs.items():
            zf.writestr(f"{name}.plotly.json", fig.to_json())
    return buf.getvalue()
