"""Small / big / skip routes (Duo-LLM): who needs how much FFN compute, and how close a router gets.

The verb ``routes``:

1. trains a :class:`~lab.routing.routes_model.RoutesLM` (every layer: attention, then a small FFN, a big
   FFN or nothing) on a corpus of :mod:`lab.routing.corpus` with **random routes**: every token draws
   skip / small / big uniformly at every layer, so every one of the ``3**L`` routes is trained;
2. measures the **route table** (the loss of every token under every route, exhaustive, L <= 5) on
   router-training batches and trains the **learned router**: one small MLP per layer (d -> 32 -> 3) on the
   FFN slot's input, trained by cross-entropy to predict, layer by layer, the oracle's *best route* (the
   cheapest route within ``tolerance`` nats of the token's best loss), fed the oracle's own earlier choices.
   Why imitation: the exhaustive oracle gives an exact target for every token, which is cheaper and far less
   noisy than learning routes by trial (REINFORCE) through a frozen model, and one router then serves every
   budget by a cost offset (:func:`lab.routing.routes_oracle.learned_routes`);
3. measures the route table on held-out batches, with the router's probabilities at every prefix, and
   compares at equal mean compute: the oracle, the learned router and random routes, at ``budget`` and on a
   grid of budgets (:mod:`lab.routing.routes_oracle` defines each).

**Compute** is the MACs of the FFNs a token uses (counted from the Linear layers of the small and the big
module, :func:`lab.routing.routes_model.ffn_macs`), as a fraction of the all-big route's: attention,
embeddings and the head run for every token in every route and are left out; the router's own MACs are
reported apart (``router_macs``). A token's **difficulty** is how much loss it sheds given compute: its loss
with every FFN skipped minus its best loss over all routes (nats).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
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
from lab.routing.macs import count_macs
from lab.routing.moe import VAL_SEED, _lr_factor
from lab.routing.routes_model import Arch, RoutesLM, ffn_macs, route_table
from lab.routing.routes_oracle import (
    Point,
    best_routes,
    difficulty,
    layer_costs,
    learned_routes,
    operating_points,
    oracle_at_lambda,
    route_costs,
)

BUDGETS = tuple(round(0.05 * i, 2) for i in range(21))  # the grid of the loss-vs-compute curves
ROUTER_HIDDEN = 32


@dataclass(frozen=True)
class RoutesConfig(LabConfig):
    """Train a small/big/skip routed LM with random routes, then compare oracle, learned and random routing."""

    corpus: str = "stdlib"  # real text: kinds of characters differ in what compute buys them
    layers: int = 3  # the oracle measures 3**layers routes per token
    d_model: int = 64
    heads: int = 4
    small_hidden: int = 32  # the small FFN: d -> small_hidden -> d
    big_hidden: int = 256  # the big FFN: d -> big_hidden -> d
    context: int = 48
    steps: int = 1200
    batch_size: int = 16
    lr: float = 3e-3
    router_steps: int = 300
    router_batches: int = 4  # batches of the training split whose oracle routes teach the router
    eval_batches: int = 4  # held-out batches (the same for every seed)
    tolerance: float = 0.02  # nats: a route "reaches the best loss" within this
    budget: float = 0.5  # mean compute, as a fraction of the all-big route's FFN MACs
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("corpus", CORPORA)
        for name, lo, hi in (("layers", 1, 5), ("d_model", 4, 512), ("heads", 1, 16), ("small_hidden", 1, 4096),
                             ("big_hidden", 2, 8192), ("context", 4, 512), ("steps", 0, 100000),
                             ("batch_size", 1, 1024), ("router_steps", 0, 100000), ("router_batches", 1, 64),
                             ("eval_batches", 1, 64)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise LabInputError(f"{name.replace('_', ' ')} is {value!r}; use an integer from {lo} to {hi}.")
        if self.d_model % self.heads:
            raise LabInputError(f"d model {self.d_model} is not a multiple of heads {self.heads}.")
        if self.small_hidden >= self.big_hidden:
            raise LabInputError(f"small hidden is {self.small_hidden} but big hidden is {self.big_hidden}; "
                                "the small FFN must be smaller.")
        for name, lo, hi in (("budget", 0.0, 1.0), ("tolerance", 0.0, 10.0), ("lr", 1e-9, 10.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
                raise LabInputError(f"{name} is {value!r}; use a number from {lo:g} to {hi:g}.")
            self.normalise(name, float(value))


class Routers(nn.Module):
    """One router per layer: the FFN slot's input u (..., d) -> logits of skip / small / big (..., 3)."""

    def __init__(self, d: int, layers: int, hidden: int = ROUTER_HIDDEN):
        super().__init__()
        self.nets = nn.ModuleList(nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, 3))
                                  for _ in range(layers))

    def forward(self, layer: int, u: torch.Tensor) -> torch.Tensor:
        return self.nets[layer](u)


