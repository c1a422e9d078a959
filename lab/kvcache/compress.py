"""Apply a kvpress press to a batch of prompts and record, per layer and head, which positions it keeps.

Two modes (Physics of KV-cache compression, 2026):

- **question-agnostic**: the context alone is prefilled under the press (compressed before anyone knows
  the question), then the question is read against the compressed cache and the answer is predicted at its
  last token;
- **question-aware**: the context *and* the question up to its last token are prefilled under the press
  (scorers such as SnapKV then see the question), and the last question token is read against the compressed
  cache to predict the answer. Question tokens may be evicted too.

Either way the prompt's positions are ``0 .. T-1`` with ``T = Lc + Lq``, the compressed ones are
``0 .. S-1`` (``S = Lc`` or ``T - 1``), and the answer position is ``T - 1`` -- unless the task has the model
*write* ``W`` tokens before its answer (multi-hop writes the chain's middle): then :func:`write_tokens` reads
them greedily, one at a time, against the same compressed cache (as generation would), and the answer is
predicted at ``T + W - 1``, after the last written token.

Speed: a press changes only what the cache *keeps* after each layer's attention has run on the full
prompt, so the prefill's computation is the same under every press and ratio. :func:`prefill` runs it
once and captures, per layer, what kvpress's forward hook would hand the press (hidden states, keys,
values, attention weights, position embeddings); :func:`apply_press` then calls the press's own
``compress`` on those inputs, layer by layer, exactly as ``BasePress.forward_hook`` does, and
:func:`read_answer` reads the question against the compressed cache. A sweep point thus costs the
press's scoring and a read of a few tokens, not a prefill. :func:`compress_batch_hooked` runs the
press the ordinary way (``with press(model): model(...)``); the tests check both give the same.

Which positions a press keeps is read from the press itself (:mod:`lab.kvcache.keep`). The reads run
with eager attention that applies AdaKV's per-head masks (``kvlab_eager``, registered by
:func:`lab.kvcache.attention.register_attention`), so that the answer position's attention weights
come back.

>>> from lab.kvcache.model import random_model                                    # doctest: +SKIP
>>> out = compress_batch(random_model().model, batch, "snapkv", 0.5)              # doctest: +SKIP
>>> out.keep.shape, out.attention.shape     # (B, layers, kv heads, S), (B, layers, heads, T)   # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from lab.kvcache.attention import (
    LAB_ATTENTION,
    MODEL_LOCK,
    attention_impl,
    clear_masks,
    model_layers,
    register_attention,
)
from lab.kvcache.keep import keep_mask
from lab.kvcache.presses import check_press


def _call_compress(compress: Any, module: Any, hidden: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                   attentions: torch.Tensor | None, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(module, "masked_key_indices"):
        module.masked_key_indices = None  # AdaKV sets it; a stale one from an earlier read must not be taken
    return compress(module, hidden, keys, values, attentions, kwargs)


@dataclass
class Compressed:
    """What one compressed read of a batch gives.

    Attributes
    ----------
    keep : (B, layers, Hkv, S) bool
        Which of the compressed positions each key/value head of each layer keeps.
    attention : (B, layers, H, T) float
        The answer position's attention over the prompt's positions (0 where evicted); empty when not asked.
    logits : (B, V) float
        The next-token logits at the answer position.
    context_len, prompt_len : int
        ``Lc`` and ``T``.
    written : (B, W) long
        The tokens the model wrote before its answer (W = 0 for most tasks); ``attention`` leaves their
        columns out.
    """

    keep: torch.Tensor
    attention: torch.Tensor
    logits: torch.Tensor
    context_len: int
    prompt_len: int
    written: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.long))

    @property
    def keep_context(self) -> torch.Tensor:
        """(B, layers, Hkv, Lc) bool: the keep mask over context positions."""
        return self.keep[..., : self.context_len]


@dataclass
class Prefill:
    """One uncompressed prefill, captured per layer as kvpress's forward hook sees it.

    ``hidden[i]`` (B, S, D) the attention input, ``keys[i]``/``values[i]`` (B, Hkv, S, d), ``attentions[i]``
    (B, H, S, S) or None (captured only for presses that read them), ``kwargs[i]`` the attention call's
    keyword arguments (position embeddings, cache position); ``rest`` (B, q) the tokens read afterwards;
    ``steps`` how many tokens the model writes before its answer (:func:`write_tokens`).
    """

    hidden: list[torch.Tensor]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    attentions: list[torch.Tensor | None]
    kwargs: list[dict]
    rest: torch.Tensor
    context_len: int
    prompt_len: int
    steps: int = 0

    @property
    def compressed_len(self) -> int:
        """S: the positions the press sees (context, or context + question[:-1])."""
        return self.prompt_len - int(self.rest.shape[1])

    def nbytes(self) -> int:
        parts = self.hidden + self.keys + self.values + [a for a in self.attentions if a is not None]
        return sum(p.numel() * p.element_size() for p in parts)


def _split(context: torch.Tensor, question: torch.Tensor, question_aware: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(prefix compressed under the press, tokens read after it)."""
    if question_aware and question.shape[1] > 1:
        return torch.cat([context, question[:, :-1]], dim=1), question[:, -1:]
    return context, question


