"""The start head: where a single greedy rollout of the attention model should begin.

A tour is a cycle, so the node it starts from should not matter -- but a greedy rollout is not the
optimal tour, and where it starts changes where it goes wrong. Measured on ``am_tsp50`` (the validation
of its card's ``start_head``: 2000 uniform TSP50 instances, greedy from each of the 50 starts): the tour
from node 0 is on average 2.03 % longer than the best of the 50, the one from the start this head
chooses 1.69 %. Kool et al. (2019) let the
policy choose its own first node; POMO (Kwon et al. 2020) tries them all. The start head is the cheap
middle: a small MLP over each node's encoder embedding and the graph's mean embedding
(:meth:`~lab.pointer.models.attention_model.AttentionModel.start_scores`) that scores the nodes as starts,
so a single greedy rollout starts at the best-scored node. It costs one extra MLP pass over n nodes.

Training (:func:`train_start_head`) freezes the policy. It rolls out greedily from every start of
``instances`` random instances once (``model.all_starts``), keeps each start's tour length and the
encoder's embeddings, and fits the head alone with a listwise cross-entropy (:func:`start_loss`) whose
target puts more weight on shorter tours. Because the policy is frozen the lengths are fixed labels:
the head can be trained in minutes after any policy training, and must be retrained after it (a
continued policy run drops the head: :func:`lab.pointer.train.run_train`).

References
----------
Kool, W., van Hoof, H., Welling, M. (2019). Attention, Learn to Solve Routing Problems! ICLR.
Kwon, Y.-D. et al. (2020). POMO: Policy Optimization with Multiple Optima for RL. NeurIPS.
Cao, Z. et al. (2007). Learning to Rank: From Pairwise Approach to Listwise Approach. ICML (the listwise loss).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.pointer.frames import tour_lengths

#: Instances rolled out from every start at once (each is n rollouts): bounds memory, like decoding's budget.
ROLLOUT_CHUNK = 200


@dataclass(frozen=True)
class StartHeadConfig(LabConfig):
    """How the start head is fitted.

    Parameters
    ----------
    n : int
        Size of the training and validation instances (the policy's training size).
    instances, val_instances : int
        Random uniform instances to fit on, and others to measure on (seeds ``seed`` and ``seed + 1``).
    epochs, batch_size, lr : int, int, float
        Adam on the head alone, the rate cosine-decayed to 0 over the epochs.
    tau : float
        Temperature of the target, in relative tour length: a start whose tour is ``tau`` (1 %) longer
        than the best gets e^-1 of the best start's weight.
    seed : int
    """

    n: int = 50
    instances: int = 64_000
    val_instances: int = 2_000
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    tau: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 3 <= int(self.n) <= 1000:
            raise LabInputError(f"n must be in [3, 1000], got {self.n}.")
        if int(self.instances) < 1 or int(self.val_instances) < 1 or int(self.epochs) < 1 or int(self.batch_size) < 1:
            raise LabInputError("instances, val_instances, epochs and batch_size must be at least 1.")
        if not (0 < float(self.lr) < 1 and float(self.tau) > 0):
            raise LabInputError(f"need 0 < lr < 1 and tau > 0, got lr={self.lr}, tau={self.tau}.")


@dataclass
class StartData:
    """Greedy rollouts from every start of N instances: what the head learns from."""

    points: torch.Tensor  # (N, n, 2)
    embeddings: torch.Tensor  # (N, n, d) the frozen encoder's, float16 to halve the memory
    lengths: torch.Tensor  # (N, n) tour length of the greedy rollout from each start


@dataclass
class StartHeadResult:
    """The fitted head's measurements on the validation instances (see :func:`excess`)."""

    config: StartHeadConfig
    stats: dict[str, Any] = field(default_factory=dict)
    curve: list[float] = field(default_factory=list)  # training loss per epoch


def start_loss(scores: torch.Tensor, lengths: torch.Tensor, tau: float) -> torch.Tensor:
    """Listwise cross-entropy of the head's scores against a target that prefers short tours.

    scores, lengths : (B, n). Target: softmax over the starts of ``-(L - min L) / (tau * mean L)``.
    """
    rel = (lengths - lengths.min(dim=1, keepdim=True).values) / lengths.mean(dim=1, keepdim=True)  # (B, n)
    target = (-rel / tau).softmax(dim=1)
    return -(target * scores.log_softmax(dim=1)).sum(dim=1).mean()


@torch.no_grad()
def rollouts(model, points: torch.Tensor, on_chunk=None) -> StartData:
    """Greedy tours from every start and the encoder's embeddings of ``points`` (N, n, 2), in chunks."""
    was_training = model.training
    model.eval()
    lengths, embeddings = [], []
    argmax = lambda lp: lp.argmax(dim=-1)  # noqa: E731
    device = next(model.parameters()).device
    try:
        for lo in range(0, len(points), ROLLOUT_CHUNK):
            chunk = points[lo : lo + ROLLOUT_CHUNK].to(device)
            B, n, _ = chunk.shape
            tours, _ = model.all_starts(chunk, argmax)  # (B, n, n): row s starts at node s
            lengths.append(tour_lengths(chunk.repeat_interleave(n, dim=0), tours.view(B * n, n)).view(B, n).cpu())
            embeddings.append(model.encode(chunk).half().cpu())  # (B, n, d); all_starts encoded once more, cheaply
            if on_chunk is not None and on_chunk(lo + B):
                break
    finally:
        model.train(was_training)
    done = sum(len(x) for x in lengths)
    return StartData(points[:done], torch.cat(embeddings), torch.cat(lengths))


def head_scores(model, embeddings: torch.Tensor) -> torch.Tensor:
    """The head's scores (B, n), on the model's device, from stored embeddings (B, n, d)."""
    return model.start_scores(embeddings.float().to(next(model.parameters()).device))


def excess(lengths: torch.Tensor, chosen: torch.Tensor) -> dict[str, float]:
    """How much longer the chosen starts' tours are than each instance's best start's, in percent.

    lengths : (B, n); chosen : (B,) long. Returns the mean and its standard error.
    """
    rel = lengths.gather(1, chosen[:, None])[:, 0] / lengths.min(dim=1).values - 1  # (B,)
    return {"mean_pct": 100 * float(rel.mean()),
            "se_pct": 100 * float(rel.std()) / len(rel) ** 0.5 if len(rel) > 1 else 0.0}


def validation_stats(model, data: StartData) -> dict[str, Any]:
    """Excess over the best start for node 0, the average start, and the head's choice."""
    with torch.no_grad():
        chosen = head_scores(model, data.embeddings).argmax(dim=1).cpu()
    L = data.lengths
    mean_start = 100 * float((L.mean(dim=1) / L.min(dim=1).values - 1).mean())
    return {"instances": len(L), "node0": excess(L, torch.zeros(len(L), dtype=torch.long)),
            "mean_over_starts_pct": mean_start, "learned": excess(L, chosen)}


def train_start_head(model, config: StartHeadConfig, on_progress: ProgressCallback | None = None) -> StartHeadResult:
    """Fit ``model.start`` (an attention model built with ``start_head=True``) with the policy frozen.

    Progress: the rollouts of the training instances, then one report per epoch (``loss``). A stop
    during the rollouts fits the head on the chunks rolled out (at least one) and reports nothing more;
    a stop during the epochs ends after the current one. Either way the validation is measured.
    """
    if getattr(model, "start", None) is None:
        raise LabInputError("this model has no start head; build it with start_head=True.")
    t0 = time.time()
    gen = np.random.default_rng(int(config.seed))
    train_pts = torch.from_numpy(gen.random((int(config.instances), int(config.n), 2)).astype(np.float32))
    val_pts = torch.from_numpy(np.random.default_rng(int(config.seed) + 1)
                               .random((int(config.val_instances), int(config.n), 2)).astype(np.float32))
    total = int(config.instances) + int(config.epochs)
    stopped = [False]  # a stop during the rollouts: fit on the chunks there are, and report nothing more

    def on_chunk(done: int) -> bool:
        stopped[0] = report(on_progress, done, total, {})
        return stopped[0]

    data = rollouts(model, train_pts, on_chunk)
    val = rollouts(model, val_pts)
    # the embeddings are stored tensors, so the loss reaches the head's weights only: the policy stays as it is
    opt = torch.optim.Adam(model.start.parameters(), lr=float(config.lr))
    N, bs = len(data.lengths), int(config.batch_size)
    steps = int(config.epochs) * ((N + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    torch.manual_seed(int(config.seed))
    curve: list[float] = []
    for epoch in range(int(config.epochs)):
        order, losses = torch.randperm(N), []
        for lo in range(0, N, bs):
            idx = order[lo : lo + bs]
            scores = head_scores(model, data.embeddings[idx])
            loss = start_loss(scores, data.lengths[idx].to(scores.device), float(config.tau))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        curve.append(float(np.mean(losses)))
        if not stopped[0] and report(on_progress, int(config.instances) + epoch + 1, total, {"loss": curve[-1]}):
            break
    stats = {"n": int(config.n), "train_instances": N, "epochs_done": len(curve), "seconds": round(time.time() - t0, 1),
             "train": validation_stats(model, data), "validation": validation_stats(model, val)}
    return StartHeadResult(config, stats, curve)


def with_start_head(model) -> Any:
    """A copy of an attention model with a fresh start head (the same weights otherwise)."""
    from lab.pointer.models import build_model

    arch = {**model.architecture(), "start_head": True}
    out = build_model(arch)
    missing, unexpected = out.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("start.")}, strict=False)
    if unexpected or any(not k.startswith("start.") for k in missing):
        raise LabInputError("this checkpoint does not fit an attention model with a start head.")
    out.card = dict(getattr(model, "card", {}))
    return out


__all__ = ["StartHeadConfig", "StartHeadResult", "excess", "rollouts", "start_loss", "train_start_head",
           "with_start_head"]