@dataclass
class Passage:
    """One held-out sequence for the page: position ``t`` reads ``tokens[t]`` and predicts ``targets[t]``."""

    tokens: list[str]
    targets: list[str]
    kinds: list[str]  # the kind of each target
    loss: list[list[float]]  # (T, 3**L): every route's loss
    log_probs: list[list[list[list[float]]]]  # per layer l: (T, 3**l, 3) the router's log-probabilities
    difficulty: list[float]  # (T,)


@dataclass
class RoutesResult:
    config: RoutesConfig
    corpus: str
    kinds: tuple[str, ...]
    macs: dict[str, int]  # per token: small and big FFN of one layer, the all-big route, one router
    points: dict[str, Point]  # at config.budget: oracle, oracle_capped, random, learned
    curve: dict[str, list[dict[str, float]]]  # per policy, one point per budget of BUDGETS
    static: dict[str, dict[str, float]]  # every token on one route: all skip / all small / all big
    by_kind: dict[str, dict[str, float]]  # per kind: difficulty, best-route compute, learned compute at budget
    passage: Passage | None
    curves: dict[str, list[float]] = field(default_factory=dict)
    steps_done: int = 0
    router_steps_done: int = 0
    router_agreement: float = 0.0
    stopped: bool = False
    seconds: float = 0.0

    @property
    def gap(self) -> float:
        """Learned router's mean loss minus the oracle's at the budget (nats)."""
        return self.points["learned"].loss - self.points["oracle"].loss

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"budget": self.config.budget}
        for name, p in self.points.items():
            out[f"{name}_loss"] = p.loss
            out[f"{name}_compute"] = p.compute
        out["gap_learned_oracle"] = self.gap
        out["gap_random_oracle"] = self.points["random"].loss - self.points["oracle"].loss
        for name, s in self.static.items():
            out[f"{name}_loss"] = s["loss"]
        out["router_agreement"] = self.router_agreement
        out["steps_done"] = self.steps_done
        out["router_steps_done"] = self.router_steps_done
        out["train_seconds"] = self.seconds
        out["curves"] = self.curves
        if self.stopped:
            out["stopped_early"] = True
        return out

    def to_json(self) -> dict[str, Any]:
        """``dynlab routing routes --json``: loss and compute of oracle, learned, random at the same budget."""
        b = self.macs["all_big_route"]
        policies = {name: {**p.to_json(), "compute_macs": p.compute * b} for name, p in self.points.items()}
        return {"corpus": self.corpus, "layers": self.config.layers, "budget": self.config.budget,
                "compute_unit": "FFN MACs per token as a fraction of the all-big route", **policies,
                "gap_learned_oracle": self.gap, "static": self.static, "macs": self.macs,
                "router_agreement": self.router_agreement, "by_kind": self.by_kind, "curve": self.curve,
                "steps_done": self.steps_done, "stopped_early": self.stopped}

    def title(self) -> str:
        c = self.config
        return f"Small/big/skip routes on {c.corpus}: {c.layers} layers, budget {100 * c.budget:.0f} %"

    def lam(self, policy: str, budget: float) -> float:
        """The cost weight ``lambda`` of ``policy`` (oracle or learned) at the grid budget nearest ``budget``."""
        i = int(np.argmin([abs(x - budget) for x in BUDGETS]))
        return self.curve[policy][i]["lambda"]


