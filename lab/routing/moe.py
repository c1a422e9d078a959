"""Mixture of experts: a tiny causal transformer LM whose FFN is a routed MoE layer (Switch / GShard style).

Per MoE layer, over the ``T`` tokens of a batch, with router logits ``h`` (T, N) and ``p = softmax(h)``:

- **top-k routing** (k = 1 or 2): each token goes to its ``k`` most probable experts; gate weights are
  ``p`` for k = 1 (Switch) and the top-2 ``p`` renormalised to sum 1 for k = 2 (GShard);
- **capacity**: each expert takes at most ``C = ceil(capacity_factor * T * k / N)`` tokens, in order of
  priority (every token's first choice, in token order, then the second choices). The assignments over
  capacity are *dropped*: that expert does not process the token; a token whose every assignment is
  dropped skips the FFN entirely and goes on through the residual connection;
- **load-balancing loss** (Switch Transformer): ``N * sum_i f_i * P_i`` with ``f_i`` the fraction of
  assignments routed to expert ``i`` (before dropping) and ``P_i`` the mean router probability of ``i``;
  it is 1 when routing is uniform and grows as it concentrates; weight ``balance_weight``;
- **router z-loss** (ST-MoE): ``mean_t (logsumexp_i h_ti)^2``; weight ``z_weight``.

The verb ``moe`` trains on a corpus from :mod:`lab.routing.corpus` and measures, on held-out batches: the
load of every expert, its coefficient of variation, the drop rate, the routing entropy and the loss
(overall and per kind of token); it also keeps the load over training and a routed passage for the page.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.core.seeding import seed_everything
from lab.routing.corpus import CORPORA, Corpus, load_corpus

VAL_SEED = 12345  # the held-out batches are the same for every seed


@dataclass(frozen=True)
class MoEConfig(LabConfig):
    """Train a tiny MoE language model on ``synthetic`` (known difficulty) or ``stdlib`` (docstring text)."""

    corpus: str = "synthetic"
    experts: int = 4
    top_k: int = 1
    capacity_factor: float = 1.25
    balance_weight: float = 0.01  # alpha of the Switch load-balancing loss
    z_weight: float = 0.001  # router z-loss weight
    layers: int = 1
    d_model: int = 64
    heads: int = 4
    context: int = 48
    steps: int = 400
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("corpus", CORPORA)
        for name, lo, hi in (("experts", 1, 64), ("top_k", 1, 2), ("layers", 1, 4), ("d_model", 4, 512),
                             ("heads", 1, 16), ("context", 4, 512), ("steps", 0, 100000), ("batch_size", 1, 1024)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise LabInputError(f"{name.replace('_', ' ')} is {value!r}; use an integer from {lo} to {hi}.")
        if self.top_k > self.experts:
            raise LabInputError(f"top k is {self.top_k} but there are {self.experts} experts; use top k <= experts.")
        if self.d_model % self.heads:
            raise LabInputError(f"d model {self.d_model} is not a multiple of heads {self.heads}.")
        if not (isinstance(self.capacity_factor, int | float) and self.capacity_factor > 0):
            raise LabInputError(f"capacity factor is {self.capacity_factor!r}; use a positive number.")
        self.normalise("capacity_factor", float(self.capacity_factor))
        for name in ("balance_weight", "z_weight"):
            if not (isinstance(getattr(self, name), int | float) and getattr(self, name) >= 0):
                raise LabInputError(f"{name.replace('_', ' ')} is {getattr(self, name)!r}; use a non-negative number.")
            self.normalise(name, float(getattr(self, name)))
        if not self.lr > 0:
            raise LabInputError(f"lr is {self.lr}; use a positive learning rate.")


# -- the routing pieces, pure functions (tested on hand-made cases) ----------------------------------
def capacity(tokens: int, experts: int, top_k: int, capacity_factor: float) -> int:
    return max(1, math.ceil(capacity_factor * tokens * top_k / experts))


def dispatch_mask(expert_index: torch.Tensor, experts: int, cap: int) -> torch.Tensor:
    """Which assignments fit: ``expert_index`` (T, k) -> keep (T, k) bool.

    Priority: all first choices in token order, then all second choices; an expert keeps its first ``cap``.
    """
    t, k = expert_index.shape
    onehot = F.one_hot(expert_index.t().reshape(-1), experts)  # (k*T, N), choice-major order
    position = torch.cumsum(onehot, dim=0) - 1  # slot of each assignment in its expert's queue
    slot = (position * onehot).sum(-1)
    return (slot < cap).reshape(k, t).t()


def load_balancing_loss(probs: torch.Tensor, expert_index: torch.Tensor, experts: int) -> torch.Tensor:
    """Switch Transformer: ``N * sum_i f_i * P_i``; probs (T, N), expert_index (T, k)."""
    f = F.one_hot(expert_index.reshape(-1), experts).float().mean(0)  # fraction of assignments per expert
    p = probs.mean(0)
    return experts * (f * p).sum()


def router_z_loss(logits: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(logits, dim=-1).pow(2).mean()


@dataclass
class Routing:
    """What one MoE layer decided for T tokens."""

    probs: torch.Tensor  # (T, N) router probabilities
    expert_index: torch.Tensor  # (T, k)
    keep: torch.Tensor  # (T, k) bool: within capacity
    balance_loss: torch.Tensor
    z_loss: torch.Tensor


class MoELayer(nn.Module):
    """N expert FFNs (d -> 2d -> d, GELU) behind a linear router; returns ``(y, Routing)``, y zero where dropped."""

    def __init__(self, d: int, experts: int, top_k: int, capacity_factor: float, hidden: int | None = None):
        super().__init__()
        hidden = hidden or 2 * d
        self.experts, self.top_k, self.capacity_factor = experts, top_k, capacity_factor
        self.router = nn.Linear(d, experts, bias=False)
        self.w1 = nn.Parameter(torch.randn(experts, d, hidden) / math.sqrt(d))
        self.b1 = nn.Parameter(torch.zeros(experts, hidden))
        self.w2 = nn.Parameter(torch.randn(experts, hidden, d) / math.sqrt(hidden))
        self.b2 = nn.Parameter(torch.zeros(experts, d))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Routing]:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        logits = self.router(x)
        probs = torch.softmax(logits, dim=-1)
        top_p, top_i = probs.topk(self.top_k, dim=-1)
        gates = top_p if self.top_k == 1 else top_p / top_p.sum(-1, keepdim=True)
        keep = dispatch_mask(top_i, self.experts, capacity(len(x), self.experts, self.top_k, self.capacity_factor))
        y = torch.zeros_like(x)
        for e in range(self.experts):
            tok, slot = torch.nonzero((top_i == e) & keep, as_tuple=True)
            if len(tok) == 0:
                continue
            h = F.gelu(x[tok] @ self.w1[e] + self.b1[e]) @ self.w2[e] + self.b2[e]
            y = y.index_add(0, tok, h * gates[tok, slot, None])
        routing = Routing(probs, top_i, keep, load_balancing_loss(probs, top_i, self.experts), router_z_loss(logits))
        return y.reshape(shape), routing


class Block(nn.Module):
    def __init__(self, config: MoEConfig):
        super().__init__()
        d = config.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, config.heads, batch_first=True)
        self.moe = MoELayer(d, config.experts, config.top_k, config.capacity_factor)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Routing]:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        y, routing = self.moe(self.ln2(x))
        return x + y, routing  # a dropped token's y is 0: it goes on through the residual


class MoELM(nn.Module):
    """Token + position embeddings, ``layers`` blocks (causal attention, MoE FFN), a tied-free LM head."""

    def __init__(self, config: MoEConfig, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, config.d_model)
        self.pos = nn.Parameter(torch.randn(config.context, config.d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, vocab)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, list[Routing]]:
        t = tokens.shape[1]
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=tokens.device), diagonal=1)
        x = self.embed(tokens) + self.pos[:t]
        routings = []
        for block in self.blocks:
            x, r = block(x, mask)
            routings.append(r)
        return self.head(self.ln(x)), routings


# -- measuring ---------------------------------------------------------------------------------------
def _layer_stats(r: Routing, experts: int) -> dict[str, Any]:
    counts = torch.bincount(r.expert_index.reshape(-1), minlength=experts).double()
    load = counts / counts.sum()
    ent = -(r.probs.double() * torch.log(r.probs.double().clamp_min(1e-12))).sum(-1).mean()
    return {"load": load, "load_cv": float(load.std(unbiased=False) / load.mean()),
            "drop_rate": float(1 - r.keep.double().mean()), "skipped": float((~r.keep.any(-1)).double().mean()),
            "entropy": float(ent)}


@dataclass
class Passage:
    """One held-out sequence as the model routed it (for the token -> expert map)."""

    tokens: list[str]
    kinds: list[str]
    expert: list[list[int]]  # (layers, T): first choice
    second: list[list[int]]  # (layers, T): second choice, -1 for top-1
    dropped: list[list[bool]]  # (layers, T): skipped the FFN (every assignment over capacity)
    probs: list[list[list[float]]]  # (layers, T, N)
    loss: list[float]  # (T-1,) next-token loss at each position (predicting token t+1)


@torch.no_grad()
def evaluate(model: MoELM, corpus: Corpus, config: MoEConfig, batches: int = 4) -> dict[str, Any]:
    """Held-out loss (overall and per kind), per-layer load, drop rate, entropy, kinds per expert."""
    model.eval()
    gen = torch.Generator().manual_seed(VAL_SEED)
    n_kinds, n = len(corpus.kinds), config.experts
    loss_sum, loss_n = np.zeros(n_kinds), np.zeros(n_kinds)
    kind_counts = np.zeros((config.layers, n, n_kinds))
    stats: list[list[dict[str, Any]]] = [[] for _ in range(config.layers)]
    for _ in range(batches):
        tokens, kinds = corpus.batch(config.batch_size, config.context + 1, gen, split="val")
        logits, routings = model(tokens[:, :-1])
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none")
        target_kinds = kinds[:, 1:].reshape(-1).numpy()
        np.add.at(loss_sum, target_kinds, ce.double().numpy())
        np.add.at(loss_n, target_kinds, 1)
        input_kinds = kinds[:, :-1].reshape(-1).numpy()
        for li, r in enumerate(routings):
            stats[li].append(_layer_stats(r, n))
            first = r.expert_index[:, 0].numpy()
            np.add.at(kind_counts[li], (first, input_kinds), 1)
    per_layer = []
    for li in range(config.layers):
        s = stats[li]
        load = torch.stack([x["load"] for x in s]).mean(0)
        per_layer.append({"load": [float(v) for v in load], "load_cv": float(load.std(unbiased=False) / load.mean()),
                          "drop_rate": float(np.mean([x["drop_rate"] for x in s])),
                          "skipped": float(np.mean([x["skipped"] for x in s])),
                          "entropy": float(np.mean([x["entropy"] for x in s]))})
    val_loss = float(loss_sum.sum() / loss_n.sum())
    by_kind = {k: float(loss_sum[i] / loss_n[i]) for i, k in enumerate(corpus.kinds) if loss_n[i]}
    return {"val_loss": val_loss, "val_loss_by_kind": by_kind, "layers": per_layer,
            "kinds_per_expert": kind_counts.tolist()}


@torch.no_grad()
def route_passage(model: MoELM, corpus: Corpus, config: MoEConfig) -> Passage:
    model.eval()
    gen = torch.Generator().manual_seed(VAL_SEED + 1)
    tokens, kinds = corpus.batch(1, config.context + 1, gen, split="val")
    logits, routings = model(tokens[:, :-1])
    ce = F.cross_entropy(logits[0], tokens[0, 1:], reduction="none")
    ids = tokens[0, :-1].tolist()
    return Passage(
        tokens=[corpus.vocab[i] for i in ids], kinds=[corpus.kinds[k] for k in kinds[0, :-1].tolist()],
        expert=[r.expert_index[:, 0].tolist() for r in routings],
        second=[(r.expert_index[:, 1] if config.top_k > 1 else torch.full_like(r.expert_index[:, 0], -1)).tolist()
                for r in routings],
        dropped=[(~r.keep.any(-1)).tolist() for r in routings],
        probs=[[[round(float(p), 4) for p in row] for row in r.probs] for r in routings],
        loss=[round(float(v), 4) for v in ce])


# -- the verb ----------------------------------------------------------------------------------------
@dataclass
class MoEResult:
    config: MoEConfig
    corpus: str
    kinds: tuple[str, ...]
    evaluation: dict[str, Any]
    curves: dict[str, list[float]]
    load_history: list[list[float]]  # per step: first layer's load per expert (training batches)
    passage: Passage | None
    steps_done: int
    stopped: bool = False
    seconds: float = 0.0
    tokens_trained: int = 0

    @property
    def expert_load(self) -> list[float]:
        layers = self.evaluation["layers"]
        return [float(np.mean([lay["load"][e] for lay in layers])) for e in range(self.config.experts)]

    def metrics(self) -> dict[str, Any]:
        layers = self.evaluation["layers"]
        load = np.array(self.expert_load)
        out: dict[str, Any] = {
            "val_loss": self.evaluation["val_loss"],
            "load_cv": float(np.mean([lay["load_cv"] for lay in layers])),
            "drop_rate": float(np.mean([lay["drop_rate"] for lay in layers])),
            "skipped_tokens": float(np.mean([lay["skipped"] for lay in layers])),
            "routing_entropy": float(np.mean([lay["entropy"] for lay in layers])),
            "max_expert_load": float(load.max()),
            "steps_done": self.steps_done,
            "train_seconds": self.seconds,
            "tokens_per_s": self.tokens_trained / self.seconds if self.seconds > 0 else 0.0,
        }
        for kind, value in self.evaluation["val_loss_by_kind"].items():
            out[f"val_loss_{kind}"] = value
        out["curves"] = self.curves
        if self.stopped:
            out["stopped_early"] = True
        return out

    def to_json(self) -> dict[str, Any]:
        m = {k: v for k, v in self.metrics().items() if k != "curves"}
        return {"corpus": self.corpus, "experts": self.config.experts, "top_k": self.config.top_k,
                "capacity_factor": self.config.capacity_factor, "expert_load": self.expert_load,
                "expert_load_per_layer": [lay["load"] for lay in self.evaluation["layers"]],
                **m, "val_loss_by_kind": self.evaluation["val_loss_by_kind"],
                "routing_entropy_max": math.log(self.config.experts)}

    def title(self) -> str:
        c = self.config
        return f"MoE LM on {c.corpus}: {c.experts} experts, top-{c.top_k}, capacity {c.capacity_factor:g}"

    def kinds_per_expert(self, layer: int = 0) -> np.ndarray:
        """(N, kinds) counts of held-out tokens whose first choice was each expert, by kind of token."""
        return np.asarray(self.evaluation["kinds_per_expert"][layer])


def _lr_factor(i: int, steps: int) -> float:
    """Linear warm-up over the first tenth of the steps, then a cosine decay to zero."""
    warm = max(1, round(0.1 * steps))
    if i < warm:
        return (i + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warm) / max(1, steps - warm))))


def run_moe(config: MoEConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> MoEResult:
    """The ``moe`` verb: train, reporting every step (loss, load CV, drop rate); stop -> the result so far."""
    seed_everything(config.seed)
    corpus = load_corpus(config.corpus)
    model = MoELM(config, len(corpus.vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, functools.partial(_lr_factor, steps=config.steps))
    gen = torch.Generator().manual_seed(config.seed)
    keys = ("loss", "lm_loss", "balance_loss", "z_loss", "load_cv", "drop_rate", "routing_entropy")
    curves: dict[str, list[float]] = {k: [] for k in keys}
    load_history: list[list[float]] = []
    stopped, step, start = False, 0, time.perf_counter()
    model.train()
    for step in range(1, config.steps + 1):
        tokens, _ = corpus.batch(config.batch_size, config.context + 1, gen)
        logits, routings = model(tokens[:, :-1])
        lm = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        bal = torch.stack([r.balance_loss for r in routings]).mean()
        zl = torch.stack([r.z_loss for r in routings]).mean()
        loss = lm + config.balance_weight * bal + config.z_weight * zl
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            s = [_layer_stats(r, config.experts) for r in routings]
        load_history.append([round(float(v), 5) for v in s[0]["load"]])
        row = {"loss": loss.item(), "lm_loss": lm.item(), "balance_loss": bal.item(), "z_loss": zl.item(),
               "load_cv": float(np.mean([x["load_cv"] for x in s])),
               "drop_rate": float(np.mean([x["drop_rate"] for x in s])),
               "routing_entropy": float(np.mean([x["entropy"] for x in s]))}
        for k in keys:
            curves[k].append(row[k])
        if report(on_progress, step, config.steps, {k: row[k] for k in ("loss", "load_cv", "drop_rate")}):
            stopped = True
            break
    seconds = time.perf_counter() - start
    done = step if config.steps else 0
    evaluation = evaluate(model, corpus, config)
    passage = route_passage(model, corpus, config)
    return MoEResult(config, corpus.name, corpus.kinds, evaluation, curves, load_history, passage, done, stopped,
                     seconds, done * config.batch_size * config.context)


__all__ = ["MoEConfig", "MoEResult", "MoELM", "MoELayer", "run_moe", "load_balancing_loss", "dispatch_mask",
           "capacity", "router_z_loss"]
