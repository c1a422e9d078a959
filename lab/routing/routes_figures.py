"""Plotly figures of small / big / skip routing: pure functions of a :class:`~lab.routing.routes.RoutesResult`.

The passage figures read the held-out passage's route table and router probabilities and place the
oracle and the learned router at a budget with the cost weight ``lambda`` the whole held-out set needed
there (:meth:`RoutesResult.lam`), so the map shows the same policy as the curves.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.routing.moe_figures import _layout, _shown  # the MoE view's frame and token glyphs, shared
from lab.routing.routes import BUDGETS, RoutesResult
from lab.routing.routes_model import CHOICES, route_name
from lab.routing.routes_oracle import (
    best_routes,
    layer_costs,
    learned_routes,
    oracle_at_lambda,
    route_choices,
    route_costs,
)

CHOICE_COLORS = ("#e8e8e8", "#6baed6", "#d94801")  # skip, small, big
POLICY_COLORS = {"oracle": "#2ca02c", "learned": "#d62728", "random": "#7f7f7f", "oracle_capped": "#98df8a"}
POLICY_NAMES = {"oracle": "oracle (mean budget)", "learned": "learned router", "random": "random routes",
                "oracle_capped": "oracle (per-token cap)"}
MAP_POLICIES = ("oracle", "learned", "best")


def costs(result: RoutesResult) -> tuple[np.ndarray, np.ndarray]:
    """(route costs (3**L,), layer costs (3,)) as fractions of the all-big route's FFN MACs."""
    m, layers = result.macs, result.config.layers
    return route_costs(m["small_ffn"], m["big_ffn"], layers), layer_costs(m["small_ffn"], m["big_ffn"], layers)


def passage_routes(result: RoutesResult, policy: str, budget: float) -> np.ndarray:
    """(T,) route codes of the passage's tokens under ``policy`` (oracle, learned or best) at ``budget``."""
    p = result.passage
    loss = np.asarray(p.loss)
    cost, lcost = costs(result)
    if policy == "oracle":
        return oracle_at_lambda(loss, cost, result.lam("oracle", budget))
    if policy == "learned":
        return learned_routes([np.asarray(lp) for lp in p.log_probs], lcost, result.lam("learned", budget))
    return best_routes(loss, cost, result.config.tolerance)


def route_map_figure(result: RoutesResult, policy: str = "oracle", budget: float = 0.5,
                     selected: int | None = None) -> go.Figure:
    """Layers x tokens of the passage, each cell skip / small / big under ``policy`` at ``budget``."""
    p = result.passage
    layers = result.config.layers
    routes = passage_routes(result, policy, budget)
    choice = route_choices(layers)[routes].T  # (L, T)
    loss = np.asarray(p.loss)
    cost, _ = costs(result)
    t = len(p.tokens)
    hover = np.empty((layers, t), dtype=object)
    for i in range(t):
        r = int(routes[i])
        for li in range(layers):
            hover[li, i] = (f"#{i} reads {_shown(p.tokens[i])!r}, predicts {_shown(p.targets[i])!r} ({p.kinds[i]})"
                            f"<br>layer {li + 1}: {CHOICES[choice[li, i]]}<br>route {route_name(r, layers)}: loss "
                            f"{loss[i, r]:.3f}, compute {100 * cost[r]:.0f} %<br>difficulty {p.difficulty[i]:.3f}")
    scale = []
    for c in range(3):
        scale += [[c / 3, CHOICE_COLORS[c]], [(c + 1) / 3, CHOICE_COLORS[c]]]
    fig = go.Figure(go.Heatmap(z=choice, x=list(range(t)), y=[f"layer {li + 1}" for li in range(layers)],
                               text=np.array([["-sB"[c] for c in row] for row in choice]), texttemplate="%{text}",
                               customdata=hover, hovertemplate="%{customdata}<extra></extra>", colorscale=scale,
                               zmin=-0.5, zmax=2.5, xgap=1, ygap=2,
                               colorbar=dict(title="FFN", tickvals=[0, 1, 2], ticktext=list(CHOICES), len=0.8)))
    fig.update_xaxes(tickvals=list(range(t)), ticktext=[_shown(c) for c in p.tokens], tickangle=0,
                     tickfont=dict(size=11))
    fig.update_yaxes(autorange="reversed")
    if selected is not None and 0 <= selected < t:
        fig.add_vrect(x0=selected - 0.5, x1=selected + 0.5, line_width=2, line_color="black")
    spent = float(cost[routes].mean())
    name = ("best routes (cheapest within tolerance of each token's best loss)" if policy == "best"
            else POLICY_NAMES[policy])
    budget_text = "" if policy == "best" else f" at budget {100 * budget:.0f} %"
    return _layout(fig, f"Route map: {name}{budget_text}; this passage spends {100 * spent:.0f} % "
                        f"(x: the token each position reads)", height=120 + 34 * layers)


