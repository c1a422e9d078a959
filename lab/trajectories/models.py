"""The learned predictors, readable top to bottom: a sequence model and a group-aware relational model.

Both share the agent encoder (a GRU over observed steps) and the multimodal decoder (M trajectory
hypotheses per agent, as offsets from the constant-velocity extrapolation, plus a logit per mode). The
group model adds, in the spirit of DynGroupNet (Xu et al. 2022) and NRI (Kipf et al. 2018):

- a relational encoder that infers, per pair of agents and per observation window, a distribution over
  ``E`` interaction types (type 0 = no interaction, NRI's "skip first") and an interaction strength in
  (0, 1), without any relation labels (Gumbel-softmax while training, softmax at inference);
- typed messages ``m_i = sum_j s_ij sum_{k>=1} z_ijk f_k(h_j, rel_ij)``;
- group-wise pooling: agents joined by type 1 ("moves with") share a group feature, the mean of their
  encodings ``G_i = (h_i + sum_j z_ij1 h_j) / (1 + sum_j z_ij1)``; the inferred groups are the connected
  components of ``z_ij1 > 1/2``.

Shapes: ``n`` agents over all windows of a batch, ``p`` ordered pairs (both directions; pair ``q`` and
``q + p/2`` are each other's reverse), ``To`` observed and ``P`` predicted steps, ``M`` modes, ``H`` hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

POS_SCALE = 5.0  # metres: relative positions are divided by this
STEP_SCALE = 0.5  # metres per step: displacements are divided by this


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


@dataclass
class Batch:
    """Windows flattened into one set of agents and the ordered pairs inside each window.

    obs (n, To, 2) absolute positions; pairs (p, 2) long, ``pairs[q] = (i, j)``, i receives from j;
    window (n,) long: the window each agent belongs to.
    """

    obs: torch.Tensor
    pairs: torch.Tensor
    window: torch.Tensor

    def to(self, device: str) -> Batch:
        return Batch(self.obs.to(device), self.pairs.to(device), self.window.to(device))


def make_batch(windows: list[np.ndarray], device: str = "cpu") -> Batch:
    """``windows``: a list of (N_w, To, 2) observed tracks -> one :class:`Batch` (pairs within windows)."""
    obs = torch.as_tensor(np.concatenate(windows), dtype=torch.float32)
    firsts, seconds, owner = [], [], []
    offset = 0
    for w, tracks in enumerate(windows):
        n = len(tracks)
        i, j = np.triu_indices(n, 1)
        firsts.append(i + offset)
        seconds.append(j + offset)
        owner.append(np.full(n, w))
        offset += n
    i = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    j = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
    pairs = torch.as_tensor(np.stack([np.concatenate([i, j]), np.concatenate([j, i])], 1), dtype=torch.long)
    return Batch(obs, pairs, torch.as_tensor(np.concatenate(owner), dtype=torch.long)).to(device)


class TrajectoryNet(nn.Module):
    """Sequence model (``relational=False``) or group-aware relational model (``relational=True``)."""

    def __init__(self, obs_len: int = 8, pred_len: int = 12, hidden: int = 64, modes: int = 20,
                 edge_types: int = 3, relational: bool = True) -> None:
        super().__init__()
        self.obs_len, self.pred_len, self.hidden = obs_len, pred_len, hidden
        self.modes, self.edge_types, self.relational = modes, edge_types, relational
        self.encoder = nn.GRU(2, hidden, batch_first=True)  # over displacements (n, To-1, 2)
        context = hidden
        if relational:
            pair_in = obs_len * 3 + (obs_len - 1) * 2  # relative position, distance, relative velocity per step
            self.pair_encoder = mlp(pair_in, hidden, hidden)
            self.edge_head = mlp(3 * hidden, hidden, edge_types)  # [e_ij, h_i + h_j, |h_i - h_j|]
            self.strength_head = nn.Linear(hidden, 1)
            self.messages = nn.ModuleList([mlp(hidden + 4, hidden, hidden) for _ in range(edge_types - 1)])
            context = 3 * hidden  # [h_i, G_i, m_i]
        self.decoder = mlp(context, 2 * hidden, modes * (pred_len * 2 + 1))

    # -- encoders ---------------------------------------------------------------------------------------
    def encode_agents(self, obs: torch.Tensor) -> torch.Tensor:
        steps = (obs[:, 1:] - obs[:, :-1]) / STEP_SCALE  # (n, To-1, 2)
        _, h = self.encoder(steps)
        return h[-1]  # (n, H)

    def pair_features(self, obs: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        rel = (obs[pairs[:, 1]] - obs[pairs[:, 0]]) / POS_SCALE  # (p, To, 2): where j is, seen from i
        dist = rel.norm(dim=-1, keepdim=True)  # (p, To, 1)
        vel = (rel[:, 1:] - rel[:, :-1]) * (POS_SCALE / STEP_SCALE)  # (p, To-1, 2)
        return torch.cat([rel.flatten(1), dist.flatten(1), vel.flatten(1)], 1)

    def infer_relations(self, obs: torch.Tensor, pairs: torch.Tensor, h: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Edge-type logits (p, E), strength (p,) and pair embeddings (p, H), symmetric in (i, j)."""
        e = self.pair_encoder(self.pair_features(obs, pairs))  # (p, H)
        half = pairs.shape[0] // 2
        e = torch.cat([(e[:half] + e[half:]) / 2] * 2)  # the same relation seen from both sides
        hi, hj = h[pairs[:, 0]], h[pairs[:, 1]]
        logits = self.edge_head(torch.cat([e, hi + hj, (hi - hj).abs()], 1))  # (p, E)
        strength = torch.sigmoid(self.strength_head(e)).squeeze(-1)  # (p,)
        return logits, strength, e

    # -- forward ------------------------------------------------------------------------------------------
    def forward(self, batch: Batch, tau: float = 0.5, hard: bool = False) -> dict[str, torch.Tensor]:
        """Returns ``traj`` (n, M, P, 2) positions relative to each agent's last observed one, ``mode_logits``
        (n, M), and for the group model ``edge_probs``/``edge_z`` (p, E) and ``strength`` (p,)."""
        obs, pairs = batch.obs, batch.pairs
        n = obs.shape[0]
        h = self.encode_agents(obs)  # (n, H)
        out: dict[str, torch.Tensor] = {}
        if self.relational:
            context = [h]
            if pairs.shape[0]:
                logits, strength, _ = self.infer_relations(obs, pairs, h)
                probs = logits.softmax(-1)
                z = F.gumbel_softmax(logits, tau=tau, hard=hard) if self.training else probs  # (p, E)
                i, j = pairs[:, 0], pairs[:, 1]
                last = obs[:, -1]
                rel_last = torch.cat([(last[j] - last[i]) / POS_SCALE,
                                      (obs[j, -1] - obs[j, -2] - obs[i, -1] + obs[i, -2]) / STEP_SCALE], 1)  # (p, 4)
                message = torch.zeros(n, self.hidden, device=obs.device)
                for k, f in enumerate(self.messages, start=1):
                    weight = (z[:, k] * strength).unsqueeze(-1)  # (p, 1)
                    message = message.index_add(0, i, weight * f(torch.cat([h[j], rel_last], 1)))
                pool_w = z[:, 1].unsqueeze(-1)  # (p, 1): "moves with"
                pooled = h + torch.zeros_like(h).index_add(0, i, pool_w * h[j])
                count = 1 + torch.zeros(n, 1, device=obs.device).index_add(0, i, pool_w)
                context += [pooled / count, message]
                out.update(edge_logits=logits, edge_probs=probs, edge_z=z, strength=strength)
            else:
                context += [h, torch.zeros_like(h)]
            h = torch.cat(context, 1)
        raw = self.decoder(h).view(n, self.modes, self.pred_len * 2 + 1)
        offsets = raw[..., :-1].reshape(n, self.modes, self.pred_len, 2)  # (n, M, P, 2)
        velocity = obs[:, -1] - obs[:, -2]  # (n, 2)
        horizon = torch.arange(1, self.pred_len + 1, device=obs.device, dtype=obs.dtype)
        cv = horizon[None, :, None] * velocity[:, None, :]  # (n, P, 2) constant velocity
        out["traj"] = cv[:, None] + offsets
        out["mode_logits"] = raw[..., -1]
        return out


