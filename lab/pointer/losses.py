"""Training losses of the pointer models, one function per objective.

- :func:`supervised_loss`: Ptr-Net teacher forcing (Vinyals et al. 2015) on exact labels or reference tours.
- :func:`imitation_loss`: the attention model (Kool et al. 2019) taught a reference tour, all steps at once.
- :func:`pomo_loss`: REINFORCE with POMO's shared baseline (Kwon et al. 2020), optionally with self-imitation.

The loop that draws batches and steps the optimizer is :func:`lab.pointer.train.run_train`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from lab.pointer.frames import tour_lengths
from lab.pointer.models.data import PAD, random_start
from lab.pointer.models.masks import teacher_masks


def supervised_loss(model, task: str, points: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Ptr-Net: cross-entropy of the target choices over the allowed ones (teacher forcing).

    points (B, n, 2), targets (B, T) padded with PAD. For the TSP the first node (0) is given, not predicted.
    """
    n = points.shape[1]
    logits = model(points, targets)  # (B, T, n+1)
    masks = teacher_masks(task, targets, n)  # (B, T, m); the hull's geometric rules apply at decoding only
    logits = logits[..., : masks.shape[-1]].masked_fill(~masks, float("-inf"))
    if task == "tsp":
        logits, targets = logits[:, 1:], targets[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD)


def step_log_probs(model, points: torch.Tensor, tours: torch.Tensor) -> torch.Tensor:
    """Attention model, teacher-forced: log-probability of each choice of given tours, (B, n-1).

    points (B, n, 2), tours (B, n) permutations whose first node is given; the visited nodes are masked.
    """
    n = points.shape[1]
    logits = model(points, tours)  # (B, n-1, n)
    visited = F.one_hot(tours, n).bool().cumsum(dim=1).bool()[:, :-1]  # (B, n-1, n)
    logp = logits.masked_fill(visited, float("-inf")).log_softmax(dim=-1)
    return logp.gather(2, tours[:, 1:, None])[..., 0]


def imitation_loss(model, points: torch.Tensor, tours: torch.Tensor) -> torch.Tensor:
    """Attention model: cross-entropy of the reference tour's next node, all steps at once."""
    return -step_log_probs(model, points, tours).mean()


def pomo_loss(model, points: torch.Tensor, gen: torch.Generator, imitation: float = 0.0,
              rng: np.random.Generator | None = None, starts: int = 4) -> tuple[torch.Tensor, float]:
    """REINFORCE with the POMO shared baseline: n sampled tours per instance, one from each start node.

    With ``imitation`` > 0, self-imitation is added: the shortest of each instance's n sampled tours is
    also taught by cross-entropy (:func:`imitation_loss`) from ``starts`` random starts and directions,
    weighted by ``imitation``. REINFORCE moves every rollout a little toward the better half; the
    imitation term pulls the single greedy pass -- from *any* start -- toward the best tour found, which
    is the decoding a one-pass user sees (Oh et al. 2018, "Self-Imitation Learning", applied to POMO's
    rollouts). Measured on ``am_tsp50`` (session of 2026-12-02; greedy gap on 2000 instances of
    ``--eval-seed 777``, 5.0 % before): weight 3 for 62 minutes (1621 steps, one niced thread) gave 5.1 %,
    plain POMO for 39 minutes (1511 steps) 4.8 % -- no gain at this budget (all three against that run's
    own fast-tsp references, which can read low: README, *The TSP references*; the comparison is within one
    run, on one set). Returns the loss and the mean sampled tour length.
    """
    B, n, _ = points.shape

    def draw(logp: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(logp.exp(), 1, generator=gen)[:, 0]

    tours, logp = model.all_starts(points, draw)  # (B, n, n), (B, n)
    length = tour_lengths(points.repeat_interleave(n, dim=0), tours.view(B * n, n)).view(B, n)  # (B, n)
    advantage = length.mean(dim=1, keepdim=True) - length  # shorter than the shared baseline -> positive
    loss = -(advantage.detach() * logp).mean()
    if imitation > 0:
        if rng is None:
            raise ValueError("self-imitation draws its starts from rng; pass one")
        best = tours[torch.arange(B, device=points.device), length.argmin(dim=1)]  # (B, n): one cycle each
        best = random_start(best.repeat_interleave(starts, dim=0).cpu(), rng).to(points.device)  # (B*starts, n)
        loss = loss + imitation * imitation_loss(model, points.repeat_interleave(starts, dim=0), best)
    return loss, float(length.mean())
