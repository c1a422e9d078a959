"""Pointer models: the Ptr-Net (Vinyals et al. 2015) and the attention model (Kool et al. 2019).

Both expose the same step-by-step interface that :mod:`lab.pointer.decoding` drives:
``init_state(points) -> state``, ``logits(state) -> (B, m)``, ``advance(state, choice) -> state``,
``state.select(idx)``, plus ``architecture() -> dict`` for checkpoint cards.
"""

from __future__ import annotations

import torch.nn as nn

from lab.core.errors import LabInputError
from lab.pointer.models.attention_model import AttentionModel
from lab.pointer.models.ptrnet import PointerNetwork

MODELS = {"ptrnet": PointerNetwork, "am": AttentionModel}


def build_model(architecture: dict) -> nn.Module:
    """A freshly initialised model from a card's ``architecture`` mapping."""
    arch = dict(architecture)
    kind = arch.pop("model", None)
    if kind == "ptrnet":
        return PointerNetwork(task=arch.get("task", "tsp"), hidden=int(arch.get("hidden", 128)),
                              layers=int(arch.get("layers", 1)), input_order=str(arch.get("input_order", "given")))
    if kind == "am":
        if arch.get("task", "tsp") != "tsp":
            raise LabInputError("the attention model solves only the TSP; use the Ptr-Net for hull and Delaunay.")
        return AttentionModel(hidden=int(arch.get("hidden", 128)), layers=int(arch.get("layers", 3)),
                              heads=int(arch.get("heads", 8)), ff=int(arch.get("ff", 512)),
                              clip=float(arch.get("clip", 10.0)), start_head=bool(arch.get("start_head", False)))
    raise LabInputError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}.")


__all__ = ["MODELS", "AttentionModel", "PointerNetwork", "build_model"]
