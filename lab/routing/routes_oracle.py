"""Choosing routes from a route table: the oracles, random routes and a learned router, at a compute budget.

Everything here is a pure function of arrays (numpy): ``loss`` (N, R) is the next-token loss of N tokens
under each of the ``R = 3**L`` routes (:func:`lab.routing.routes_model.route_table`), ``cost`` (R,) each
route's *compute*: the MACs of the FFNs it uses per token, as a fraction of the all-big route's (so the
all-big route costs 1, all-skip 0). A *budget* ``b`` in [0, 1] bounds the mean compute over the tokens.

- **best route** (the issue's oracle): per token the cheapest route whose loss is within ``tolerance`` of the
  token's best loss over all routes (ties in cost: the lower loss).
- **oracle at a budget** (:func:`oracle_at_budget`): the assignment of routes to tokens with the least mean
  loss among those whose mean compute is at most ``b``. It is found by its Lagrangian: for ``lam >= 0`` every
  token takes ``argmin_r loss[n, r] + lam * cost[r]`` (ties: the cheaper route); the mean compute falls as
  ``lam`` grows, and the smallest ``lam`` whose mean compute is ``<= b`` is found by bisection. Each such
  assignment is optimal for the compute it spends (no assignment with that compute or less has a lower mean
  loss); between two breakpoints of ``lam`` it spends a little less than ``b`` (reported, never rounded up).
- **oracle with a per-token cap** (:func:`capped_oracle`): each token separately, its least-loss route that
  costs at most ``b`` (Duo-LLM's "at most k big layers"); spends less than ``b`` on average.
- **random routes at a budget** (:func:`random_layer_probs`): every layer of every token independently skip /
  small / big with the maximum-entropy probabilities whose expected compute is ``b`` (``p_c`` proportional to
  ``exp(-mu * cost_c)``; ``mu = 0`` is uniform, the training distribution). Its loss is the exact expectation
  over routes, read from the table (no sampling).
- **learned router at a budget** (:func:`learned_routes`): at layer ``l`` the router's log-probabilities of
  skip / small / big, minus ``lam`` times each choice's compute, pick the choice; it sees the state its own
  earlier choices made. ``lam`` is the smallest (possibly negative: compute favoured) whose mean compute is
  within the budget, found by bisection on the costs alone, never the labels: the router fills the budget as
  random routes do, while the oracle stops where more compute no longer lowers its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def route_choices(layers: int) -> np.ndarray:
    """(3**L, L) the choice (0 skip, 1 small, 2 big) of every route at every layer, first layer first."""
    codes = np.arange(3 ** layers)
    powers = 3 ** np.arange(layers - 1, -1, -1)
    return (codes[:, None] // powers) % 3


def layer_costs(small_macs: int, big_macs: int, layers: int) -> np.ndarray:
    """(3,) compute of skip / small / big in one layer, as a fraction of the all-big route's FFN MACs."""
    return np.array([0.0, small_macs, big_macs]) / (big_macs * layers)


def route_costs(small_macs: int, big_macs: int, layers: int) -> np.ndarray:
    """(3**L,) each route's FFN MACs per token as a fraction of the all-big route's."""
    return layer_costs(small_macs, big_macs, layers)[route_choices(layers)].sum(-1)


