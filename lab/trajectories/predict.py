"""The ``predict`` verb: every model on every sliding window of a scene, scored with ADE/FDE/minADE/minFDE.

Protocol: ``obs`` observed and ``pred`` predicted frame steps, windows starting at every ``stride``-th step,
an agent counted in a window only when present in all ``obs + pred`` steps (so no window spans a gap).
ADE/FDE score each model's mean prediction (constant velocity: the deterministic one), minADE/minFDE the
best of ``samples`` samples per track.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.trajectories.data import Scene, check_windows, make_windows
from lab.trajectories.metrics import ErrorAccumulator
from lab.trajectories.predictors import PREDICTORS, Predictor, make_predictor
from lab.trajectories.scenes import check_source, load_scenes

CHUNK = 64  # windows per progress report


@dataclass(frozen=True)
class PredictConfig(LabConfig):
    """Score ``models`` on a scene: simulated (``source`` crowd/springs, ``agents``, ``frames``, seeded by
    ``seed``), files (``inputs``) or an upload. ``checkpoint`` replaces the shipped model of its kind."""

    source: str = "crowd"
    inputs: tuple[str, ...] = ()
    agents: int = 20
    frames: int = 200
    models: tuple[str, ...] = ("cv", "seq", "group")
    obs: int = 8
    pred: int = 12
    samples: int = 20
    stride: int = 1
    sigma: float = 25.0
    checkpoint: str = ""
    max_windows: int = 0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_source(self.source, self.inputs)
        self.normalise("inputs", tuple(self.inputs))
        self.normalise("models", tuple(self.models))
        if not self.models:
            raise LabInputError("no models given; choose some of " + ", ".join(PREDICTORS) + ".")
        for name in self.models:
            if name not in PREDICTORS:
                raise LabInputError(f"unknown model {name!r}; choose from {', '.join(PREDICTORS)}.")
        if self.obs < 2 or self.pred < 1 or self.samples < 1 or self.stride < 1:
            raise LabInputError("use --obs 2 or more, and --pred, --samples and stride of 1 or more.")
        if self.agents < 2 or self.frames < 2 or self.max_windows < 0 or self.sigma < 0:
            raise LabInputError("agents and frames must be 2 or more, max_windows and sigma 0 or more.")


def build_predictors(config: PredictConfig) -> dict[str, Predictor]:
    """The configured models; a ``checkpoint`` takes the place of the shipped model of its own kind."""
    ck_kind = ""
    if config.checkpoint:
        from lab.trajectories.zoo import checkpoint_model

        ck_kind = checkpoint_model(config.checkpoint)
    return {name: make_predictor(name, checkpoint=config.checkpoint if name == ck_kind else "",
                                 sigma_deg=config.sigma, device=config.device) for name in config.models}


def model_rng(seed: int, name: str) -> np.random.Generator:
    """Each model's own stream: its samples do not depend on which other models run."""
    return np.random.default_rng([seed, list(PREDICTORS).index(name)])


@dataclass
class PredictResult:
    config: PredictConfig
    scenes: list[Scene]
    errors: dict[str, dict[str, float]]
    horizon: dict[str, list[float]]
    min_horizon: dict[str, list[float]]
    windows: int
    tracks: int
    seconds: float
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        flat = {f"{m}_{k}": v for m, e in self.errors.items() for k, v in e.items()}
        return {"windows": self.windows, "tracks": self.tracks, **flat, "seconds": self.seconds,
                "seconds_per_window": self.seconds / max(self.windows, 1), "stopped_early": self.stopped}

    def to_json(self) -> dict[str, Any]:
        return {"windows": self.windows, "models": self.errors, "seconds": self.seconds}

    def table(self) -> list[dict[str, Any]]:
        return [{"model": m, **{k: round(v, 4) for k, v in e.items()}} for m, e in self.errors.items()]

    def artifacts(self) -> dict[str, str]:
        import json

        return {"metrics.json": json.dumps({"models": self.errors, "horizon": self.horizon,
                                            "min_horizon": self.min_horizon}, indent=2)}

    def title(self) -> str:
        return f"trajectories: predict {', '.join(self.config.models)} ({self.windows} windows)"


