"""Who moves with whom, frame by frame: the group model's inferred relations, or a plain rule.

For every frame, the agents present and their last ``obs`` positions (:func:`observed_history`) go
through the group model's relational encoder; pairs whose "moves with" probability (type 1) exceeds
one half are joined, and the groups are the connected components. The ``rule`` baseline joins two
agents when, over the same steps, their mean distance is under 1.5 m and their mean velocity difference
under 0.5 m/s (the plain rule the issue quotes, ARI about 0.7 on annotated eth/hotel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lab.trajectories.data import Scene
from lab.trajectories.models import TrajectoryNet, make_batch
from lab.trajectories.scenes import observed_history
from lab.trajectories.simulate import components

METHODS = ("model", "rule")
RULE_DISTANCE, RULE_VELOCITY = 1.5, 0.5


@dataclass
class Relations:
    """Inferred relations of one frame's agents: ``agents`` (N,) indices, ``types`` (N, N) argmax edge type,
    ``probs`` (N, N, E) type probabilities, ``strength`` (N, N), ``labels`` (N,) group of each agent."""

    agents: np.ndarray
    types: np.ndarray
    probs: np.ndarray
    strength: np.ndarray
    labels: np.ndarray


def rule_labels(hist: np.ndarray, dt: float, distance: float = RULE_DISTANCE, velocity: float = RULE_VELOCITY) -> np.ndarray:
    """Groups by the distance/velocity rule: hist (obs, N, 2) -> label (N,)."""
    n = hist.shape[1]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    dist = np.linalg.norm(hist[:, :, None] - hist[:, None], axis=-1).mean(0)  # (N, N)
    vel = np.diff(hist, axis=0) / dt  # (obs-1, N, 2)
    dvel = np.linalg.norm(vel[:, :, None] - vel[:, None], axis=-1).mean(0) if len(vel) else np.zeros((n, n))
    adj = (dist < distance) & (dvel < velocity)
    np.fill_diagonal(adj, False)
    return components(adj)


@torch.no_grad()
def model_relations(model: TrajectoryNet, histories: list[np.ndarray], device: str = "cpu") -> list[dict]:
    """Edge probabilities (N, N, E) and strengths (N, N) for each history (obs, N, 2)."""
    model.eval()
    windows = [np.transpose(h, (1, 0, 2)) for h in histories]  # (N, obs, 2)
    out = []
    nonempty = [w for w in windows if len(w)]
    if not nonempty:
        return [{"probs": np.zeros((0, 0, model.edge_types)), "strength": np.zeros((0, 0))} for _ in windows]
    batch = make_batch(nonempty, device)
    h = model.encode_agents(batch.obs)
    logits, strength, _ = model.infer_relations(batch.obs, batch.pairs, h) if batch.pairs.shape[0] else (
        torch.zeros(0, model.edge_types), torch.zeros(0), None)
    probs = logits.softmax(-1).cpu().numpy()
    strength = strength.cpu().numpy()
    pairs = batch.pairs.cpu().numpy()
    owner = batch.window.cpu().numpy()
    starts = np.concatenate([[0], np.cumsum([len(w) for w in nonempty])])
    k = 0
    for w in windows:
        n = len(w)
        p = np.zeros((n, n, model.edge_types))
        p[..., 0] = 1.0
        s = np.zeros((n, n))
        if n:
            mine = owner[pairs[:, 0]] == k
            i, j = pairs[mine, 0] - starts[k], pairs[mine, 1] - starts[k]
            p[i, j], s[i, j] = probs[mine], strength[mine]
            k += 1
        out.append({"probs": p, "strength": s})
    return out


def scene_groups(scene: Scene, method: str = "model", model: TrajectoryNet | None = None, obs: int = 8,
                 chunk: int = 128, device: str = "cpu", frames: np.ndarray | None = None,
                 on_chunk=None) -> tuple[np.ndarray, dict[int, Relations]]:
    """Group labels (F, A) (-1 where absent) for every frame (or ``frames``), and the model's relations.

    ``on_chunk(done, total)`` is called after each chunk of frames; a True return stops (labels so far).
    """
    n_frames = scene.shape[0]
    todo = np.arange(n_frames) if frames is None else np.asarray(frames)
    labels = np.full(scene.shape, -1, dtype=np.int64)
    relations: dict[int, Relations] = {}
    length = model.obs_len if method == "model" and model is not None else obs  # the model reads its own length
    for lo in range(0, len(todo), chunk):
        part = todo[lo:lo + chunk]
        got = [observed_history(scene, int(f), length) for f in part]
        if method == "rule" or model is None:
            for f, (agents, hist) in zip(part, got, strict=True):
                labels[f, agents] = rule_labels(hist, scene.dt)
        else:
            rel = model_relations(model, [h for _, h in got], device)
            for f, (agents, _), r in zip(part, got, rel, strict=True):
                p1 = r["probs"][..., 1]
                adj = (p1 + p1.T) / 2 > 0.5
                np.fill_diagonal(adj, False)
                lab = components(adj)
                labels[f, agents] = lab
                relations[int(f)] = Relations(agents, r["probs"].argmax(-1), r["probs"], r["strength"], lab)
        if on_chunk is not None and on_chunk(min(lo + chunk, len(todo)), len(todo)):
            break
    return labels, relations