def loss_compute_figure(result: RoutesResult, budget: float = 0.5) -> go.Figure:
    """Mean held-out loss vs mean compute for each policy over the budget grid; the budget's points marked."""
    fig = go.Figure()
    i = int(np.argmin([abs(b - budget) for b in BUDGETS]))
    for name in ("oracle", "oracle_capped", "learned", "random"):
        pts = result.curve.get(name)
        if not pts:
            continue
        x = [100 * q["compute"] for q in pts]
        y = [q["loss"] for q in pts]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=POLICY_NAMES[name],
                                 line=dict(color=POLICY_COLORS[name], dash="dot" if name == "oracle_capped" else None),
                                 marker=dict(size=5), customdata=[q["budget"] for q in pts],
                                 hovertemplate="budget %{customdata:.0%}: compute %{x:.1f} %, loss %{y:.4f}"
                                               f"<extra>{POLICY_NAMES[name]}</extra>"))
        fig.add_trace(go.Scatter(x=[x[i]], y=[y[i]], mode="markers", showlegend=False, hoverinfo="skip",
                                 marker=dict(size=14, color=POLICY_COLORS[name], line=dict(width=2, color="black"))))
    where = {"all_skip": "top right", "all_small": "bottom center", "all_big": "top left"}
    for name, s in result.static.items():
        fig.add_trace(go.Scatter(x=[100 * s["compute"]], y=[s["loss"]], mode="markers+text", showlegend=False,
                                 text=[name.replace("_", " ")], textposition=where.get(name, "top center"),
                                 marker=dict(symbol="diamond", size=9, color="black"),
                                 hovertemplate=f"every token {name.replace('_', ' ')}: loss %{{y:.4f}}<extra></extra>"))
    fig.add_vline(x=100 * BUDGETS[i], line_dash="dash", line_color="gray", annotation_text=f"budget {100 * BUDGETS[i]:.0f} %")
    fig.update_xaxes(title="mean FFN compute per token (% of the all-big route's MACs)", range=[-3, 103])
    fig.update_yaxes(title="mean held-out loss (nats)")
    return _layout(fig, "Loss vs mean compute, budget by budget", height=420)


def difficulty_figure(result: RoutesResult, selected: int | None = None, width: int = 24) -> go.Figure:
    """The passage's predicted text, one square per token coloured by its difficulty (click one to inspect it)."""
    p = result.passage
    t = len(p.targets)
    loss = np.asarray(p.loss)
    cost, _ = costs(result)
    best = best_routes(loss, cost, result.config.tolerance)
    layers = result.config.layers
    xs, ys, hover = [], [], []
    for i in range(t):
        r, c = divmod(i, width)
        xs.append(c)
        ys.append(r)
        hover.append(f"#{i} predicts {_shown(p.targets[i])!r} ({p.kinds[i]})<br>difficulty {p.difficulty[i]:.3f} nats"
                     f"<br>all skip {loss[i, 0]:.3f}, all big {loss[i, -1]:.3f}, best {loss[i].min():.3f}"
                     f"<br>best route {route_name(int(best[i]), layers)} ({100 * cost[best[i]]:.0f} %)")
    vmax = max(0.05, float(np.quantile(p.difficulty, 0.95)))
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=[_shown(c) for c in p.targets], textfont=dict(size=13),
        customdata=hover, hovertemplate="%{customdata}<extra></extra>", showlegend=False,
        marker=dict(symbol="square", size=26, color=p.difficulty, colorscale="Oranges", cmin=0, cmax=vmax,
                    colorbar=dict(title="nats"), line=dict(width=[3 if i == selected else 0 for i in range(t)],
                                                           color="black"))))
    rows = math.ceil(t / width)
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False,
                     range=[rows - 0.5, -0.5])
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, range=[-0.6, width - 0.4])
    return _layout(fig, "Difficulty over the text: loss shed from all-skip to the best route (click a token)",
                   height=90 + 44 * rows)


