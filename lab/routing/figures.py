"""Plotly figures of the early-exit lab: pure functions of a result (and an operating point)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.routing.exits import ExitsResult, OperatingPoint
from lab.routing.policies import POLICIES

COLORS = {"max_prob": "#1f77b4", "entropy": "#2ca02c", "patience": "#9467bd", "gate": "#d62728", "oracle": "#7f7f7f"}


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def pareto_figure(result: ExitsResult, op: OperatingPoint | None = None) -> go.Figure:
    """Accuracy vs mean MACs per policy (log MACs), the static network, and the chosen operating point."""
    fig = go.Figure()
    for name, p in result.policies.items():
        mode = "markers" if len(p.curve) == 1 else "lines+markers"
        fig.add_trace(go.Scatter(
            x=[r["mean_macs"] for r in p.curve], y=[100 * r["accuracy"] for r in p.curve], mode=mode,
            name=POLICIES[name].label, line=dict(color=COLORS.get(name)), marker=dict(size=6),
            customdata=[[r["threshold"], r["speedup"]] for r in p.curve],
            hovertemplate="t = %{customdata[0]}<br>accuracy %{y:.2f} %<br>%{x:.3s} MACs (%{customdata[1]:.2f}x)"))
    base = result.costs.baseline
    fig.add_trace(go.Scatter(x=[base], y=[100 * result.last_exit_accuracy], mode="markers", name="static network",
                             marker=dict(symbol="square", size=11, color="black")))
    fig.add_hline(y=100 * (result.last_exit_accuracy - 0.01), line_dash="dot", line_color="gray",
                  annotation_text="1 point below the last exit", annotation_position="bottom right")
    if op is not None:
        fig.add_trace(go.Scatter(x=[op.mean_macs], y=[100 * op.accuracy], mode="markers", name="operating point",
                                 marker=dict(symbol="star", size=18, color=COLORS.get(op.policy, "orange"),
                                             line=dict(width=1, color="black"))))
    fig.update_xaxes(type="log", title="mean MACs per input (log)")
    fig.update_yaxes(title="accuracy (%)")
    return _layout(fig, "Accuracy vs compute (Pareto curve per policy)", 420)


def exit_histogram(result: ExitsResult, op: OperatingPoint) -> go.Figure:
    """How many inputs leave at each exit, and how accurate they are there."""
    e = result.n_exits
    counts = op.histogram(e)
    acc = [float(op.correct[op.exit_index == k].mean()) if counts[k] else None for k in range(e)]
    fig = go.Figure(go.Bar(x=[f"exit {k}" for k in range(e)], y=counts, marker_color=COLORS.get(op.policy),
                           text=[f"{c} ({'-' if a is None else f'{100 * a:.1f} %'} right)" for c, a in zip(counts, acc, strict=True)],
                           textposition="auto", name="inputs"))
    fig.update_yaxes(title="inputs")
    return _layout(fig, f"Exit depth: {POLICIES[op.policy].label}, t = {op.threshold:g}")


def reliability_figure(result: ExitsResult, op: OperatingPoint) -> go.Figure:
    """Reliability diagram of the policy's predictions (and of the last exit alone)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="calibrated"))
    last = result.operating_point("max_prob", 1.0 + 1e-9)  # every input at the last exit
    for point, name, color in ((last, f"last exit (ECE {last.ece:.3f})", "black"),
                               (op, f"{POLICIES[op.policy].label} (ECE {op.ece:.3f})", COLORS.get(op.policy))):
        rows = point.reliability()
        fig.add_trace(go.Scatter(x=[r["confidence"] for r in rows], y=[r["accuracy"] for r in rows], name=name,
                                 mode="lines+markers", line=dict(color=color),
                                 marker=dict(size=[4 + 16 * np.sqrt(r["count"] / len(point.correct)) for r in rows]),
                                 customdata=[r["count"] for r in rows],
                                 hovertemplate="confidence %{x:.3f}<br>accuracy %{y:.3f}<br>%{customdata} inputs"))
    fig.update_xaxes(title="confidence (max probability at the exit taken)", range=[0, 1.02])
    fig.update_yaxes(title="accuracy", range=[0, 1.02])
    return _layout(fig, "Reliability diagram")


def gallery_figure(result: ExitsResult, op: OperatingPoint, per_exit: int = 8) -> go.Figure:
    """Inputs grouped by the exit they took (one row per exit). Digit images are drawn as images;
    feature vectors as a one-row heatmap. A red label marks a wrong prediction.

    One heatmap of tiles (not one subplot per input): a browser draws it at once, which keeps the page's
    first view fast.
    """
    e, raw = result.n_exits, result.dataset.raw_test
    preds = result.outputs.preds[op.exit_index, np.arange(len(op.exit_index))]
    th, tw = raw[0, 0].shape if raw.ndim == 4 else (1, np.asarray(raw[0]).size)  # one tile: an image or a row
    gap = 1
    height, width = e * (th + gap), per_exit * (tw + gap)
    z = np.full((height, width), np.nan)
    labels_x, labels_y, labels_text, hovers = [], [], [], []
    for k in range(e):
        chosen = np.flatnonzero(op.exit_index == k)[:per_exit]
        row0 = (e - 1 - k) * (th + gap)  # exit 0 on top
        for j, i in enumerate(chosen):
            img = raw[i, 0][::-1] if raw.ndim == 4 else np.asarray(raw[i], dtype=float)[None]
            col0 = j * (tw + gap)
            z[row0:row0 + th, col0:col0 + tw] = img
            pred, true = result.dataset.classes[preds[i]], result.dataset.classes[result.outputs.labels[i]]
            hovers.append(f"exit {k}: predicted {pred}, true {true}")
            wrong = preds[i] != result.outputs.labels[i]
            labels_x.append(col0 + (tw - 1) / 2)
            labels_y.append(row0 + th - 0.5 + 0.6)
            labels_text.append(f"<span style='color:{'red' if wrong else 'black'}'>{pred}</span>")
    fig = go.Figure(go.Heatmap(z=z, colorscale="gray_r", showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=labels_x, y=labels_y, mode="text", text=labels_text, textfont=dict(size=11),
                             hovertext=hovers, hoverinfo="text", showlegend=False))  # hover a label: what and why
    fig.update_xaxes(visible=False)
    fig.update_yaxes(tickvals=[(e - 1 - k) * (th + gap) + (th - 1) / 2 for k in range(e)],
                     ticktext=[f"exit {k}" for k in range(e)], showgrid=False, zeroline=False,
                     scaleanchor="x" if raw.ndim == 4 else None)
    return _layout(fig, "Inputs by the exit they took (label: prediction; red: wrong)", 110 * e + 60)


def exit_accuracy_figure(result: ExitsResult) -> go.Figure:
    """Every exit's own accuracy and ECE against its cumulative MACs."""
    cum = result.costs.cumulative()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=[f"exit {k}" for k in range(result.n_exits)], y=[100 * a for a in result.exit_accuracy],
                         name="accuracy (%)", text=[f"{c / result.costs.baseline:.1%} of the MACs" for c in cum],
                         textposition="inside"), secondary_y=False)
    fig.add_trace(go.Scatter(x=[f"exit {k}" for k in range(result.n_exits)], y=result.exit_ece(), name="ECE",
                             mode="lines+markers"), secondary_y=True)
    fig.update_yaxes(title="accuracy (%)", secondary_y=False)
    fig.update_yaxes(title="ECE", secondary_y=True)
    return _layout(fig, "Each exit alone")
