"""A backbone with a classifier exit after every block, and a gate per exit (BranchyNet, JEI-DNN).

Images (digits, (B, 1, 8, 8)) go through a small CNN; vectors (MNIST-1D, CSV features, (B, D)) through
an MLP. After block ``k`` an *exit* head classifies from the block's features, and a *gate* reads the
exit's features and its (detached) class probabilities and says whether to stop there. The last exit
has no gate: whoever reaches it stops.

Costs are counted from the layers (:mod:`lab.routing.macs`), never written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Gates read the exit's pooled features and these summaries of its probabilities.
GATE_STATS = 4  # top-1 prob, top-2 prob, their margin, normalised entropy


@dataclass(frozen=True)
class Architecture:
    """What a checkpoint's card records (``kind``, ``input_shape``, ``n_classes``, ``width``, ``blocks``)."""

    kind: str  # "image" or "vector"
    input_shape: tuple[int, ...]
    n_classes: int
    width: int = 16
    blocks: int = 4
    pool: int = 2  # image exits average-pool to pool x pool: 1 (global) leaves early exits blind to "where"

    def to_dict(self) -> dict:
        return {"model": "exitnet", "kind": self.kind, "input_shape": list(self.input_shape),
                "n_classes": self.n_classes, "width": self.width, "blocks": self.blocks, "pool": self.pool}

    @classmethod
    def from_dict(cls, d: dict) -> Architecture:
        return cls(d["kind"], tuple(d["input_shape"]), int(d["n_classes"]), int(d["width"]), int(d["blocks"]),
                   int(d.get("pool", 2)))


def _image_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.MaxPool2d(2)] if pool else []
    return nn.Sequential(*layers, nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU())


class ExitNet(nn.Module):
    """Backbone blocks, an exit classifier after each, a gate before each exit but the last.

    Image widths grow ``w, 2w, 4w, 4w, ...`` and the third block halves the resolution, so most of the
    compute is in the late blocks, where an early exit saves it.
    """

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        w, e = arch.width, arch.blocks
        self.blocks, self.exits, self.gates = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        if arch.kind == "image":
            widths = [w * min(2**k, 4) for k in range(e)]
            c_in = arch.input_shape[0]
            for k, c in enumerate(widths):
                self.blocks.append(_image_block(c_in, c, pool=k == 2))
                # (B, c, h, w) -> (B, c, pool, pool) -> (B, c pool^2): a cheap branch, as in BranchyNet
                self.exits.append(nn.Sequential(nn.AdaptiveAvgPool2d(arch.pool), nn.Flatten(),
                                                nn.Linear(arch.pool**2 * c, arch.n_classes)))
                c_in = c
        else:
            d = arch.input_shape[0]
            for _ in range(e):
                self.blocks.append(nn.Sequential(nn.Linear(d, 8 * w), nn.ReLU()))
                self.exits.append(nn.Linear(8 * w, arch.n_classes))
                d = 8 * w
        for k in range(e - 1):
            head = self.exits[k]
            f = head[2].in_features if isinstance(head, nn.Sequential) else head.in_features
            self.gates.append(nn.Linear(f + GATE_STATS, 1))

    @property
    def n_exits(self) -> int:
        return len(self.blocks)

    def exit_features(self, k: int, h: torch.Tensor) -> torch.Tensor:
        """The features exit ``k``'s classifier and gate read: (B, F)."""
        head = self.exits[k]
        if isinstance(head, nn.Sequential):
            return head[1](head[0](h))  # pooled and flattened
        return h

    def classify(self, k: int, feats: torch.Tensor) -> torch.Tensor:
        head = self.exits[k]
        return head[2](feats) if isinstance(head, nn.Sequential) else head(feats)

    def gate(self, k: int, feats: torch.Tensor, logits: torch.Tensor, attached: bool = False) -> torch.Tensor:
        """Gate logit (B,) of exit ``k`` from features (B, F) and class logits (B, C).

        Training detaches both, so the gates' loss never moves the exits; ``attached`` keeps the gradient
        to the input (an attack on the gates, :mod:`lab.routing.robustness`).
        """
        if not attached:
            feats, logits = feats.detach(), logits.detach()
        return self.gates[k](torch.cat([feats, prob_stats(logits)], dim=1)).squeeze(1)

    def forward(self, x: torch.Tensor, attached: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Every exit on every input: logits (E, B, C) and gate logits (E-1, B) (``attached``: see :meth:`gate`)."""
        logits, gates = [], []
        h = x
        for k in range(self.n_exits):
            h = self.blocks[k](h)
            feats = self.exit_features(k, h)
            z = self.classify(k, feats)
            logits.append(z)
            if k < self.n_exits - 1:
                gates.append(self.gate(k, feats, z, attached))
        gate_t = torch.stack(gates) if gates else x.new_zeros((0, x.shape[0]))
        return torch.stack(logits), gate_t

    def static_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network with its last exit only (the baseline an early exit is compared with): (B, C)."""
        h = x
        for block in self.blocks:
            h = block(h)
        k = self.n_exits - 1
        return self.classify(k, self.exit_features(k, h))


def prob_stats(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) logits -> (B, 4): top-1 and top-2 probability, their margin, entropy / log C."""
    p = torch.softmax(logits, dim=-1)
    top = p.topk(min(2, p.shape[-1]), dim=-1).values
    top2 = top[:, 1] if top.shape[1] > 1 else torch.zeros_like(top[:, 0])
    ent = -(p * torch.log(p.clamp_min(1e-12))).sum(-1) / torch.log(torch.tensor(float(p.shape[-1])))
    return torch.stack([top[:, 0], top2, top[:, 0] - top2, ent], dim=1)
