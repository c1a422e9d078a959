"""Neural relational inference on dynamic springs (Kipf et al. 2018), per time window, without labels.

The encoder sees one window of ``W`` steps of every particle and outputs, for each pair, a distribution
over ``E`` edge types (symmetric in the pair). The decoder must explain each particle's change of
velocity from the others through typed messages (type 0 sends none, NRI's "skip first")::

    dv_i(t) = g(x_i, v_i) + sum_j sum_{k>=1} z_ijk f_k(x_j - x_i, v_j - v_i)

Training minimises the decoder's error (squared, on standardised accelerations) plus a KL to a uniform
prior, with Gumbel-softmax samples of ``z``; the true springs are never shown. Edge accuracy is then
measured against the simulator's per-step graph, up to a permutation of the edge types.

Two options (both on in the shipped model, ``scripts/train_trajectories.py``): ``within_epoch`` trains
only on windows that lie inside one graph epoch of the simulator (its switch period is known; a window
that straddles a switch mixes two graphs), and ``pair_fit`` gives the encoder, per pair and window, the
least-squares symmetric linear coupling of the particles' accelerations to their relative positions
(:meth:`SpringsNRI.linear_coupling`; no labels involved). Measured on held-out seeds 10013-10016 (3-4 CPU
minutes of training each): neither 0.819; ``within_epoch`` with per-step projections of the
accelerations on the pair's direction 0.816; ``pair_fit`` alone 0.970; both 0.976 (``pair_fit`` is
the lever that matters). The window the
encoder reads at inference is unchanged (20 steps tiling the scene).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.core.seeding import seed_everything
from lab.trajectories.data import Scene
from lab.trajectories.metrics import edge_accuracy
from lab.trajectories.models import mlp
from lab.trajectories.simulate import SimulateConfig, simulate


class Residual(nn.Module):
    """A linear map plus an MLP: a linear interaction (a spring) is learnt at once, anything else after."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.mlp = mlp(n_in, hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


