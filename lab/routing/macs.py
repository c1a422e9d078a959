"""Multiply-accumulates counted from the layers themselves, by running one input through them.

A forward hook on every ``Conv1d``/``Conv2d``/``Linear`` reads the real input and output shapes:

- ``Conv``: ``out_elements * (in_channels / groups) * prod(kernel)``;
- ``Linear``: ``out_elements * in_features`` (``out_elements`` counts every output row);
- pooling, activations, softmax: 0 (comparisons and a handful of adds, not MACs).

:func:`exit_costs` gives, per exit, the MACs of its block, its classifier and its gate, and the
*cumulative* cost of stopping there: every block, classifier (and gate, when the policy uses gates)
up to and including it, because a sample that stops at exit ``k`` has computed exits ``0..k-1`` too.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
import torch
from torch import nn


def layer_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    """MACs of one call of a conv or linear layer (0 for anything else)."""
    if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
        per_output = (module.in_channels // module.groups) * prod(module.kernel_size)
        return int(output.numel() * per_output)
    if isinstance(module, nn.Linear):
        return int(output.numel() * module.in_features)
    return 0


def count_macs(fn, *args: torch.Tensor, modules: nn.Module) -> int:
    """MACs of ``fn(*args)`` summed over the conv/linear layers of ``modules`` it calls (per call, batch included)."""
    total = [0]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        total[0] += layer_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in modules.modules()
               if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear)]
    try:
        with torch.no_grad():
            fn(*args)
    finally:
        for h in handles:
            h.remove()
    return total[0]


@dataclass(frozen=True)
class ExitCosts:
    """MACs per input. ``block``, ``head``, ``gate``: (E,) each (the last gate is 0, there is none)."""

    block: np.ndarray
    head: np.ndarray
    gate: np.ndarray

    @property
    def baseline(self) -> int:
        """The static network: every block and the last classifier only."""
        return int(self.block.sum() + self.head[-1])

    def cumulative(self, with_gates: bool = False) -> np.ndarray:
        """(E,) MACs of stopping at each exit (blocks, classifiers and optionally gates up to it)."""
        per = self.block + self.head + (self.gate if with_gates else 0)
        return np.cumsum(per).astype(np.float64)

    def to_json(self) -> dict:
        return {"block": self.block.tolist(), "head": self.head.tolist(), "gate": self.gate.tolist(),
                "baseline": self.baseline, "cumulative": self.cumulative().tolist(),
                "cumulative_with_gates": self.cumulative(True).tolist()}


def exit_costs(model: nn.Module) -> ExitCosts:
    """Count each block, exit classifier and gate of an :class:`~lab.routing.model.ExitNet` on one input."""
    x = torch.zeros((1, *model.arch.input_shape))
    blocks, heads, gates = [], [], []
    h = x
    for k in range(model.n_exits):
        blocks.append(count_macs(model.blocks[k], h, modules=model.blocks[k]))
        with torch.no_grad():
            h = model.blocks[k](h)
        feats = model.exit_features(k, h)
        heads.append(count_macs(lambda h=h, k=k: model.classify(k, model.exit_features(k, h)), modules=model.exits[k]))
        if k < model.n_exits - 1:
            z = model.classify(k, feats)
            gates.append(count_macs(lambda f=feats, z=z, k=k: model.gate(k, f, z), modules=model.gates[k]))
        else:
            gates.append(0)
    return ExitCosts(np.array(blocks, dtype=np.int64), np.array(heads, dtype=np.int64), np.array(gates, dtype=np.int64))