def _batches(corpus: Corpus, n: int, config: RoutesConfig, gen: torch.Generator, split: str) -> list:
    return [corpus.batch(config.batch_size, config.context + 1, gen, split=split) for _ in range(n)]


def _train_router(routers: Routers, model: RoutesLM, batches: list, cost: np.ndarray, config: RoutesConfig,
                  on_progress: ProgressCallback | None, offset: int, total: int) -> tuple[int, bool]:
    """Imitate the oracle's best routes, layer by layer, on the oracle's own prefixes. Returns (steps, stopped)."""
    xs: list[list[torch.Tensor]] = [[] for _ in range(config.layers)]
    ys: list[list[torch.Tensor]] = [[] for _ in range(config.layers)]
    for tokens, _ in batches:
        table = route_table(model, tokens, keep_inputs=True)
        best = best_routes(table.loss.double().numpy(), cost, config.tolerance)  # (N,)
        rows = torch.arange(len(best))
        for li in range(config.layers):
            prefix = torch.from_numpy(best // 3 ** (config.layers - li))  # the oracle's choices before li
            xs[li].append(table.inputs[li][rows, prefix])
            ys[li].append(torch.from_numpy(best // 3 ** (config.layers - 1 - li) % 3))
    x = [torch.cat(v) for v in xs]
    y = [torch.cat(v) for v in ys]
    opt = torch.optim.Adam(routers.parameters(), lr=1e-2)
    step = 0
    for step in range(1, config.router_steps + 1):
        loss = sum(F.cross_entropy(routers(li, x[li]), y[li]) for li in range(config.layers)) / config.layers
        opt.zero_grad()
        loss.backward()
        opt.step()
        if report(on_progress, offset + step, total, {"router_loss": loss.item()}):
            return step, True
    return step, False


def _passage(corpus: Corpus, tokens: torch.Tensor, kinds: torch.Tensor, loss: np.ndarray,
             log_probs: list[np.ndarray], t: int) -> Passage:
    """The first held-out sequence (its ``t`` positions are the first ``t`` rows of the tables)."""
    ids, kind_ids = tokens[0].tolist(), kinds[0].tolist()
    return Passage(tokens=[corpus.vocab[i] for i in ids[:-1]], targets=[corpus.vocab[i] for i in ids[1:]],
                   kinds=[corpus.kinds[k] for k in kind_ids[1:]], loss=np.round(loss[:t], 4).tolist(),
                   log_probs=[np.round(lp[:t], 4).tolist() for lp in log_probs],
                   difficulty=np.round(difficulty(loss[:t]), 4).tolist())


def run_routes(config: RoutesConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> RoutesResult:
    """The ``routes`` verb (module doc). Progress: LM steps, then router steps; stop -> the result so far."""
    seed_everything(config.seed)
    corpus = load_corpus(config.corpus)
    arch = Arch(len(corpus.vocab), config.layers, config.d_model, config.heads, config.small_hidden,
                config.big_hidden, config.context)
    model = RoutesLM(arch)
    routers = Routers(config.d_model, config.layers)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, functools.partial(_lr_factor, steps=config.steps))
    gen = torch.Generator().manual_seed(config.seed)
    total = config.steps + config.router_steps
    curves: dict[str, list[float]] = {"loss": []}
    stopped, step, start = False, 0, time.perf_counter()
    model.train()
    for step in range(1, config.steps + 1):
        tokens, _ = corpus.batch(config.batch_size, config.context + 1, gen)
        routes = torch.randint(0, 3, (config.batch_size, config.context, config.layers), generator=gen)
        logits = model(tokens[:, :-1], routes)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        curves["loss"].append(loss.item())
        if report(on_progress, step, total, {"loss": loss.item()}):
            stopped = True
            break
    steps_done = step if config.steps else 0
    model.eval()
    small, big = ffn_macs(model)
    cost = route_costs(small, big, config.layers)
    lcost = layer_costs(small, big, config.layers)
    router_steps = 0
    if not stopped:  # a stop during the LM's training leaves the router untrained (and says so)
        router_steps, stopped = _train_router(routers, model, _batches(corpus, config.router_batches, config, gen,
                                                                       "train"), cost, config, on_progress,
                                              steps_done, total)
    seconds = time.perf_counter() - start
    routers.eval()
    return _evaluate(config, corpus, model, routers, cost, lcost, (small, big), curves, steps_done, router_steps,
                     stopped, seconds)


def _evaluate(config: RoutesConfig, corpus: Corpus, model: RoutesLM, routers: Routers, cost: np.ndarray,
              lcost: np.ndarray, macs: tuple[int, int], curves: dict[str, list[float]], steps_done: int,
              router_steps: int, stopped: bool, seconds: float) -> RoutesResult:
    """Route tables of the held-out batches -> operating points, curves, per-kind statistics, a passage."""
    losses, kinds_all, log_probs = [], [], [[] for _ in range(config.layers)]
    batches = _batches(corpus, config.eval_batches, config, torch.Generator().manual_seed(VAL_SEED), "val")
    with torch.no_grad():
        for tokens, kinds in batches:
            table = route_table(model, tokens, router=routers)
            losses.append(table.loss.double().numpy())
            kinds_all.append(kinds[:, 1:].reshape(-1).numpy())
            for li, lg in enumerate(table.router_logits):
                log_probs[li].append(torch.log_softmax(lg.double(), -1).numpy())
    loss = np.concatenate(losses)
    kinds = np.concatenate(kinds_all)
    lps = [np.concatenate(v) for v in log_probs]
    points = operating_points(loss, cost, lcost, config.budget, lps)
    curve: dict[str, list[dict[str, float]]] = {}
    for b in BUDGETS:
        for name, p in operating_points(loss, cost, lcost, b, lps).items():
            curve.setdefault(name, []).append({"budget": b, **p.to_json()})
    n_routes = loss.shape[1]
    static = {name: {"loss": float(loss[:, code].mean()), "compute": float(cost[code])}
              for name, code in (("all_skip", 0), ("all_small", (n_routes - 1) // 2), ("all_big", n_routes - 1))}
    best = best_routes(loss, cost, config.tolerance)
    learned_now = learned_routes(lps, lcost, points["learned"].lam)
    oracle_now = oracle_at_lambda(loss, cost, points["oracle"].lam)
    diff = difficulty(loss)
    by_kind = {}
    for k, name in enumerate(corpus.kinds):
        m = kinds == k
        if m.any():
            by_kind[name] = {"tokens": int(m.sum()), "difficulty": float(diff[m].mean()),
                             "best_loss": float(loss[m].min(1).mean()), "best_route_compute": float(cost[best[m]].mean()),
                             "oracle_compute": float(cost[oracle_now[m]].mean()),
                             "learned_compute": float(cost[learned_now[m]].mean())}
    agreement = float((learned_routes(lps, lcost, 0.0) == best).mean())
    t = config.context
    passage = _passage(corpus, batches[0][0], batches[0][1], loss, lps, t)
    router_macs = count_macs(routers.nets[0], torch.zeros(1, config.d_model), modules=routers.nets[0])
    macs_doc = {"small_ffn": macs[0], "big_ffn": macs[1], "all_big_route": macs[1] * config.layers,
                "router_per_layer": router_macs}
    return RoutesResult(config, corpus.name, corpus.kinds, macs_doc, points, curve, static, by_kind, passage, curves,
                        steps_done, router_steps, agreement, stopped, seconds)


__all__ = ["RoutesConfig", "RoutesResult", "Routers", "Passage", "run_routes", "BUDGETS"]