def token_figure(result: RoutesResult, index: int, budget: float = 0.5) -> go.Figure:
    """One token: every route's loss vs its compute (oracle / learned picks marked), and the router's
    per-layer probabilities along the learned route."""
    p = result.passage
    layers = result.config.layers
    loss = np.asarray(p.loss)[index]
    cost, _ = costs(result)
    picks = {name: int(passage_routes(result, name, budget)[index]) for name in MAP_POLICIES}
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45],
                        subplot_titles=("loss of every route vs its compute", "router probabilities per layer "
                                        "(learned route)"))
    fig.add_trace(go.Scatter(x=100 * cost, y=loss, mode="markers", name="route", marker=dict(color="#9ecae1", size=7),
                             text=[route_name(r, layers) for r in range(len(loss))],
                             hovertemplate="%{text}: compute %{x:.0f} %, loss %{y:.3f}<extra></extra>"), row=1, col=1)
    for name, symbol in (("oracle", "star"), ("learned", "x"), ("best", "circle-open")):
        r = picks[name]
        label = "best route" if name == "best" else f"{POLICY_NAMES[name]} at {100 * budget:.0f} %"
        fig.add_trace(go.Scatter(x=[100 * cost[r]], y=[loss[r]], mode="markers", name=label,
                                 marker=dict(symbol=symbol, size=15, color=POLICY_COLORS.get(name, "black"),
                                             line=dict(width=2)),
                                 hovertemplate=f"{label}: {route_name(r, layers)}, loss %{{y:.3f}}<extra></extra>"),
                      row=1, col=1)
    digits = route_choices(layers)[picks["learned"]]
    prefix = 0
    probs = []
    for li in range(layers):
        probs.append(np.exp(np.asarray(p.log_probs[li][index][prefix])))
        prefix = prefix * 3 + int(digits[li])
    probs_arr = np.array(probs)  # (L, 3)
    for c in range(3):
        fig.add_trace(go.Bar(x=[f"layer {li + 1}" for li in range(layers)], y=probs_arr[:, c], name=CHOICES[c],
                             marker_color=CHOICE_COLORS[c], marker_line=dict(width=1, color="#555"),
                             hovertemplate=f"{CHOICES[c]}: " + "%{y:.2f}<extra>%{x}</extra>"), row=1, col=2)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="compute (% of all big)", row=1, col=1)
    fig.update_yaxes(title_text="loss (nats)", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    _layout(fig, f"Token #{index}: reads {_shown(p.tokens[index])!r}, predicts {_shown(p.targets[index])!r} "
                 f"({p.kinds[index]}); oracle {route_name(picks['oracle'], layers)}, learned "
                 f"{route_name(picks['learned'], layers)}", height=400)
    fig.update_layout(margin=dict(t=75))
    return fig


def by_kind_figure(result: RoutesResult) -> go.Figure:
    """Per kind of token: difficulty, and the compute the best routes / the oracle / the router give it."""
    kinds = list(result.by_kind)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("difficulty (nats)", "compute (% of all big)"),
                        horizontal_spacing=0.18)
    fig.add_trace(go.Bar(x=kinds, y=[result.by_kind[k]["difficulty"] for k in kinds], name="difficulty",
                         marker_color="#fd8d3c", showlegend=False), row=1, col=1)
    for key, name, color in (("best_route_compute", "best routes", "#74c476"),
                             ("oracle_compute", f"oracle at {100 * result.config.budget:.0f} %", POLICY_COLORS["oracle"]),
                             ("learned_compute", f"learned at {100 * result.config.budget:.0f} %",
                              POLICY_COLORS["learned"])):
        fig.add_trace(go.Bar(x=kinds, y=[100 * result.by_kind[k][key] for k in kinds], name=name, marker_color=color),
                      row=1, col=2)
    return _layout(fig, "By kind of token (held-out)", height=320)


__all__ = ["route_map_figure", "loss_compute_figure", "difficulty_figure", "token_figure", "by_kind_figure",
           "passage_routes", "costs"]