def _argmin_cheapest(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Per row the argmin of ``score`` (N, R); ties (to 1e-12) go to the cheaper route."""
    best = score.min(1, keepdims=True)
    tied = score <= best + 1e-12
    return np.where(tied, cost[None, :], np.inf).argmin(1)


def best_routes(loss: np.ndarray, cost: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """(N,) per token the cheapest route within ``tolerance`` nats of its best loss (cost ties: lower loss)."""
    ok = loss <= loss.min(1, keepdims=True) + tolerance
    key = np.where(ok, cost[None, :] * 1e6 + loss, np.inf)  # cost first, then loss
    return key.argmin(1)


def oracle_at_lambda(loss: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """(N,) per token ``argmin_r loss + lam * cost`` (ties: the cheaper route)."""
    return _argmin_cheapest(loss + lam * cost[None, :], cost)


def bisect_lambda(compute: Callable[[float], float], budget: float, hi: float, lo: float = 0.0,
                  iters: int = 40) -> float:
    """The smallest ``lam`` in [lo, hi] (to ``(hi - lo) / 2**iters``) with ``compute(lam) <= budget``.

    ``compute`` falls (not necessarily strictly) as ``lam`` grows and ``compute(hi)`` is within budget.
    """
    if compute(lo) <= budget:
        return lo
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if compute(mid) <= budget:
            hi = mid
        else:
            lo = mid
    return hi


def lambda_ceiling(loss: np.ndarray, cost: np.ndarray) -> float:
    """A ``lam`` at which every token takes the cheapest route (the loss range over the smallest cost step)."""
    steps = np.diff(np.unique(cost))
    return float((loss.max() - loss.min() + 1.0) / max(steps.min() if len(steps) else 1.0, 1e-9))


def oracle_at_budget(loss: np.ndarray, cost: np.ndarray, budget: float) -> tuple[np.ndarray, float]:
    """(routes (N,), lam): the least mean loss at mean compute ``<= budget`` (module doc)."""
    lam = bisect_lambda(lambda x: float(cost[oracle_at_lambda(loss, cost, x)].mean()), budget,
                        lambda_ceiling(loss, cost))
    return oracle_at_lambda(loss, cost, lam), lam


def capped_oracle(loss: np.ndarray, cost: np.ndarray, cap: float) -> np.ndarray:
    """(N,) per token its least-loss route costing at most ``cap`` (ties: the cheaper)."""
    allowed = cost <= cap + 1e-12
    return _argmin_cheapest(np.where(allowed[None, :], loss, np.inf), cost)


def random_layer_probs(costs: np.ndarray, budget: float) -> np.ndarray:
    """(3,) max-entropy probabilities of skip / small / big with expected per-layer compute ``budget * max``.

    ``costs`` (3,) is one layer's compute of each choice (increasing, ``costs[0] == 0``).
    """
    target = budget * costs[-1]
    if target <= costs[0]:
        return np.array([1.0, 0.0, 0.0])
    if target >= costs[-1]:
        return np.array([0.0, 0.0, 1.0])
    c = costs / costs[-1]

    def probs(mu: float) -> np.ndarray:
        z = -mu * c
        p = np.exp(z - z.max())
        return p / p.sum()

    lo, hi = -200.0, 200.0  # expected compute falls as mu grows
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if probs(mid) @ costs > target:
            lo = mid
        else:
            hi = mid
    return probs(0.5 * (lo + hi))


def route_probs(layer_probs: np.ndarray, layers: int) -> np.ndarray:
    """(3**L,) probability of each route when every layer draws independently from ``layer_probs`` (3,)."""
    return layer_probs[route_choices(layers)].prod(-1)


def learned_routes(log_probs: list[np.ndarray], layer_cost: np.ndarray, lam: float) -> np.ndarray:
    """(N,) the routes a router takes: at layer ``l`` choice ``argmax log_probs[l][n, prefix] - lam * layer_cost``.

    ``log_probs[l]`` (N, 3**l, 3): the router's log-probabilities at every prefix of depth ``l``.
    """
    n = log_probs[0].shape[0]
    prefix = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for lp in log_probs:
        score = lp[rows, prefix] - lam * layer_cost[None, :]
        prefix = prefix * 3 + score.argmax(1)
    return prefix


def learned_at_budget(log_probs: list[np.ndarray], layer_cost: np.ndarray, cost: np.ndarray,
                      budget: float) -> tuple[np.ndarray, float]:
    """(routes (N,), lam) of the router at mean compute ``<= budget`` (costs only: no label is read).

    ``lam`` may be negative (compute favoured): the router then fills the budget, as random routes do.
    """
    spread = max(float(np.ptp(lp)) for lp in log_probs) + 1.0
    hi = spread / max(float(np.diff(layer_cost).min()), 1e-9)
    lam = bisect_lambda(lambda x: float(cost[learned_routes(log_probs, layer_cost, x)].mean()), budget, hi, -hi)
    return learned_routes(log_probs, layer_cost, lam), lam


@dataclass(frozen=True)
class Point:
    """One policy at one budget: mean loss (nats), mean compute (fraction of all-big), and its parameter."""

    loss: float
    compute: float
    lam: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {"loss": self.loss, "compute": self.compute, "lambda": self.lam}


def operating_points(loss: np.ndarray, cost: np.ndarray, layer_cost: np.ndarray, budget: float,
                     log_probs: list[np.ndarray] | None) -> dict[str, Point]:
    """Oracle, per-token-capped oracle, random and (if ``log_probs``) learned routing at one budget."""
    rows = np.arange(len(loss))
    routes, lam = oracle_at_budget(loss, cost, budget)
    out = {"oracle": Point(float(loss[rows, routes].mean()), float(cost[routes].mean()), lam)}
    capped = capped_oracle(loss, cost, budget)
    out["oracle_capped"] = Point(float(loss[rows, capped].mean()), float(cost[capped].mean()), budget)
    layers = round(np.log(loss.shape[1]) / np.log(3))
    p = route_probs(random_layer_probs(layer_cost, budget), layers)
    out["random"] = Point(float((loss @ p).mean()), float(p @ cost))
    if log_probs is not None:
        routes, lam = learned_at_budget(log_probs, layer_cost, cost, budget)
        out["learned"] = Point(float(loss[rows, routes].mean()), float(cost[routes].mean()), lam)
    return out


def difficulty(loss: np.ndarray) -> np.ndarray:
    """(N,) how much loss a token sheds with compute: its all-skip loss minus its best loss over all routes."""
    return loss[:, 0] - loss.min(1)


__all__ = ["route_choices", "layer_costs", "route_costs", "best_routes", "oracle_at_lambda", "oracle_at_budget",
           "capped_oracle", "random_layer_probs", "route_probs", "learned_routes", "learned_at_budget",
           "operating_points", "difficulty", "bisect_lambda", "Point"]
