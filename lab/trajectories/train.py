"""Training the sequence and group models on windows of simulated or user scenes.

Windows of ``obs + pred`` steps are cut from every scene (an agent only where present throughout), each
batch is rotated by a random angle and mirrored at random (the scenes' own orientation should not
matter), and the model is trained with the winner-takes-all loss of :func:`~lab.trajectories.models.trajectory_loss`.
Training stops after ``steps`` or ``minutes`` (whichever first) or when asked to, and returns the model as
it is: a stopped run is a result, saved like any other.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.core.seeding import seed_everything
from lab.trajectories.data import Scene, make_windows
from lab.trajectories.models import (
    TrajectoryNet,
    architecture,
    make_batch,
    sample_modes,
    together_targets,
    trajectory_loss,
)
from lab.trajectories.scenes import check_source, load_scenes

MODELS = ("group", "seq")


@dataclass(frozen=True)
class TrainConfig(LabConfig):
    """Train a ``group`` or ``seq`` model.

    ``source``/``inputs``: the training scenes (``scenes`` simulated ones of ``agents`` and ``frames``, seeds
    from ``seed``); validation: ``val_fraction`` of the windows (files) or one more simulated scene.
    ``steps`` and ``minutes`` (0: no time limit) bound the training.
    """

    model: str = "group"
    source: str = "crowd"
    inputs: tuple[str, ...] = ()
    scenes: int = 8
    agents: int = 20
    frames: int = 300
    obs: int = 8
    pred: int = 12
    stride: int = 2
    hidden: int = 64
    modes: int = 20
    steps: int = 2000
    minutes: float = 0.0
    batch: int = 16
    lr: float = 2e-3
    kl_weight: float = 0.01
    together_weight: float = 0.5
    val_fraction: float = 0.15
    eval_every: int = 100
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("model", MODELS)
        check_source(self.source, self.inputs)
        self.normalise("inputs", tuple(self.inputs))
        for name in ("scenes", "agents", "frames", "obs", "pred", "stride", "hidden", "modes", "steps", "batch",
                     "eval_every"):
            if getattr(self, name) < 1:
                raise LabInputError(f"{name} is {getattr(self, name)}; use 1 or more.")
        if self.obs < 2:
            raise LabInputError(f"obs is {self.obs}; at least 2 observed steps are needed for a velocity.")
        if self.minutes < 0 or self.lr <= 0:
            raise LabInputError("minutes must be 0 (no limit) or more, and lr above 0.")
        if not 0 < self.val_fraction < 1:
            raise LabInputError(f"val_fraction is {self.val_fraction}; use a fraction between 0 and 1.")


def window_tracks(scenes: list[Scene], obs: int, pred: int, stride: int = 1) -> list[np.ndarray]:
    """Every window of every scene as (N, obs + pred, 2) tracks."""
    out = []
    for scene in scenes:
        w = make_windows(scene, obs, pred, stride)
        out += [w.tracks(scene, k) for k in range(len(w))]
    return out


def augment(tracks: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Rotate each window about its centre by a random angle and mirror half of them."""
    out = []
    for t in tracks:
        angle = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(angle), np.sin(angle)
        rot = np.array([[c, -s], [s, c]])
        if rng.random() < 0.5:
            rot = rot @ np.diag([1.0, -1.0])
        centre = t[:, 0].mean(0)
        out.append((t - centre) @ rot.T)
    return out


def split(tracks: list[np.ndarray], obs: int) -> tuple[list[np.ndarray], torch.Tensor]:
    """Observed parts and futures relative to each agent's last observed position (n, P, 2)."""
    future = np.concatenate([t[:, obs:] - t[:, obs - 1: obs] for t in tracks])
    return [t[:, :obs] for t in tracks], torch.as_tensor(future, dtype=torch.float32)


@torch.no_grad()
def evaluate(model: TrajectoryNet, tracks: list[np.ndarray], samples: int = 20, chunk: int = 64,
             device: str = "cpu") -> dict[str, float]:
    """ADE/FDE (mean prediction) and minADE/minFDE over ``samples`` on windows ``tracks``."""
    model.eval()
    sums, n = np.zeros(4), 0
    for lo in range(0, len(tracks), chunk):
        part = tracks[lo:lo + chunk]
        obs, future = split(part, model.obs_len)
        out = model(make_batch(obs, device))
        picked, mean = sample_modes(out, samples)
        future = future.to(device)
        d = (mean - future).norm(dim=-1)  # (n, P)
        ds = (picked - future[None]).norm(dim=-1)  # (K, n, P)
        sums += [float(d.mean(-1).sum()), float(d[:, -1].sum()), float(ds.mean(-1).min(0).values.sum()),
                 float(ds[..., -1].min(0).values.sum())]
        n += d.shape[0]
    model.train()
    return dict(zip(("ade", "fde", "min_ade", "min_fde"), (sums / max(n, 1)).tolist(), strict=True))