def together_targets(tracks: torch.Tensor, pairs: torch.Tensor, distance: float = 1.5,
                     step_velocity: float = 0.2) -> torch.Tensor:
    """Self-supervised "moves with" target per pair (p,) from the *whole* window (n, To + P, 2).

    1 when over all the window's steps the two are on average closer than ``distance`` metres and their
    velocities differ by less than ``step_velocity`` metres per step (0.5 m/s at 0.4 s a step). No group
    labels: the target comes from the motion itself, including the future the model does not see.
    """
    i, j = pairs[:, 0], pairs[:, 1]
    dist = (tracks[i] - tracks[j]).norm(dim=-1).mean(-1)
    vel = tracks[:, 1:] - tracks[:, :-1]
    dvel = (vel[i] - vel[j]).norm(dim=-1).mean(-1)
    return ((dist < distance) & (dvel < step_velocity)).float()


def trajectory_loss(out: dict[str, torch.Tensor], future: torch.Tensor, kl_weight: float = 0.01,
                    prior: tuple[float, ...] | None = None, together: torch.Tensor | None = None,
                    together_weight: float = 0.5) -> tuple[torch.Tensor, dict[str, float]]:
    """Winner-takes-all displacement loss + mode classification + KL of edge types to a sparse prior.

    ``future`` (n, P, 2) relative to the last observed position. The winner is the mode with the lowest
    ADE; training on it is the "variety loss" of Social-GAN, which aims minADE_K directly. ``together``
    (p,): the self-supervised "moves with" targets of :func:`together_targets` for edge type 1.
    """
    err = (out["traj"] - future[:, None]).norm(dim=-1).mean(-1)  # (n, M)
    best = err.argmin(1)
    wta = err.gather(1, best[:, None]).mean()
    ce = F.cross_entropy(out["mode_logits"], best)
    loss = wta + 0.1 * ce
    logs = {"wta": wta.item(), "ce": ce.item()}
    if "edge_probs" in out:
        probs = out["edge_probs"]
        e = probs.shape[1]
        prior_t = torch.tensor(prior or (0.8,) + (0.2 / (e - 1),) * (e - 1), device=probs.device)
        kl = (probs * (probs.clamp_min(1e-8).log() - prior_t.log())).sum(1).mean()
        loss = loss + kl_weight * kl
        logs["kl"] = kl.item()
        if together is not None and together.numel():
            p1 = probs[:, 1].clamp(1e-6, 1 - 1e-6)
            bce = F.binary_cross_entropy(p1, together)
            loss = loss + together_weight * bce
            logs["together_bce"] = bce.item()
    logs["loss"] = loss.item()
    return loss, logs


