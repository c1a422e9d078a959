"""Plotly figures of the mixture-of-experts view: pure functions of a :class:`~lab.routing.moe.MoEResult`."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.routing.moe import MoEResult

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def expert_color(e: int) -> str:
    return PALETTE[e % len(PALETTE)]


def _layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def _shown(token: str) -> str:
    return {" ": "␣", "\n": "↵"}.get(token, token)


def token_map_figure(result: MoEResult, layer: int = 0, width: int = 24) -> go.Figure:
    """A held-out passage, one cell per token, coloured by its first-choice expert; dropped tokens crossed."""
    p = result.passage
    n = result.config.experts
    t = len(p.tokens)
    rows = math.ceil(t / width)
    z = np.full((rows, width), np.nan)
    text = np.full((rows, width), "", dtype=object)
    hover = np.full((rows, width), "", dtype=object)
    xs, ys = [], []
    for i, tok in enumerate(p.tokens):
        r, c = divmod(i, width)
        e = p.expert[layer][i]
        z[r, c] = e
        text[r, c] = _shown(tok)
        probs = ", ".join(f"e{j} {v:.2f}" for j, v in enumerate(p.probs[layer][i]))
        second = f" then e{p.second[layer][i]}" if p.second[layer][i] >= 0 else ""
        nxt = f"<br>loss on the next token {p.loss[i]:.3f}" if i < len(p.loss) else ""
        if len(p.expert) > 1:
            nxt += "<br>route over the layers: " + " -> ".join(
                f"e{p.expert[li][i]}{'(dropped)' if p.dropped[li][i] else ''}" for li in range(len(p.expert)))
        hover[r, c] = (f"#{i} {_shown(tok)!r} ({p.kinds[i]})<br>expert e{e}{second}"
                       f"{' - DROPPED (skips the FFN)' if p.dropped[layer][i] else ''}<br>router: {probs}{nxt}")
        if p.dropped[layer][i]:
            xs.append(c)
            ys.append(r)
    scale = []
    for e in range(n):
        scale += [[e / n, expert_color(e)], [(e + 1) / n, expert_color(e)]]
    fig = go.Figure(go.Heatmap(z=z, text=text, texttemplate="%{text}", textfont=dict(size=13), customdata=hover,
                               hovertemplate="%{customdata}<extra></extra>", colorscale=scale, zmin=-0.5,
                               zmax=n - 0.5, xgap=2, ygap=2,
                               colorbar=dict(title="expert", tickvals=list(range(n)),
                                             ticktext=[f"e{e}" for e in range(n)])))
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="dropped (over capacity)", hoverinfo="skip",
                                 marker=dict(symbol="x-thin-open", size=22, line=dict(width=2, color="black"))))
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    layers = f" (layer {layer + 1})" if result.config.layers > 1 else ""
    return _layout(fig, f"Token -> expert map{layers}: {len(p.tokens)} held-out tokens, first choice; "
                        f"x = dropped", height=90 + 34 * rows)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < window or window <= 1:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def load_over_training_figure(result: MoEResult) -> go.Figure:
    """Fraction of the (first layer's) assignments each expert got, per training batch (moving average)."""
    hist = np.asarray(result.load_history)
    fig = go.Figure()
    if hist.size:
        window = max(1, min(20, len(hist) // 10))
        steps = np.arange(1, len(hist) + 1)[window - 1:]
        for e in range(hist.shape[1]):
            fig.add_trace(go.Scatter(x=steps, y=_smooth(hist[:, e], window), mode="lines", name=f"e{e}",
                                     line=dict(color=expert_color(e))))
    fig.add_hline(y=1 / result.config.experts, line_dash="dot", line_color="gray", annotation_text="uniform")
    fig.update_xaxes(title="training step")
    fig.update_yaxes(title="share of assignments", rangemode="tozero")
    return _layout(fig, "Expert load over training")


def routing_curves_figure(result: MoEResult) -> go.Figure:
    """Routing entropy, load CV and drop rate over training, each on its own axis."""
    c = result.curves
    fig = make_subplots(rows=1, cols=3, subplot_titles=("routing entropy (nats)", "load CV", "drop rate"))
    for i, key in enumerate(("routing_entropy", "load_cv", "drop_rate")):
        y = np.asarray(c.get(key, []), dtype=float)
        window = max(1, min(20, len(y) // 10))
        fig.add_trace(go.Scatter(x=np.arange(1, len(y) + 1)[window - 1:], y=_smooth(y, window), mode="lines",
                                 name=key, showlegend=False), row=1, col=i + 1)
    fig.add_hline(y=math.log(result.config.experts), line_dash="dot", line_color="gray", row=1, col=1,
                  annotation_text="ln N (uniform)")
    return _layout(fig, "Routing during training (moving average)", height=300)


def kinds_per_expert_figure(result: MoEResult, layer: int = 0) -> go.Figure:
    """Which kinds of tokens each expert takes: the share of each kind among its held-out tokens."""
    counts = result.kinds_per_expert(layer)  # (N, kinds)
    totals = counts.sum(1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    overall = counts.sum(0) / max(1.0, counts.sum())
    fig = go.Figure()
    names = [f"e{e} ({int(totals[e, 0])})" for e in range(len(counts))] + ["all tokens"]
    for k, kind in enumerate(result.kinds):
        fig.add_trace(go.Bar(x=names, y=list(share[:, k]) + [overall[k]], name=kind,
                             hovertemplate=f"{kind}: " + "%{y:.1%}<extra>%{x}</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="share of the expert's tokens", tickformat=".0%")
    return _layout(fig, "Token kinds per expert (first choice, held-out)")
