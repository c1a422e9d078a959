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
    feature vectors as a one-row heatmap. A red title marks a wrong prediction."""
    e, raw = result.n_exits, result.dataset.raw_test
    preds = result.outputs.preds[op.exit_index, np.arange(len(op.exit_index))]
    fig = make_subplots(rows=e, cols=per_exit, horizontal_spacing=0.01, vertical_spacing=0.06,
                        subplot_titles=[" "] * (e * per_exit))
    titles = []
    for k in range(e):
        chosen = np.flatnonzero(op.exit_index == k)[:per_exit]
        for j in range(per_exit):
            if j >= len(chosen):
                titles.append("")
                continue
            i = chosen[j]
            img = raw[i, 0] if raw.ndim == 4 else raw[i][None]
            fig.add_trace(go.Heatmap(z=img[::-1] if raw.ndim == 4 else img, colorscale="gray_r", showscale=False,
                                     hovertemplate=f"exit {k}: predicted {result.dataset.classes[preds[i]]}, "
                                                   f"true {result.dataset.classes[result.outputs.labels[i]]}<extra></extra>"),
                          row=k + 1, col=j + 1)
            wrong = preds[i] != result.outputs.labels[i]
            titles.append(f"<span style='color:{'red' if wrong else 'black'}'>{result.dataset.classes[preds[i]]}</span>")
    for ann, text in zip(fig.layout.annotations, titles, strict=False):
        ann.text = text
        ann.font = dict(size=11)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor=None)
    for k in range(e):
        fig.update_yaxes(title_text=f"exit {k}", visible=True, showticklabels=False, showgrid=False, row=k + 1, col=1)
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
