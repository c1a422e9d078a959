"""Attention flow from the answer back to the context: uncompressed, evicted tokens dropped, or merged.

**Rollout** (Abnar & Zuidema 2020): each layer's attention, averaged over heads, with the residual stream
as an identity half, ``Â = (A + I) / 2``; the answer position's row of ``Â_L ... Â_1`` says how much of
what reaches the answer comes from each prompt position. Under compression a layer's matrix is what the
model actually computed: the prefill rows are uncompressed (the press evicts after the prefill's
attention has run), the rows of the tokens read afterwards attend only to what was kept.

**Merge** (in the spirit of Meta-Soft, 2026): :class:`MergePress` wraps a kvpress scorer press; it keeps
the same rows, but instead of dropping an evicted pair it adds its value into the kept pair of the same
head whose key is most similar (cosine), weighted by that similarity (negative similarities are not
merged): ``v_j <- (v_j + sum_i w_i v_i) / (1 + sum_i w_i)``. Keys stay as they are, so the routing to kept
tokens is unchanged and an evicted token's content still reaches the answer through its host. In the flow
graph the attention to a host is shared between it and its merged guests by the same weights.

What each loses (:meth:`FlowResult.summary`): dropping loses the evicted tokens' values (flow to them
survives only through the uncompressed prefill rows); merging keeps part of that flow but dilutes the
hosts' own values (``host_share``: the part of a kept token's value that is still its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from kvpress import BasePress, ScorerPress
from kvpress.utils import compute_n_kept

from lab.kvcache.attention import MODEL_LOCK
from lab.kvcache.compress import Prefill, apply_press, make, prefill, read_answer, write_tokens


@dataclass
class MergePress(BasePress):
    """Keep what ``press`` keeps; merge each evicted value into its most similar kept key's value (same head).

    A kvpress press like any other (``with MergePress(SnapKVPress(0.8))(model): ...``). ``merges[layer]``
    records (index (B, Hkv, n) kept positions, host (B, Hkv, S) the slot each position merges into, weight
    (B, Hkv, S) its merge weight (0 for kept or unmerged positions), total (B, Hkv, n) 1 + the guests' weights).
    """

    press: ScorerPress
    merges: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert isinstance(self.press, ScorerPress), "MergePress wraps a kvpress ScorerPress"

    def post_init_from_model(self, model: Any) -> None:
        self.press.post_init_from_model(model)

    @property
    def compression_ratio(self) -> float:
        return self.press.compression_ratio

    @compression_ratio.setter
    def compression_ratio(self, value: float) -> None:
        self.press.compression_ratio = value

    def compress(self, module, hidden_states, keys, values, attentions, kwargs):
        if self.compression_ratio == 0:
            return keys, values
        scores = self.press.score(module, hidden_states, keys, values, attentions, kwargs)  # (B, H, S)
        b, h, s, d = keys.shape
        n = compute_n_kept(s, self.compression_ratio)
        index = scores.topk(n, dim=-1).indices  # (B, H, n): the rows the wrapped press keeps
        kept_k = keys.gather(2, index[..., None].expand(b, h, n, d))
        dv = values.shape[-1]
        kept_v = values.gather(2, index[..., None].expand(b, h, n, dv))
        evicted = torch.ones(b, h, s, dtype=torch.bool, device=keys.device).scatter_(2, index, False)
        unit = torch.nn.functional.normalize
        sim = unit(keys.float(), dim=-1) @ unit(kept_k.float(), dim=-1).transpose(2, 3)  # (B, H, S, n)
        best, host = sim.max(dim=-1)  # (B, H, S)
        weight = best.clamp(min=0) * evicted
        total = torch.ones(b, h, n, device=keys.device).scatter_add_(2, host, weight)
        merged = kept_v.float().scatter_add(2, host[..., None].expand(b, h, s, dv), values.float() * weight[..., None])
        self.merges[int(module.layer_idx)] = (index.cpu(), host.cpu(), weight.cpu(), total.cpu())
        return kept_k, (merged / total[..., None]).to(values.dtype)


def rollout(layers: torch.Tensor) -> torch.Tensor:
    """Answer-row attention rollout. layers (B, L, T, T) head-averaged attention -> (B, T), sums to 1."""
    b, n_layers, t, _ = layers.shape
    eye = torch.eye(t, dtype=layers.dtype)
    row = torch.zeros(b, 1, t, dtype=layers.dtype)
    row[:, 0, -1] = 1.0
    for i in reversed(range(n_layers)):
        mixed = 0.5 * layers[:, i] + 0.5 * eye
        row = row @ (mixed / mixed.sum(dim=-1, keepdim=True))
    return row[:, 0]


def _share_merged(att: torch.Tensor, merge: tuple[torch.Tensor, ...], groups: int) -> torch.Tensor:
    """Split the attention on each host between it and its merged guests. att (B, H, q, T) -> same."""
    index, host, weight, total = merge
    s = host.shape[-1]
    own = 1.0 / total  # (B, Hkv, n): the share of a host's value that is its own
    host_pos = index.gather(-1, host)  # (B, Hkv, S) position of each position's host
    guest_share = weight / total.gather(-1, host)  # (B, Hkv, S)

    def rep(x: torch.Tensor) -> torch.Tensor:  # (B, Hkv, m) -> (B, H, 1, m): kv head -> its query heads
        return x.repeat_interleave(groups, dim=1)[:, :, None, :]

    out = att.clone()
    kept = torch.zeros_like(att[..., :s]).scatter_(3, rep(index).expand(*att.shape[:3], -1), rep(own).expand(
        *att.shape[:3], -1))
    out[..., :s] = att[..., :s] * kept
    out[..., :s] += att[..., :s].gather(3, rep(host_pos).expand(*att.shape[:3], -1)) * rep(guest_share)
    return out


@dataclass
class FlowResult:
    """Rollout from the answer under three variants: ``full``, ``drop`` and ``merge``.

    ``rollout[v]`` (B, T); ``layers[v]`` (B, L, T, T) head-averaged attention (kept for small batches only);
    ``probs[v]`` (B, V); ``gone`` (B, Lc) context tokens no head of any layer keeps; ``host_share`` (B,) the
    attention-weighted share of the kept tokens' values that is their own under merging; ``written[v]``
    (B, W) the tokens the model wrote before its answer (T counts them: the prompt, then these).
    """

    rollout: dict[str, torch.Tensor]
    layers: dict[str, torch.Tensor]
    probs: dict[str, torch.Tensor]
    answer: torch.Tensor
    relevant: torch.Tensor
    gone: torch.Tensor
    host_share: torch.Tensor
    written: dict[str, torch.Tensor] = field(default_factory=dict)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per variant: accuracy, KL(full || variant), rollout mass on relevant / gone context tokens."""
        lc = self.relevant.shape[1]
        out = {}
        for v, r in self.rollout.items():
            p = self.probs[v]
            kl = (self.probs["full"] * (self.probs["full"].clamp_min(1e-12).log() - p.clamp_min(1e-12).log())).sum(-1)
            out[v] = {"accuracy": float((p.argmax(-1) == self.answer).float().mean()),
                      "kl_from_full": float(kl.mean()),
                      "flow_relevant": float((r[:, :lc] * self.relevant).sum(-1).mean()),
                      "flow_gone": float((r[:, :lc] * self.gone).sum(-1).mean()),
                      "flow_context": float(r[:, :lc].sum(-1).mean())}
        out["merge"]["host_share"] = float(self.host_share.mean())
        return out


def _layer_matrices(pre: Prefill, read: torch.Tensor) -> torch.Tensor:
    """(B, L, T, T) head-averaged: prefill rows (uncompressed) then the rows read. read (B, L, H, q, T)."""
    b, n_layers, _, q, t = read.shape
    s = t - q
    out = torch.zeros(b, n_layers, t, t)
    for i in range(n_layers):
        out[:, i, :s, :s] = pre.attentions[i].float().mean(dim=1).cpu()
    out[:, :, s:, :] = read.mean(dim=2)
    return out


@torch.no_grad()
def flow(model: Any, batch: Any, press: str, ratio: float, *, question_aware: bool = False, seed: int = 0,
         keep_layers: bool | None = None) -> FlowResult:
    """Rollout of ``batch`` uncompressed, with ``press`` at ``ratio`` dropping, and with it merging.

    ``press`` must be a scorer press (see :data:`lab.kvcache.presses.PRESSES`, ``scorer``); ``keep_layers``
    keeps the per-layer matrices (default: batches of at most 8 prompts).
    """
    from lab.core.errors import LabInputError
    from lab.kvcache.presses import check_press

    if not check_press(press).scorer:
        raise LabInputError(f"the merge variant wraps a scorer press; {press} is not one (try snapkv).")
    keep_layers = batch.context.shape[0] <= 8 if keep_layers is None else keep_layers
    pre = prefill(model, batch.context, batch.question, question_aware=question_aware, attentions=True,
                  steps=batch.steps)
    groups = model.config.num_attention_heads // int(getattr(model.config, "num_key_value_heads", None)
                                                      or model.config.num_attention_heads)
    drop_obj, needs = make(press, ratio, seed)
    merge_obj = MergePress(make(press, ratio, seed)[0]) if ratio > 0 else None
    rollouts, layers, probs, written = {}, {}, {}, {}
    host_share = torch.ones(batch.context.shape[0])
    gone = torch.zeros(batch.relevant.shape, dtype=torch.bool)
    for name, obj in (("full", None), ("drop", drop_obj), ("merge", merge_obj)):
        with MODEL_LOCK:
            keys, values, keep, index = apply_press(model, pre, obj, needs_attention=needs)
            # the tokens the model writes first (multi-hop's middle) are part of the read: q = Lq (+ W)
            written[name], read_pre = write_tokens(model, pre, keys, values, index)
            logits, read = read_answer(model, read_pre, keys, values, index, all_rows=True)  # (B, L, H, q, T)
        if name == "drop":
            gone = ~keep[..., : pre.context_len].any(dim=2).any(dim=1)  # (B, Lc): no head of any layer keeps it
        if name == "merge" and obj is not None:
            shares = []
            for i in range(read.shape[1]):
                idx, _, _, total = obj.merges[i]
                on_kept = read[:, i, :, -1, :].gather(-1, idx.repeat_interleave(groups, dim=1))  # (B, H, n)
                own = (1.0 / total).repeat_interleave(groups, dim=1)
                shares.append((on_kept * own).sum(-1) / on_kept.sum(-1).clamp_min(1e-12))  # (B, H)
                read[:, i] = _share_merged(read[:, i], obj.merges[i], groups)
            host_share = torch.stack(shares, dim=1).mean(dim=(1, 2))
        matrices = _layer_matrices(read_pre, read)
        rollouts[name] = rollout(matrices)
        probs[name] = torch.softmax(logits, dim=-1)
        if keep_layers:
            layers[name] = matrices
    return FlowResult(rollouts, layers, probs, batch.answer, batch.relevant.float(), gone.float(), host_share,
                      {k: v.cpu() for k, v in written.items()})


__all__ = ["MergePress", "FlowResult", "flow", "rollout"]