@torch.no_grad()
def prefill(model: Any, context: torch.Tensor, question: torch.Tensor, *, question_aware: bool = False,
            attentions: bool = False, steps: int = 0) -> Prefill:
    """Run the uncompressed prefill once and capture every layer's press inputs (see the module docstring).

    ``attentions``: also capture the (B, H, S, S) attention weights (eager prefill; H2O reads them);
    ``steps``: tokens the model writes before its answer (:attr:`lab.kvcache.tasks.TaskBatch.steps`).
    """
    from transformers import DynamicCache

    register_attention()
    device = next(model.parameters()).device
    prefix, rest = _split(context, question, question_aware)
    layers = model_layers(model)
    n = len(layers)
    hidden: list = [None] * n
    atts: list = [None] * n
    kws: list = [None] * n

    def hook(module, args, kwargs, output):
        i = int(module.layer_idx)
        hidden[i] = kwargs["hidden_states"]
        atts[i] = output[1] if attentions else None
        kws[i] = {k: kwargs[k] for k in ("position_embeddings", "cache_position", "attention_mask") if k in kwargs}
        return output

    inner = model.model.language_model if hasattr(model.model, "language_model") else model.model
    handles = []
    cache = DynamicCache()
    with MODEL_LOCK:
        try:
            for layer in layers:
                layer.self_attn.rotary_emb = inner.rotary_emb  # as kvpress's context manager does (expected attention)
                handles.append(layer.self_attn.register_forward_hook(hook, with_kwargs=True))
            with attention_impl(model, LAB_ATTENTION if attentions else "sdpa"):
                model.model(input_ids=prefix.to(device), past_key_values=cache)
        finally:
            for handle in handles:
                handle.remove()
            clear_masks(model)
    keys = [cache.layers[i].keys for i in range(n)]
    values = [cache.layers[i].values for i in range(n)]
    return Prefill(hidden, keys, values, atts, kws, rest, int(context.shape[1]),
                   int(context.shape[1] + question.shape[1]), int(steps))


def make(press: str | Any | None, ratio: float, seed: int = 0) -> tuple[Any, bool]:
    """(a kvpress press (None for no press), whether it reads the prefill's attention weights).

    At ratio 0 the press is still built and run: kvpress's own presses then return the cache unchanged.
    """
    if press is None:
        return None, False
    if isinstance(press, str):
        spec = check_press(press)
        return spec.make(float(ratio), int(seed)), spec.needs_eager
    press.compression_ratio = float(ratio)
    return press, type(press).__name__ == "ObservedAttentionPress"


@torch.no_grad()
def apply_press(model: Any, pre: Prefill, press: Any | None, *, needs_attention: bool = False) -> tuple[
        list[torch.Tensor], list[torch.Tensor], torch.Tensor, list[torch.Tensor | None]]:
    """Call ``press.compress`` on every layer's captured inputs, as ``BasePress.forward_hook`` would.

    Returns the compressed keys and values per layer, the keep mask (B, layers, Hkv, S) and per layer the
    kept rows' positions (B, Hkv, n) (None where the rows are the positions). AdaKV leaves its masks on
    the modules for :func:`read_answer`.
    """
    layers = model_layers(model)
    b, hkv, s, _ = pre.keys[0].shape
    keep = torch.ones(b, len(layers), hkv, s, dtype=torch.bool)
    if press is None:
        return list(pre.keys), list(pre.values), keep, [None] * len(layers)
    press.post_init_from_model(model)
    keys, values, index = [], [], []
    with MODEL_LOCK, attention_impl(model, LAB_ATTENTION):  # AdaKV refuses plain eager; this one applies its masks
        for i, layer in enumerate(layers):
            attn = pre.attentions[i] if needs_attention else None
            if needs_attention and attn is None:
                raise ValueError("this press reads the prefill's attention weights; prefill with attentions=True")
            kwargs = {"hidden_states": pre.hidden[i], **pre.kwargs[i]}
            k, v = _call_compress(press.compress, layer.self_attn, pre.hidden[i], pre.keys[i], pre.values[i], attn, kwargs)
            mask, idx = keep_mask(layer.self_attn, pre.keys[i], k)
            keep[:, i] = mask
            keys.append(k)
            values.append(v)
            index.append(idx)
    return keys, values, keep, index


