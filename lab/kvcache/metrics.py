"""What compression does, measured: accuracy, hallucination, eviction, retention, accessibility, consensus.

Definitions (Physics of KV-cache compression, 2026, at the lab's scale). Shapes: B samples, L layers,
Hkv key/value heads, H attention heads, Lc context positions, T prompt positions.

- **accuracy**: the argmax of the answer position's next-token distribution is the answer.
- **hallucination**: a *confident* wrong answer that is a valid entity of the sample: the prediction is one
  of the sample's candidates, not the answer, and its probability is at least
  :data:`CONFIDENT` (0.5: the model puts more mass on that one wrong entity than on everything else
  together). A wrong but unsure answer, or a token that is no entity, is an error, not a hallucination.
- **Global Eviction Ratio** (GER) of a layer: the fraction of answer-relevant context tokens that *no*
  head of the layer keeps (pooled over samples); ``ger`` is the mean over layers.
- **retention**: the fraction of samples whose answer-relevant tokens all survive, each kept by at least
  one head in every layer (the information is still in the cache somewhere).
- **utilization**: accuracy over the retained samples (the information was there: was it used?); None
  when no sample is retained.
- **accessibility**: the attention mass the answer position puts on retained answer-relevant tokens,
  averaged over heads, layers and samples (evicted tokens receive no attention, so this is the mass on
  answer-relevant tokens after compression).
- **head consensus** of a layer: distinct top-attended positions across the heads / heads, for the answer
  position (1/H: every head looks at the same token; 1: every head at a different one), mean over samples.
- **susceptibility**: d(hallucination rate)/d(ratio), by finite differences along the swept ratios.
- **cliff**: the ratio at which accuracy first falls below half its uncompressed value, interpolated
  linearly between the two swept ratios around the crossing (the uncompressed point is ratio 0); None if
  it never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

#: A prediction with at least this probability is confident (hallucination rate).
CONFIDENT = 0.5


def predictions(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(argmax (B,) long, its probability (B,) float) of logits (B, V)."""
    probs = torch.softmax(logits.float(), dim=-1)
    conf, pred = probs.max(dim=-1)
    return pred, conf


def hallucinated(pred: torch.Tensor, conf: torch.Tensor, answer: torch.Tensor, candidates: torch.Tensor,
                 threshold: float = CONFIDENT) -> torch.Tensor:
    """(B,) bool: confident (``conf >= threshold``) prediction of a wrong candidate (candidates (B, C))."""
    valid = (candidates == pred[:, None]).any(dim=1)
    return valid & (pred != answer) & (conf >= threshold)