@dataclass
class TrainResult:
    config: TrainConfig
    model: TrajectoryNet
    curves: dict[str, list[float]] = field(default_factory=dict)
    val: dict[str, float] = field(default_factory=dict)
    steps_done: int = 0
    seconds: float = 0.0
    stopped: bool = False
    windows: int = 0

    def card(self) -> dict[str, Any]:
        return {"architecture": architecture(self.model), "trained": {
            "config": self.config.to_dict(), "steps": self.steps_done, "windows": self.windows,
            "stopped_early": self.stopped, "seconds": round(self.seconds, 1)}, "metrics": {"val": self.val}}

    def state_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, buffer)
        return buffer.getvalue()

    def metrics(self) -> dict[str, Any]:
        last = {k: v[-1] for k, v in self.curves.items() if v and k != "step"}
        return {"steps": self.steps_done, "windows": self.windows, **{f"final_{k}": v for k, v in last.items()},
                **{f"val_{k}": v for k, v in self.val.items()}, "train_seconds": self.seconds,
                "stopped_early": self.stopped, "curves": self.curves}

    def artifacts(self) -> dict[str, bytes | str]:
        import json

        return {"model.pt": self.state_bytes(), "model.json": json.dumps(self.card(), indent=2)}

    def to_json(self) -> dict[str, Any]:
        last = {k: v[-1] for k, v in self.curves.items() if v}
        return {"model": self.config.model, "steps": self.steps_done, "windows": self.windows, "last": last,
                "val": self.val, "seconds": self.seconds, "stopped_early": self.stopped}

    def title(self) -> str:
        return f"trajectories: train {self.config.model} ({self.steps_done} steps)"


def run_train(config: TrainConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> TrainResult:
    """Train ``config.model`` and return it with its curves and validation metrics."""
    rng = seed_everything(config.seed)
    start = time.perf_counter()
    scenes = load_scenes(config.source, config.inputs, data, agents=config.agents, steps=config.frames,
                         seed=config.seed, count=config.scenes if config.source in ("crowd", "springs") else 1)
    if config.source in ("crowd", "springs"):
        train = window_tracks(scenes, config.obs, config.pred, config.stride)
        val_scene = load_scenes(config.source, (), None, agents=config.agents, steps=config.frames,
                                seed=config.seed + config.scenes)
        val = window_tracks(val_scene, config.obs, config.pred, 4)
    else:
        tracks = window_tracks(scenes, config.obs, config.pred, config.stride)
        cut = int(round(len(tracks) * (1 - config.val_fraction)))  # the last part of each file is held out
        train, val = tracks[:cut], tracks[cut:]
    if not train:
        raise LabInputError(f"the training scenes have no window of {config.obs + config.pred} frame steps with an "
                            "agent present throughout; use longer scenes or shorter --obs/--pred.")
    model = TrajectoryNet(config.obs, config.pred, config.hidden, config.modes,
                          relational=config.model == "group").to(config.device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps, eta_min=config.lr * 0.05)
    curves: dict[str, list[float]] = {"step": [], "loss": [], "wta": []}
    val_metrics: dict[str, float] = {}
    stopped, step = False, 0
    deadline = start + config.minutes * 60 if config.minutes > 0 else None
    for step in range(1, config.steps + 1):
        picks = rng.choice(len(train), size=min(config.batch, len(train)), replace=False)
        tracks = augment([train[k] for k in picks], rng)
        obs, future = split(tracks, config.obs)
        batch = make_batch(obs, config.device)
        out = model(batch)
        together = None
        if config.model == "group" and config.together_weight > 0:
            whole = torch.as_tensor(np.concatenate(tracks), dtype=torch.float32, device=config.device)
            together = together_targets(whole, batch.pairs)
        loss, logs = trajectory_loss(out, future.to(config.device), config.kl_weight, together=together,
                                     together_weight=config.together_weight)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        last = step == config.steps or (deadline is not None and time.perf_counter() > deadline)
        if step % config.eval_every == 0 or last or step == 1:
            curves["step"].append(step)
            curves["loss"].append(logs["loss"])
            curves["wta"].append(logs["wta"])
            if val and (step % config.eval_every == 0 or last):
                val_metrics = evaluate(model, val[:400], config.modes, device=config.device)
                curves.setdefault("val_min_ade", []).append(val_metrics["min_ade"])
        shown = {"loss": logs["loss"], **({"val_min_ade": val_metrics["min_ade"]} if val_metrics else {})}
        if report(on_progress, step, config.steps, shown):
            stopped = True
            break
        if last:
            break
    if val and not val_metrics:
        val_metrics = evaluate(model, val[:400], config.modes, device=config.device)
    model.eval()
    return TrainResult(config, model.cpu(), curves, val_metrics, step, time.perf_counter() - start, stopped,
                       len(train))