def _to_positions(att: torch.Tensor, index: torch.Tensor | None, compressed: int, prompt_len: int) -> torch.Tensor:
    """Attention over cache rows -> over prompt positions.

    att (B, H, R, n + q) over the cache's rows (n kept, then the q tokens read); index (B, Hkv, n) positions of
    the kept rows (None: rows are positions 0..n-1). Returns (B, H, R, T), 0 at evicted positions.
    """
    b, heads, r, rows = att.shape
    out = att.new_zeros(b, heads, r, prompt_len)
    n = rows - (prompt_len - compressed)
    if index is None:
        out[..., :n] = att[..., :n]
    else:  # GQA: each query head reads its kv head's rows
        per_head = index.repeat_interleave(heads // index.shape[1], dim=1)[:, :, None, :].expand(b, heads, r, n)
        out.scatter_(3, per_head, att[..., :n])
    out[..., compressed:] = att[..., n:]
    return out


@torch.no_grad()
def read_answer(model: Any, pre: Prefill, keys: list[torch.Tensor], values: list[torch.Tensor],
                index: list[torch.Tensor | None], *, attention: bool = True,
                all_rows: bool = False, keep_masks: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``pre.rest`` against a (compressed) cache.

    Returns logits (B, V) at the answer position and its attention (B, layers, H, T) over the prompt's
    positions, or with ``all_rows`` the attention of every token read (B, layers, H, q, T). ``keep_masks``
    leaves AdaKV's masks on the modules for another read (:func:`write_tokens`).
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    cache = DynamicCache()
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        cache.update(k, v, i)
    s, t = pre.compressed_len, pre.prompt_len
    positions = torch.arange(s, t, device=device).unsqueeze(0)
    with MODEL_LOCK:
        try:
            with attention_impl(model, LAB_ATTENTION):
                out = model(input_ids=pre.rest.to(device), past_key_values=cache, position_ids=positions,
                            output_attentions=attention or all_rows, logits_to_keep=1)
        finally:
            if not keep_masks:
                clear_masks(model)
    att = torch.zeros(0)
    if attention or all_rows:
        pick = slice(None) if all_rows else slice(-1, None)
        att = torch.stack([_to_positions(a[:, :, pick, :].float().cpu(), index[i], s, t)
                           for i, a in enumerate(out.attentions)], dim=1)
        if not all_rows:
            att = att[:, :, :, 0, :]
    return out.logits[:, -1, :].float().cpu(), att


@torch.no_grad()
def write_tokens(model: Any, pre: Prefill, keys: list[torch.Tensor], values: list[torch.Tensor],
                 index: list[torch.Tensor | None]) -> tuple[torch.Tensor, Prefill]:
    """Greedily write ``pre.steps`` tokens after the question, each read against the compressed cache.

    Returns the written tokens (B, W) and the prefill with them appended to what is read (``rest``), so
    that :func:`read_answer` on it predicts the answer after the last one. AdaKV's masks stay on.
    """
    written = pre.rest[:, :0]
    for _ in range(pre.steps):
        logits, _ = read_answer(model, pre, keys, values, index, attention=False, keep_masks=True)
        token = logits.argmax(-1, keepdim=True).to(pre.rest.device)  # (B, 1)
        written = torch.cat([written, token], dim=1)
        pre = replace(pre, rest=torch.cat([pre.rest, token], dim=1), prompt_len=pre.prompt_len + 1)
    return written, pre


def _write_and_read(model: Any, pre: Prefill, keys: list[torch.Tensor], values: list[torch.Tensor],
                    index: list[torch.Tensor | None], attention: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The written tokens (B, W), the answer's logits (B, V) and its attention over the prompt (B, layers, H, T)."""
    written, read = write_tokens(model, pre, keys, values, index)
    logits, att = read_answer(model, read, keys, values, index, attention=attention)
    return written.cpu(), logits, att[..., : pre.prompt_len] if attention else att  # not the written tokens' columns


def compress_prefill(model: Any, pre: Prefill, press: str | Any | None, ratio: float, *, seed: int = 0,
                     attention: bool = True) -> Compressed:
    """One press at one ratio on a captured prefill: keep masks, the written tokens, answer logits and
    the answer position's attention over the prompt."""
    obj, needs = make(press, ratio, seed)
    with MODEL_LOCK:  # AdaKV's masks stay on the modules between apply_press and read_answer
        keys, values, keep, index = apply_press(model, pre, obj, needs_attention=needs)
        written, logits, att = _write_and_read(model, pre, keys, values, index, attention)
    return Compressed(keep, att, logits, pre.context_len, pre.prompt_len, written)


def compress_batch(model: Any, context: torch.Tensor, question: torch.Tensor, press: str | Any | None,
                   ratio: float = 0.0, *, question_aware: bool = False, seed: int = 0,
                   attention: bool = True, steps: int = 0) -> Compressed:
    """Prefill ``context`` (and the question in question-aware mode), compress it with a press, read the answer.

    Parameters
    ----------
    model : a causal LM with a Llama-style layout (``model.model.layers[i].self_attn``).
    context : (B, Lc) long
    question : (B, Lq) long; the answer is predicted at its last token.
    press : a name from :mod:`lab.kvcache.presses`, a kvpress press instance, or None (no compression).
    ratio : fraction of key/value pairs evicted, in [0, 1); 0 keeps everything (no press runs).
    question_aware : compress context + question[:-1] instead of the context alone.
    seed : the random press's seed.
    attention : also return the answer position's attention.
    steps : tokens the model writes before its answer (:attr:`lab.kvcache.tasks.TaskBatch.steps`).
    """
    _, needs = make(press, ratio, seed)
    pre = prefill(model, context, question, question_aware=question_aware, attentions=needs, steps=steps)
    return compress_prefill(model, pre, press, ratio, seed=seed, attention=attention)


@torch.no_grad()
def compress_batch_hooked(model: Any, context: torch.Tensor, question: torch.Tensor, press: str | Any | None,
                          ratio: float = 0.0, *, question_aware: bool = False, seed: int = 0,
                          steps: int = 0) -> Compressed:
    """:func:`compress_batch` the ordinary kvpress way (``with press(model): model(...)``), to check the replay."""
    from transformers import DynamicCache

    register_attention()
    obj, needs = make(press, ratio, seed)
    device = next(model.parameters()).device
    prefix, rest = _split(context, question, question_aware)
    layers = model_layers(model)
    b = context.shape[0]
    hkv = int(getattr(model.config, "num_key_value_heads", None) or model.config.num_attention_heads)
    keep = torch.ones(b, len(layers), hkv, prefix.shape[1], dtype=torch.bool)
    index: list[torch.Tensor | None] = [None] * len(layers)
    if obj is not None:
        original = obj.compress

        def recording(module, hidden_states, keys, values, attentions, kwargs):
            k, v = _call_compress(original, module, hidden_states, keys, values, attentions, kwargs)
            keep[:, module.layer_idx], index[module.layer_idx] = keep_mask(module, keys, k)
            return k, v

        obj.compress = recording
    cache = DynamicCache()
    pre = Prefill([], [], [], [], [], rest, int(context.shape[1]), int(context.shape[1] + question.shape[1]), steps)
    with MODEL_LOCK:
        with attention_impl(model, LAB_ATTENTION if needs else "sdpa"):
            with obj(model) if obj is not None else nullcontext():
                model.model(input_ids=prefix.to(device), past_key_values=cache)
        keys = [cache.layers[i].keys for i in range(len(layers))]
        values = [cache.layers[i].values for i in range(len(layers))]
        written, logits, att = _write_and_read(model, pre, keys, values, index, True)
    return Compressed(keep, att, logits, pre.context_len, pre.prompt_len, written)


__all__ = ["Compressed", "Prefill", "prefill", "apply_press", "read_answer", "write_tokens", "compress_prefill",
           "compress_batch",
           "compress_batch_hooked", "register_attention", "attention_impl", "make",
           "LAB_ATTENTION", "MODEL_LOCK"]
