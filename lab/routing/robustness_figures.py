"""Plotly figures of the robustness view: pure functions of a :class:`~lab.routing.robustness.RobustResult`."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.routing.policies import POLICIES
from lab.routing.robustness import RobustResult

OBJECTIVE_STYLE = {"accuracy": ("accuracy attack (last exit's loss)", "#d62728"),
                   "slowdown": ("slowdown attack (early exits -> uniform, gates -> go on)", "#9467bd")}


def _eps_label(result: RobustResult) -> str:
    return f"epsilon ({result.scale.units})"


def robustness_curves_figure(result: RobustResult, policy: str, threshold: float, epsilon: float | None = None
                             ) -> go.Figure:
    """Accuracy, mean exit depth and MAC speed-up against epsilon, one line per attack objective.

    Dotted: the last exit alone (the static network) under the same perturbation. A vertical line marks
    the chosen ``epsilon``.
    """
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08,
                        subplot_titles=("accuracy (%)", "mean exit depth (0 = first)", "speed-up in MACs (x)"))
    for obj, (label, color) in OBJECTIVE_STYLE.items():
        if obj not in result.adversarial:
            continue
        s = result.series(obj, policy, threshold)
        common = dict(x=s["epsilon"], mode="lines+markers", line=dict(color=color), legendgroup=obj)
        fig.add_trace(go.Scatter(y=[100 * a for a in s["accuracy"]], name=label, **common,
                                 hovertemplate="epsilon %{x}<br>accuracy %{y:.1f} %"), row=1, col=1)
        fig.add_trace(go.Scatter(y=[100 * a for a in s["last_exit_accuracy"]], name=f"{obj}: last exit alone",
                                 **{**common, "line": dict(color=color, dash="dot")}, showlegend=False,
                                 hovertemplate="epsilon %{x}<br>last exit alone %{y:.1f} %"), row=1, col=1)
        fig.add_trace(go.Scatter(y=s["mean_exit"], name=label, **common, showlegend=False,
                                 hovertemplate="epsilon %{x}<br>mean exit %{y:.2f}"), row=1, col=2)
        fig.add_trace(go.Scatter(y=s["speedup"], name=label, **common, showlegend=False,
                                 hovertemplate="epsilon %{x}<br>%{y:.2f}x fewer MACs than the static net"),
                      row=1, col=3)
    if epsilon is not None:
        for col in (1, 2, 3):
            fig.add_vline(x=epsilon, line_dash="dash", line_color="gray", row=1, col=col)
    fig.update_yaxes(range=[0, 102], row=1, col=1)
    fig.update_yaxes(range=[-0.05, result.n_exits - 0.95], row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title=_eps_label(result))
    fig.update_layout(title=f"Under attack: {POLICIES[policy].label}, t = {threshold:g} "
                            f"({result.config.attack.upper()}"
                            + (f", {result.config.attack_steps} steps)" if result.config.attack == "pgd" else ")")
                            + " - dotted: the last exit alone",
                      height=380, margin=dict(l=10, r=10, t=70, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def exit_shift_figure(result: RobustResult, policy: str, threshold: float, index: int) -> go.Figure:
    """How many inputs leave at each exit: clean, and under each attack at epsilon number ``index``."""
    e = result.n_exits
    fig = go.Figure(go.Bar(x=[f"exit {k}" for k in range(e)],
                           y=result.point(None, 0, policy, threshold).histogram(e), name="clean",
                           marker_color="#1f77b4"))
    for obj, (label, color) in OBJECTIVE_STYLE.items():
        if obj in result.adversarial and index < len(result.adversarial[obj]):
            fig.add_trace(go.Bar(x=[f"exit {k}" for k in range(e)], name=label.split(" (")[0], marker_color=color,
                                 y=result.point(obj, index, policy, threshold).histogram(e)))
    fig.update_yaxes(title="inputs")
    fig.update_layout(barmode="group", title=f"Exit depth at epsilon = {result.epsilons[index]:g}", height=360,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def shown_inputs(result: RobustResult, objective: str, index: int, policy: str, threshold: float,
                 n: int = 8) -> np.ndarray:
    """Up to ``n`` held-out inputs to show: first those the attack moved (later exit or a new prediction)."""
    clean = result.point(None, 0, policy, threshold)
    adv = result.point(objective, index, policy, threshold)
    moved = (adv.exit_index != clean.exit_index) | (adv.correct != clean.correct)
    order = np.concatenate([np.flatnonzero(moved), np.flatnonzero(~moved)])
    return order[:n]


def perturbed_gallery_figure(result: RobustResult, objective: str, index: int, policy: str, threshold: float,
                             n: int = 6) -> go.Figure:
    """Clean inputs (top row), the attacked ones (middle) and the change (bottom, red up, blue down), each
    labelled with the exit it took and its prediction. Digits are drawn as images, feature vectors as
    one-row strips. One pair of heatmaps on one axis, so the three rows of tiles line up."""
    idx = shown_inputs(result, objective, index, policy, threshold, n)
    clean = result.point(None, 0, policy, threshold)
    adv = result.point(objective, index, policy, threshold)
    x0, x1 = result.clean_x[idx], result.perturbed[objective][index][idx]
    classes, labels = result.dataset.classes, result.clean.labels
    preds0 = result.clean.preds[clean.exit_index[idx], idx]
    preds1 = result.outputs(objective, index).preds[adv.exit_index[idx], idx]
    eps = result.epsilons[index]

    def tile(v: np.ndarray) -> np.ndarray:
        return v[0][::-1] if v.ndim == 3 else np.asarray(v, dtype=float)[None]

    th, tw = tile(x0[0]).shape
    gap, label_h = 1, 2  # a column between tiles; rows of room under each tile row for its labels
    row_h = th + label_h
    images = np.full((3 * row_h, len(idx) * (tw + gap)), np.nan)
    change = images.copy()
    for j in range(len(idx)):
        c0 = j * (tw + gap)
        images[2 * row_h + label_h:, c0:c0 + tw] = tile(x0[j])  # y grows upward: clean on top
        images[row_h + label_h:2 * row_h, c0:c0 + tw] = tile(x1[j])
        change[label_h:row_h, c0:c0 + tw] = tile(x1[j] - x0[j])
    lo, hi = (result.scale.lo, result.scale.hi) if result.scale.lo is not None else (None, None)
    bound = max(eps, 1e-9)
    fig = go.Figure(go.Heatmap(z=images, colorscale="gray_r", zmin=lo, zmax=hi, showscale=False, hoverinfo="skip"))
    fig.add_trace(go.Heatmap(z=change, colorscale="RdBu_r", zmin=-bound, zmax=bound, showscale=False,
                             hovertemplate="change %{z:.2f}<extra></extra>"))
    xs = [j * (tw + gap) + (tw - 1) / 2 for j in range(len(idx))]
    for base, ex, preds in ((2 * row_h, clean.exit_index[idx], preds0), (row_h, adv.exit_index[idx], preds1)):
        texts = [f"<span style='color:{'black' if p == labels[i] else 'red'}'>e{k}: {classes[p]}</span>"
                 for k, p, i in zip(ex, preds, idx, strict=True)]
        fig.add_trace(go.Scatter(x=xs, y=[base + label_h / 2 - 0.5] * len(idx), mode="text", text=texts,
                                 textfont=dict(size=11), hoverinfo="skip", showlegend=False))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(tickvals=[2 * row_h + label_h + th / 2, row_h + label_h + th / 2, label_h + th / 2],
                     ticktext=["clean", f"attacked<br>eps {eps:g}", "change"], showgrid=False, zeroline=False,
                     scaleanchor="x" if th > 1 else None)
    fig.update_layout(title=f"Moved by the {objective} attack (e<i>k</i>: exit taken; red: wrong)",
                      height=340, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white")
    return fig