def run_predict(config: PredictConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> PredictResult:
    start = time.perf_counter()
    scenes = load_scenes(config.source, config.inputs, data, agents=config.agents, steps=config.frames,
                         seed=config.seed)
    predictors = build_predictors(config)
    work = []  # (scene, windows) with at least one window
    for scene in scenes:
        w = make_windows(scene, config.obs, config.pred, config.stride)
        if config.max_windows and len(w) > config.max_windows:
            keep = np.linspace(0, len(w) - 1, config.max_windows).round().astype(int)
            w.starts, w.agents = w.starts[keep], [w.agents[k] for k in keep]
        if len(w):
            work.append((scene, w))
    if not work:
        check_windows(make_windows(scenes[0], config.obs, config.pred), scenes[0])
    acc = {name: ErrorAccumulator(config.pred) for name in predictors}
    rngs = {name: model_rng(config.seed, name) for name in predictors}
    total = sum(len(w) for _, w in work) * len(predictors)
    done, stopped, n_windows, n_tracks = 0, False, 0, 0
    for scene, w in work:
        for lo in range(0, len(w), CHUNK):
            tracks = [w.tracks(scene, k) for k in range(lo, min(lo + CHUNK, len(w)))]
            obs = [t[:, :config.obs] for t in tracks]
            for name, predictor in predictors.items():
                for t, (mean, samples) in zip(tracks, predictor.predict_windows(obs, config.pred, config.samples,
                                                                                rngs[name]), strict=True):
                    acc[name].add(mean, samples, t[:, config.obs:])
                done += len(tracks)
            n_windows += len(tracks)
            n_tracks += sum(len(t) for t in tracks)
            shown = {f"{m}_min_ade": a.result()["min_ade"] for m, a in acc.items()}
            if report(on_progress, done, total, shown):
                stopped = True
                break
        if stopped:
            break
    errors = {name: a.result() for name, a in acc.items()}
    horizon = {name: a.by_horizon()[0].tolist() for name, a in acc.items()}
    min_horizon = {name: a.by_horizon()[1].tolist() for name, a in acc.items()}
    return PredictResult(config, scenes, errors, horizon, min_horizon, n_windows, n_tracks,
                         time.perf_counter() - start, stopped)


@dataclass
class FramePrediction:
    """Every model's prediction for the agents of the window that ends its observation at one frame."""

    frame: int  # frame index of the last observed step
    agents: np.ndarray  # (N,) agent indices (present for the whole window)
    obs: np.ndarray  # (N, To, 2)
    future: np.ndarray  # (N, P, 2) ground truth (NaN past the scene's end)
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (mean (N, P, 2), samples (K, N, P, 2))
    relations: dict | None  # the group model's {"probs": (N, N, E), "strength": (N, N)}


def predict_frame(scene: Scene, frame: int, predictors: dict[str, Predictor], obs: int, pred: int, samples: int,
                  seed: int) -> FramePrediction:
    """Predictions from frame index ``frame`` for the agents observed over the last ``obs`` steps."""
    lo = frame - obs + 1
    if lo < 0:
        agents = np.zeros(0, dtype=np.int64)
    else:
        agents = np.nonzero(scene.present[lo:frame + 1].all(0))[0]
    track = np.transpose(scene.pos[max(lo, 0):frame + 1, agents], (1, 0, 2))
    future = np.full((len(agents), pred, 2), np.nan)
    ahead = scene.pos[frame + 1:frame + 1 + pred, agents]  # (<=P, N, 2)
    future[:, :len(ahead)] = np.transpose(ahead, (1, 0, 2))
    preds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    relations = None
    if len(agents):
        for name, predictor in predictors.items():
            preds[name] = predictor.predict_windows([track], pred, samples, model_rng(seed, name))[0]
            rel = predictor.relations([track])
            if rel is not None:
                relations = rel[0]
    return FramePrediction(frame, agents, track, future, preds, relations)