@torch.no_grad()
def sample_modes(out: dict[str, torch.Tensor], k: int, generator: torch.Generator | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """K samples (K, n, P, 2) and the mean prediction (n, P, 2) from the decoder's modes.

    K <= M: the K most probable modes. K > M: all M, then K - M draws of a mode by its probability,
    perturbed by Gaussian noise growing with the horizon (0.05 m x sqrt(step)).
    """
    traj, probs = out["traj"], out["mode_logits"].softmax(-1)  # (n, M, P, 2), (n, M)
    n, m, p, _ = traj.shape
    mean = (probs[..., None, None] * traj).sum(1)  # (n, P, 2)
    order = probs.argsort(1, descending=True)  # (n, M)
    picked = traj.gather(1, order[:, : min(k, m), None, None].expand(-1, -1, p, 2))  # (n, min(K, M), P, 2)
    if k > m:
        extra = torch.multinomial(probs, k - m, replacement=True, generator=generator)  # (n, K - M)
        draws = traj.gather(1, extra[..., None, None].expand(-1, -1, p, 2))
        scale = 0.05 * torch.arange(1, p + 1, device=traj.device).sqrt()[None, None, :, None]
        noise = torch.randn(draws.shape, generator=generator, device=traj.device)
        picked = torch.cat([picked, draws + scale * noise], 1)
    return picked.transpose(0, 1), mean


def architecture(model: TrajectoryNet) -> dict:
    return {"model": "group" if model.relational else "seq", "obs_len": model.obs_len, "pred_len": model.pred_len,
            "hidden": model.hidden, "modes": model.modes, "edge_types": model.edge_types}


def build(arch: dict) -> TrajectoryNet:
    return TrajectoryNet(obs_len=int(arch["obs_len"]), pred_len=int(arch["pred_len"]), hidden=int(arch["hidden"]),
                         modes=int(arch["modes"]), edge_types=int(arch.get("edge_types", 3)),
                         relational=arch["model"] == "group")