class SpringsNRI(nn.Module):
    """NRI encoder + dynamics decoder for fully observed particles (every particle in every step)."""

    def __init__(self, window: int = 20, hidden: int = 64, edge_types: int = 2, projections: bool = False,
                 pair_fit: bool = False) -> None:
        super().__init__()
        self.window, self.hidden, self.edge_types = window, hidden, edge_types
        self.projections, self.pair_fit = projections, pair_fit
        per_step = 8 + (3 if projections else 0)
        self.node = mlp(window * 6, hidden, hidden)  # a particle's own window (x, v, dv per step)
        # [h_i + h_j, |h_i - h_j|, pair per step, (the pair's linear coupling over the window)]
        self.edge = mlp(2 * hidden + window * per_step + (1 if pair_fit else 0), hidden, edge_types)
        self.self_term = Residual(4, hidden, 2)
        self.messages = nn.ModuleList([Residual(4, hidden, 2) for _ in range(edge_types - 1)])
        self.register_buffer("scale", torch.ones(3))  # std of positions, velocities, accelerations

    def features(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """pos (B, N, W + 2, 2) -> x, v (B, N, W, 2) standardised, and accelerations (B, N, W, 2)."""
        vel = pos[:, :, 1:] - pos[:, :, :-1]  # (B, N, W + 1, 2)
        acc = vel[:, :, 1:] - vel[:, :, :-1]  # (B, N, W, 2)
        return pos[:, :, :-2] / self.scale[0], vel[:, :, :-1] / self.scale[1], acc / self.scale[2]

    @staticmethod
    def linear_coupling(x: torch.Tensor, acc: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
        """Per window, the least-squares symmetric couplings ``c_ij`` in ``acc_i = sum_j c_ij (x_j - x_i)``.

        One joint fit of every pair over the window's steps and particles (``c_ij = c_ji``: action and
        reaction), steps whose acceleration exceeds 4 standard deviations (wall bounces) left out, a small
        ridge. A generic linear-interaction statistic of the window, computed without any labels; the
        encoder still has to learn what it means. Returns (B, N, N), symmetric, zero diagonal.
        """
        b, n, w, _ = x.shape
        ia, ja = torch.triu_indices(n, n, 1, device=x.device)
        d = x[:, None] - x[:, :, None]  # (B, N_i, N_j, W, 2): x_j - x_i
        design = x.new_zeros(b, n, w, 2, len(ia))
        for p, (i, j) in enumerate(zip(ia.tolist(), ja.tolist(), strict=True)):
            design[:, i, :, :, p] = d[:, i, j]
            design[:, j, :, :, p] = d[:, j, i]
        calm = (acc.norm(dim=-1, keepdim=True) < 4).expand(b, n, w, 2).reshape(b, -1, 1).to(x.dtype)
        m = design.reshape(b, -1, len(ia))
        gram = m.transpose(1, 2) @ (calm * m)
        gram = gram + ridge * torch.eye(len(ia), dtype=x.dtype, device=x.device)
        coef = torch.linalg.solve(gram, m.transpose(1, 2) @ (calm * acc.reshape(b, -1, 1)))[..., 0]  # (B, P)
        out = x.new_zeros(b, n, n)
        out[:, ia, ja] = coef
        out[:, ja, ia] = coef
        return out

    def encode(self, x: torch.Tensor, v: torch.Tensor, acc: torch.Tensor) -> torch.Tensor:
        """Edge-type logits (B, N, N, E), symmetric; x, v, acc (B, N, W, 2).

        The encoder may look at the observed accelerations (they are in the positions it is given): a
        spring shows as i's acceleration pointing at j, in proportion to their distance. With
        ``projections`` it is also given, per step, the relative geometry in the pair's own frame: the
        projection of each particle's acceleration on the direction to the other and the squared distance
        (accelerations clipped at 4 standard deviations, so that a wall bounce does not dominate).
        """
        b, n, w, _ = x.shape
        h = self.node(torch.cat([x, v, acc], -1).flatten(2))  # (B, N, H)
        hi, hj = h[:, :, None].expand(b, n, n, -1), h[:, None, :].expand(b, n, n, -1)
        ai, aj = acc[:, :, None].expand(b, n, n, w, 2), acc[:, None].expand(b, n, n, w, 2)
        d = x[:, None] - x[:, :, None]  # (B, N_i, N_j, W, 2): x_j - x_i
        parts = [d, v[:, None] - v[:, :, None], ai, aj]
        if self.projections:
            ci, cj = ai.clamp(-4, 4), aj.clamp(-4, 4)
            parts += [(ci * d).sum(-1, keepdim=True), -(cj * d).sum(-1, keepdim=True), d.pow(2).sum(-1, keepdim=True)]
        rel = torch.cat(parts, -1).flatten(3)  # (B, N, N, 8W or 11W)
        inputs = [hi + hj, (hi - hj).abs(), rel]
        if self.pair_fit:
            inputs.append(self.linear_coupling(x, acc)[..., None])
        logits = self.edge(torch.cat(inputs, -1))
        return (logits + logits.transpose(1, 2)) / 2

    def decode(self, x: torch.Tensor, v: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Predicted standardised accelerations (B, N, W, 2) given edge weights z (B, N, N, E)."""
        pred = self.self_term(torch.cat([x, v], -1))
        rel = torch.cat([x[:, None] - x[:, :, None], v[:, None] - v[:, :, None]], -1)  # (B, N_i, N_j, W, 4)
        off = 1 - torch.eye(x.shape[1], device=x.device)[None, :, :, None, None]
        for k, f in enumerate(self.messages, start=1):
            pred = pred + (z[..., k, None, None] * off * f(rel)).sum(2)
        return pred

    def forward(self, pos: torch.Tensor, tau: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, v, acc = self.features(pos)
        logits = self.encode(x, v, acc)
        z = F.gumbel_softmax(logits, tau=tau) if self.training else logits.softmax(-1)
        return self.decode(x, v, z), acc, logits


def springs_windows(scene: Scene, window: int, stride: int, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(B, N, W + 2, 2) position windows (two extra steps give W accelerations) and their first steps.

    ``epoch`` > 0 keeps only the windows whose W + 2 frames lie within one graph epoch of ``epoch``
    frames (training on a simulator whose switch period is known; windows that straddle a switch mix two
    graphs and have no single right answer). With ``epoch`` <= W + 1 it falls back to every window.
    """
    pos = np.transpose(scene.pos, (1, 0, 2))  # (N, F, 2)
    starts = np.arange(0, scene.shape[0] - window - 1, stride)
    if epoch > window + 1:
        starts = starts[starts % epoch <= epoch - window - 2]
    return np.stack([pos[:, s:s + window + 2] for s in starts]), starts


@dataclass(frozen=True)
class EdgesConfig(LabConfig):
    """Train NRI on dynamic springs (``train_scenes`` seeds from ``seed``) and measure edge accuracy on
    ``test_scenes`` held-out seeds; ``train_steps`` 0 uses the shipped checkpoint instead of training."""

    agents: int = 5
    frames: int = 400
    window: int = 20
    switch_every: int = 40
    strength: float = 0.1
    train_scenes: int = 20
    test_scenes: int = 4
    train_steps: int = 1500
    minutes: float = 0.0
    batch: int = 32
    hidden: int = 64
    lr: float = 1e-3
    within_epoch: bool = False
    projections: bool = False
    pair_fit: bool = False
    tau_start: float = 0.5
    tau_end: float = 0.5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("agents", "window", "switch_every", "test_scenes", "batch", "hidden"):
            if getattr(self, name) < 1:
                raise LabInputError(f"{name} is {getattr(self, name)}; use 1 or more.")
        if self.agents < 2:
            raise LabInputError("agents must be at least 2 for any pair to interact.")
        if self.frames < self.window + 2:
            raise LabInputError(f"frames ({self.frames}) must exceed window + 1 ({self.window + 1}).")
        if self.tau_start <= 0 or self.tau_end <= 0:
            raise LabInputError("tau_start and tau_end (Gumbel-softmax temperatures) must be above 0.")
        if self.train_steps < 0 or self.train_scenes < 1 or self.minutes < 0:
            raise LabInputError("train_steps must be 0 (use the shipped model) or more, train_scenes 1 or more.")


def _sim(config: EdgesConfig, seed: int) -> Scene:
    return simulate(SimulateConfig(kind="springs", agents=config.agents, steps=config.frames, seed=seed,
                                   strength=config.strength, switch_every=config.switch_every))


@torch.no_grad()
def infer_edges(model: SpringsNRI, scene: Scene, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Edge type (F, N, N) and probabilities (F, N, N, E) per frame, from windows tiling the scene."""
    model.eval()
    w = model.window
    pos, starts = springs_windows(scene, w, w)
    f, n = scene.shape
    probs = np.zeros((f, n, n, model.edge_types))
    probs[..., 0] = 1.0
    if len(starts):
        x, v, acc = model.features(torch.as_tensor(pos, dtype=torch.float32, device=device))
        p = model.encode(x, v, acc).softmax(-1).cpu().numpy()  # (B, N, N, E)
        for b, s in enumerate(starts):
            probs[s:s + w] = p[b]
        probs[starts[-1] + w:] = p[-1]  # the last steps (shorter than a window) keep the last window's
    return probs.argmax(-1), probs


def scene_edge_accuracy(types: np.ndarray, scene: Scene, n_types: int) -> tuple[float, tuple[int, ...]]:
    """Edge accuracy over every frame and pair i < j, up to a permutation of the types."""
    iu = np.triu_indices(scene.shape[1], 1)
    return edge_accuracy(types[:, iu[0], iu[1]], scene.edges[:, iu[0], iu[1]], max(n_types, 2))


@dataclass
class EdgesResult:
    config: EdgesConfig
    model: SpringsNRI
    accuracy: float
    per_scene: list[float]
    permutation: tuple[int, ...]
    curves: dict[str, list[float]] = field(default_factory=dict)
    steps_done: int = 0
    seconds: float = 0.0
    stopped: bool = False
    example: Scene | None = None
    example_types: np.ndarray | None = None
    example_probs: np.ndarray | None = None

    def metrics(self) -> dict[str, Any]:
        return {"edge_accuracy": self.accuracy, "train_steps_done": self.steps_done, "seconds": self.seconds,
                "stopped_early": self.stopped, "curves": self.curves}

    def to_json(self) -> dict[str, Any]:
        return {"edge_accuracy": self.accuracy, "per_scene": self.per_scene, "permutation": list(self.permutation),
                "train_steps": self.steps_done, "seconds": self.seconds}

    def title(self) -> str:
        return f"trajectories: springs edges ({self.accuracy:.1%})"


def train_nri(config: EdgesConfig, on_progress: ProgressCallback | None = None
              ) -> tuple[SpringsNRI, dict[str, list[float]], int, bool]:
    rng = seed_everything(config.seed)
    scenes = [_sim(config, config.seed + k) for k in range(config.train_scenes)]
    epoch = config.switch_every if config.within_epoch else 0
    data = np.concatenate([springs_windows(s, config.window, 1, epoch)[0] for s in scenes])  # (B, N, W + 2, 2)
    model = SpringsNRI(config.window, config.hidden, projections=config.projections,
                       pair_fit=config.pair_fit).to(config.device)
    flat = torch.as_tensor(data, dtype=torch.float32)
    vel = flat[:, :, 1:] - flat[:, :, :-1]
    acc = (vel[:, :, 1:] - vel[:, :, :-1]).norm(dim=-1)
    calm = acc[acc < acc.quantile(0.98)]  # wall bounces are rare and huge: scale by the springs' accelerations
    model.scale.copy_(torch.stack([flat.std(), vel.std(), calm.pow(2).mean().sqrt()]))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    curves: dict[str, list[float]] = {"step": [], "loss": []}
    deadline = time.perf_counter() + config.minutes * 60 if config.minutes > 0 else None
    stopped, step = False, 0
    for step in range(1, config.train_steps + 1):
        picks = rng.choice(len(data), size=min(config.batch, len(data)), replace=False)
        pos = torch.as_tensor(data[picks], dtype=torch.float32, device=config.device)
        frac = (step - 1) / max(config.train_steps - 1, 1)
        if deadline is not None:
            frac = max(frac, 1 - (deadline - time.perf_counter()) / (config.minutes * 60))
        tau = config.tau_start * (config.tau_end / config.tau_start) ** min(frac, 1.0)  # geometric annealing
        pred, acc, logits = model(pos, tau)
        probs = logits.softmax(-1)
        kl = (probs * (probs.clamp_min(1e-8).log() + np.log(model.edge_types))).sum(-1).mean()
        calm = (acc.norm(dim=-1, keepdim=True) < 4).float()  # a wall bounce is not a spring: left out
        recon = ((pred - acc).pow(2) * calm).sum() / calm.sum().clamp_min(1) / 2
        loss = recon + 0.01 * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == 1:
            curves["step"].append(step)
            curves["loss"].append(loss.item())
        last = deadline is not None and time.perf_counter() > deadline
        if report(on_progress, step, config.train_steps, {"loss": loss.item()}):
            stopped = True
            break
        if last:
            break
    model.eval()
    return model.cpu(), curves, step, stopped


def run_edges(config: EdgesConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> EdgesResult:
    """Train (or load the shipped) NRI and score its edges on held-out dynamic-springs scenes."""
    start = time.perf_counter()
    if config.train_steps == 0:
        from lab.trajectories.zoo import load_nri

        model, curves, steps, stopped = load_nri(), {}, 0, False
        stopped = report(on_progress, 1, 1, {})
    else:
        model, curves, steps, stopped = train_nri(config, on_progress)
    if model.window != config.window:
        raise LabInputError(f"the NRI model reads windows of {model.window} steps, not {config.window}; "
                            f"use --window {model.window} or train a new one.")
    per_scene, perms = [], []
    scenes = [_sim(config, 10_000 + config.seed + k) for k in range(config.test_scenes)]  # held-out seeds
    types_all, truth_all, example = [], [], None
    for scene in scenes:
        types, probs = infer_edges(model, scene)
        acc, perm = scene_edge_accuracy(types, scene, model.edge_types)
        per_scene.append(acc)
        perms.append(perm)
        iu = np.triu_indices(scene.shape[1], 1)
        types_all.append(types[:, iu[0], iu[1]])
        truth_all.append(scene.edges[:, iu[0], iu[1]])
        if example is None:
            example = (scene, types, probs)
    accuracy, perm = edge_accuracy(np.concatenate(types_all), np.concatenate(truth_all), max(model.edge_types, 2))
    return EdgesResult(config, model, accuracy, per_scene, perm, curves, steps, time.perf_counter() - start, stopped,
                       *example)
