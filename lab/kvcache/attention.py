"""The attention the KV lab reads compressed caches with, and the lock around the shared model.

Split from :mod:`lab.kvcache.compress`: eager attention that applies kvpress's AdaKV per-head masks exactly
(:func:`register_attention`), switching a model's attention implementation for a while
(:func:`attention_impl`), and the helpers that find a model's decoder layers and clear the masks AdaKV
leaves on them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

#: The attention implementation the lab reads with: eager, returning weights, with kvpress's AdaKV masking.
LAB_ATTENTION = "kvlab_eager"
#: One model is shared by the page's sessions and jobs; a compression changes its attention setting for a while.
MODEL_LOCK = threading.RLock()
_REGISTERED = False


def register_attention() -> None:
    """Register :data:`LAB_ATTENTION` with transformers once: eager attention that honours AdaKV's masks.

    kvpress applies AdaKV's per-head masks by overwriting the masked keys with a fake key that no query of
    the read can attend to (a hyperplane search); with the lab's small heads (head_dim 8-32) and a whole
    question read at once, no such key may exist and kvpress raises. The same masks are applied here
    exactly instead, as -inf in the additive attention mask of the masked (batch, head, position).
    """
    global _REGISTERED
    if _REGISTERED:
        return
    import kvpress  # noqa: F401  (kvpress patches transformers' attention functions on import)
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.llama.modeling_llama import eager_attention_forward

    def eager(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        masked = getattr(module, "masked_key_indices", None)
        if query.shape[2] == key.shape[2]:
            module.masked_key_indices = None  # a prefill: masks are for the reads after it (as kvpress does)
        elif masked is not None:
            b, heads, _, k_len = query.shape[0], query.shape[1], query.shape[2], key.shape[2]
            block = torch.zeros(b, key.shape[1], k_len, dtype=query.dtype, device=query.device)
            batch_i, head_i, seq_i = (t.to(query.device) for t in masked)
            block[batch_i, head_i, seq_i] = float("-inf")
            block = block.repeat_interleave(heads // key.shape[1], dim=1)[:, :, None, :]  # (B, H, 1, K)
            attention_mask = block if attention_mask is None else attention_mask + block
        return eager_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                       **kwargs)

    ALL_ATTENTION_FUNCTIONS.register(LAB_ATTENTION, eager)
    ALL_MASK_ATTENTION_FUNCTIONS.register(LAB_ATTENTION, eager_mask)
    _REGISTERED = True


@contextmanager
def attention_impl(model: Any, name: str) -> Iterator[None]:
    """Run ``model`` with attention implementation ``name`` for a while (restored after)."""
    before = model.config._attn_implementation
    model.config._attn_implementation = name
    try:
        yield
    finally:
        model.config._attn_implementation = before


def model_layers(model: Any) -> list[Any]:
    """The decoder layers of a Llama-style causal LM (or of a multimodal one's language model)."""
    inner = model.model.language_model if hasattr(model.model, "language_model") else model.model
    return list(inner.layers)


def clear_masks(model: Any) -> None:
    """Remove AdaKV's per-head masks from every attention module of ``model``."""
    for layer in model_layers(model):  # AdaKV's masks live on the modules: never let them leak into the next read
        if getattr(layer.self_attn, "masked_key_indices", None) is not None:
            layer.self_attn.masked_key_indices = None