def evicted_relevant(keep: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(B, L) counts of answer-relevant context tokens no head of the layer keeps.

    keep (B, L, Hkv, Lc) bool, relevant (B, Lc) bool.
    """
    kept_any = keep.any(dim=2)  # (B, L, Lc)
    return (relevant[:, None, :] & ~kept_any).sum(dim=-1)


def ger_per_layer(keep: torch.Tensor, relevant: torch.Tensor) -> np.ndarray:
    """(L,) Global Eviction Ratio per layer, pooled over the batch (0 when nothing is relevant)."""
    total = int(relevant.sum())
    return evicted_relevant(keep, relevant).sum(dim=0).double().numpy() / max(total, 1)


def retained(keep: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(B,) bool: every answer-relevant token is kept by at least one head in every layer."""
    return evicted_relevant(keep, relevant).sum(dim=1) == 0


def accessibility(attention: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """(B, L) attention mass of the answer position on answer-relevant context tokens, mean over heads.

    attention (B, L, H, T) over prompt positions (0 on evicted ones), relevant (B, Lc).
    """
    lc = relevant.shape[1]
    mass = (attention[..., :lc] * relevant[:, None, None, :].to(attention.dtype)).sum(dim=-1)  # (B, L, H)
    return mass.mean(dim=-1)


def consensus(attention: torch.Tensor) -> torch.Tensor:
    """(B, L) distinct top-attended positions across heads / heads, for the answer position.

    attention (B, L, H, T). 1/H when all heads agree, 1 when all differ.
    """
    top = attention.argmax(dim=-1).sort(dim=-1).values  # (B, L, H)
    distinct = 1 + (top[..., 1:] != top[..., :-1]).sum(dim=-1)
    return distinct.double() / top.shape[-1]


@dataclass
class PointStats:
    """Per-sample measurements of one (press, ratio) point, concatenated over batches."""

    correct: list[np.ndarray] = field(default_factory=list)  # (B,) bool
    halluc: list[np.ndarray] = field(default_factory=list)  # (B,) bool
    retained: list[np.ndarray] = field(default_factory=list)  # (B,) bool
    evicted: list[np.ndarray] = field(default_factory=list)  # (B, L) counts
    relevant: list[np.ndarray] = field(default_factory=list)  # (B,) counts
    access: list[np.ndarray] = field(default_factory=list)  # (B, L)
    consensus: list[np.ndarray] = field(default_factory=list)  # (B, L)
    kept_fraction: list[np.ndarray] = field(default_factory=list)  # (B,) fraction of (layer, head, position) kept

    def add(self, keep: torch.Tensor, attention: torch.Tensor, logits: torch.Tensor, answer: torch.Tensor,
            candidates: torch.Tensor, relevant: torch.Tensor) -> None:
        """Add one batch: keep (B, L, Hkv, Lc), attention (B, L, H, T), logits (B, V), answer (B,),
        candidates (B, C), relevant (B, Lc)."""
        pred, conf = predictions(logits)
        self.correct.append((pred == answer).numpy())
        self.halluc.append(hallucinated(pred, conf, answer, candidates).numpy())
        self.retained.append(retained(keep, relevant).numpy())
        self.evicted.append(evicted_relevant(keep, relevant).numpy())
        self.relevant.append(relevant.sum(dim=1).numpy())
        self.access.append(accessibility(attention, relevant).numpy())
        self.consensus.append(consensus(attention).numpy())
        self.kept_fraction.append(keep.float().mean(dim=(1, 2, 3)).numpy())

    def summary(self) -> dict:
        """The point's metrics (JSON-safe): accuracy, hallucination_rate, ger, ger_per_layer, retention,
        utilization, accessibility, accessibility_per_layer, consensus (per layer), kept, samples."""
        correct, retain = np.concatenate(self.correct), np.concatenate(self.retained)
        evicted, rel = np.concatenate(self.evicted), np.concatenate(self.relevant)
        ger = evicted.sum(axis=0) / max(int(rel.sum()), 1)
        access = np.concatenate(self.access).mean(axis=0)
        return {
            "accuracy": float(correct.mean()),
            "hallucination_rate": float(np.concatenate(self.halluc).mean()),
            "ger": float(ger.mean()),
            "ger_per_layer": [float(g) for g in ger],
            "retention": float(retain.mean()),
            "utilization": float(correct[retain].mean()) if retain.any() else None,
            "accessibility": float(access.mean()),
            "accessibility_per_layer": [float(a) for a in access],
            "consensus": [float(c) for c in np.concatenate(self.consensus).mean(axis=0)],
            "kept": float(np.concatenate(self.kept_fraction).mean()),
            "samples": int(correct.size),
        }


def cliff(ratios: Sequence[float], accuracy: Sequence[float], uncompressed: float) -> float | None:
    """The ratio where accuracy first falls below ``uncompressed / 2``, linearly interpolated; None if never.

    ``ratios`` ascending (ratio 0 may be among them; the uncompressed point is taken as ratio 0 either way).
    """
    half = uncompressed / 2
    prev_r, prev_a = 0.0, uncompressed
    for r, a in zip(ratios, accuracy, strict=True):
        if a < half:
            if prev_a == a or r == prev_r:
                return float(r)
            return float(prev_r + (prev_a - half) / (prev_a - a) * (r - prev_r))
        prev_r, prev_a = float(r), float(a)
    return None


def susceptibility(ratios: Sequence[float], rate: Sequence[float]) -> list[float]:
    """d(rate)/d(ratio) at each swept ratio (central differences inside, one-sided at the ends)."""
    if len(ratios) < 2:
        return [0.0] * len(ratios)
    return [float(v) for v in np.gradient(np.asarray(rate, dtype=float), np.asarray(ratios, dtype=float))]


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation of two equally long sequences; None when either is constant or too short."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size < 3 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


__all__ = ["CONFIDENT", "predictions", "hallucinated", "evicted_relevant", "ger_per_layer", "retained",
           "accessibility", "consensus", "PointStats", "cliff", "susceptibility", "pearson"]
