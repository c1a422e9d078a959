"""Plotly figure builders for the trajectories lab: pure functions, result in, figure out."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from lab.trajectories.data import Scene

MODEL_COLORS = {"cv": "#7f7f7f", "seq": "#1f77b4", "group": "#d62728"}
EDGE_COLORS = {1: "#2ca02c", 2: "#ff7f0e", 3: "#9467bd"}  # type 0 = no interaction: not drawn
EDGE_NAMES = {1: "moves with (type 1)", 2: "other interaction (type 2)", 3: "type 3"}
PALETTE = qualitative.Dark24


def _extent(scene: Scene, pad: float = 1.0) -> tuple[list[float], list[float]]:
    x, y = scene.pos[..., 0], scene.pos[..., 1]
    return ([float(np.nanmin(x)) - pad, float(np.nanmax(x)) + pad], [float(np.nanmin(y)) - pad, float(np.nanmax(y)) + pad])


def _layout(fig: go.Figure, scene: Scene, height: int = 560) -> go.Figure:
    xr, yr = _extent(scene)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.05),
                      xaxis=dict(range=xr, title="x (m)"), yaxis=dict(range=yr, title="y (m)", scaleanchor="x"))
    return fig


def _group_color(label: int) -> str:
    return PALETTE[int(label) % len(PALETTE)]


def scene_figure(scene: Scene, frame: int, prediction=None, labels: np.ndarray | None = None,
                 models: tuple[str, ...] = ("cv", "seq", "group"), tail: int = 8, show_edges: bool = True) -> go.Figure:
    """One frame: past tracks, ground-truth future, each model's K samples as a fan, inferred edges
    (colour = type, width = strength) and inferred groups as coloured outlines.

    ``prediction``: a :class:`~lab.trajectories.predict.FramePrediction` for ``frame``; ``labels`` (A,) the
    inferred group of each agent at this frame (-1 absent).
    """
    fig = go.Figure()
    present = np.nonzero(scene.present[frame])[0]
    lo = max(0, frame - tail)
    for a in present:  # past tracks
        past = scene.pos[lo:frame + 1, a]
        fig.add_trace(go.Scatter(x=past[:, 0], y=past[:, 1], mode="lines", line=dict(color="#555", width=1.5),
                                 showlegend=False, hoverinfo="skip"))
    if prediction is not None and len(prediction.agents):
        p = prediction
        for name in models:
            if name not in p.predictions:
                continue
            mean, samples = p.predictions[name]
            xs, ys = [], []
            for k in range(samples.shape[0]):
                for n in range(samples.shape[1]):
                    track = np.vstack([p.obs[n, -1:], samples[k, n]])
                    xs += list(track[:, 0]) + [None]
                    ys += list(track[:, 1]) + [None]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=MODEL_COLORS.get(name, "#000"), width=1),
                                     opacity=0.35, name=f"{name}: {samples.shape[0]} samples", hoverinfo="skip"))
        xs, ys = [], []
        for n in range(len(p.agents)):
            track = np.vstack([p.obs[n, -1:], p.future[n]])
            xs += list(track[:, 0]) + [None]
            ys += list(track[:, 1]) + [None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="black", width=2, dash="dash"),
                                 name="true future"))
        if show_edges and p.relations is not None and len(p.agents) > 1:
            _edges(fig, p.obs[:, -1], p.relations["probs"], p.relations["strength"])
    pts = scene.pos[frame, present]
    lab = labels[present] if labels is not None else np.zeros(len(present), dtype=int)
    fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers",
                             marker=dict(size=9, color=[_group_color(g) for g in lab], line=dict(width=1, color="white")),
                             text=[f"agent {scene.agents[a]}, group {g}" for a, g in zip(present, lab, strict=True)],
                             hoverinfo="text", name="agents (colour = inferred group)"))
    if labels is not None:
        for g in np.unique(lab):
            members = pts[lab == g]
            if len(members) < 2:
                continue
            c = members.mean(0)
            r = float(np.linalg.norm(members - c, axis=1).max()) + 0.45
            fig.add_shape(type="circle", x0=c[0] - r, y0=c[1] - r, x1=c[0] + r, y1=c[1] + r,
                          line=dict(color=_group_color(g), width=2))
    fig.update_layout(title=f"frame {int(scene.frames[frame])} ({frame * scene.dt:.1f} s)")
    return _layout(fig, scene)


def _edges(fig: go.Figure, pts: np.ndarray, probs: np.ndarray, strength: np.ndarray, threshold: float = 0.5,
           row: int | None = None, col: int | None = None, legend: bool = True) -> None:
    types = probs.argmax(-1)
    n = len(pts)
    for k in sorted(set(types[np.triu_indices(n, 1)].tolist()) - {0}):
        for i, j in zip(*np.triu_indices(n, 1), strict=True):
            if types[i, j] != k or probs[i, j, k] < threshold:
                continue
            width = 1 + 5 * float((strength[i, j] + strength[j, i]) / 2)
            fig.add_trace(go.Scatter(x=[pts[i, 0], pts[j, 0]], y=[pts[i, 1], pts[j, 1]], mode="lines",
                                     line=dict(color=EDGE_COLORS.get(k, "#000"), width=width), opacity=0.8,
                                     name=EDGE_NAMES.get(k, f"type {k}"), legendgroup=f"edge{k}",
                                     showlegend=legend and (i, j) == _first(types, k), hoverinfo="skip"),
                          row=row, col=col)


def _first(types: np.ndarray, k: int) -> tuple[int, int]:
    n = len(types)
    for i, j in zip(*np.triu_indices(n, 1), strict=True):
        if types[i, j] == k:
            return int(i), int(j)
    return -1, -1


def scene_animation(scene: Scene, labels: np.ndarray | None = None, max_frames: int = 120, tail: int = 8) -> go.Figure:
    """The whole scene as a plotly animation (play button and its own slider): agents coloured by group."""
    present_frames = np.nonzero(scene.present.any(1))[0]
    step = max(1, len(present_frames) // max_frames)
    shown = present_frames[::step]

    def data(f: int) -> list[go.Scatter]:
        idx = np.nonzero(scene.present[f])[0]
        lab = labels[f, idx] if labels is not None else np.zeros(len(idx), dtype=int)
        lo = max(0, f - tail)
        xs, ys = [], []
        for a in idx:
            xs += list(scene.pos[lo:f + 1, a, 0]) + [None]
            ys += list(scene.pos[lo:f + 1, a, 1]) + [None]
        return [go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#999", width=1), showlegend=False),
                go.Scatter(x=scene.pos[f, idx, 0], y=scene.pos[f, idx, 1], mode="markers", showlegend=False,
                           marker=dict(size=9, color=[_group_color(g) for g in lab]))]

    fig = go.Figure(data=data(int(shown[0])) if len(shown) else [],
                    frames=[go.Frame(data=data(int(f)), name=str(int(scene.frames[f]))) for f in shown])
    fig.update_layout(
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=1.08, xanchor="left", buttons=[
            dict(label="Play", method="animate", args=[None, dict(frame=dict(duration=120, redraw=True), fromcurrent=True)]),
            dict(label="Pause", method="animate", args=[[None], dict(mode="immediate", frame=dict(duration=0))])])],
        sliders=[dict(steps=[dict(method="animate", label=str(int(scene.frames[f])),
                                  args=[[str(int(scene.frames[f]))], dict(mode="immediate", frame=dict(duration=0))])
                             for f in shown], currentvalue=dict(prefix="frame "))])
    return _layout(fig, scene, height=600)


def graph_over_time(scene: Scene, relations: dict, frames: list[int], cols: int = 3) -> go.Figure:
    """Small multiples: the inferred interaction graph at a few frames (colour = type, width = strength)."""
    rows = max(1, int(np.ceil(len(frames) / cols)))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"frame {int(scene.frames[f])}" for f in frames],
                        horizontal_spacing=0.03, vertical_spacing=0.08)
    xr, yr = _extent(scene)
    for k, f in enumerate(frames):
        r, c = k // cols + 1, k % cols + 1
        rel = relations.get(int(f))
        if rel is None:
            continue
        pts = scene.pos[f, rel.agents]
        _edges(fig, pts, rel.probs, rel.strength, row=r, col=c, legend=k == 0)
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", showlegend=False,
                                 marker=dict(size=6, color=[_group_color(g) for g in rel.labels])), row=r, col=c)
        fig.update_xaxes(range=xr, showticklabels=False, row=r, col=c)
        fig.update_yaxes(range=yr, showticklabels=False, row=r, col=c)
    fig.update_layout(height=300 * rows, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
    return fig


def horizon_figure(horizon: dict[str, list[float]], min_horizon: dict[str, list[float]], dt: float = 0.4) -> go.Figure:
    """Error against the prediction horizon: mean prediction (solid) and best of K (dotted), per model."""
    fig = go.Figure()
    for name, values in horizon.items():
        t = [dt * (h + 1) for h in range(len(values))]
        color = MODEL_COLORS.get(name, None)
        fig.add_trace(go.Scatter(x=t, y=values, mode="lines+markers", name=f"{name} (mean)", line=dict(color=color)))
        fig.add_trace(go.Scatter(x=t, y=min_horizon[name], mode="lines", name=f"{name} (best of K)",
                                 line=dict(color=color, dash="dot")))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="horizon (s)",
                      yaxis_title="displacement error (m)", legend=dict(orientation="h"))
    return fig


def ari_figure(scene: Scene, per_frame: np.ndarray) -> go.Figure:
    """Per-frame ARI of the inferred groups against the ground truth."""
    fig = go.Figure(go.Scatter(x=scene.frames, y=per_frame, mode="lines", name="ARI"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="frame", yaxis_title="ARI",
                      yaxis_range=[-0.2, 1.05])
    return fig


def springs_edges_figure(scene: Scene, types: np.ndarray, permutation: tuple[int, ...] = (0, 1)) -> go.Figure:
    """True and inferred spring graph over time: one row per pair, one column per frame."""
    iu = np.triu_indices(scene.shape[1], 1)
    truth = scene.edges[:, iu[0], iu[1]].T
    inferred = np.asarray(permutation)[types[:, iu[0], iu[1]]].T
    names = [f"{scene.agents[i]}-{scene.agents[j]}" for i, j in zip(*iu, strict=True)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, subplot_titles=["true springs", "inferred (NRI, no labels)"],
                        vertical_spacing=0.12)
    for r, z in ((1, truth), (2, inferred)):
        fig.add_trace(go.Heatmap(z=z, x=scene.frames, y=names, colorscale=[[0, "#f0f0f0"], [1, "#2ca02c"]],
                                 showscale=False, zmin=0, zmax=1), row=r, col=1)
    fig.update_layout(height=160 + 30 * len(names), margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(title_text="frame", row=2, col=1)
    return fig


def curve_figure(curves: dict[str, list[float]]) -> go.Figure:
    fig = go.Figure()
    steps = curves.get("step", [])
    for k, v in curves.items():
        if k != "step" and v:
            fig.add_trace(go.Scatter(x=steps[-len(v):], y=v, mode="lines", name=k))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="step")
    return fig


def predictions_csv(scene: Scene, prediction) -> str:
    """``model,sample,agent,frame,x,y`` of every sample (sample -1: the mean prediction) of one window."""
    lines = ["model,sample,agent,frame,x,y"]
    step = scene.frame_step
    f0 = int(scene.frames[prediction.frame])
    for name, (mean, samples) in prediction.predictions.items():
        for k, arr in [(-1, mean)] + list(enumerate(samples)):
            for n, a in enumerate(prediction.agents):
                for h in range(arr.shape[1]):
                    x, y = arr[n, h]
                    lines.append(f"{name},{k},{scene.agents[a]},{f0 + step * (h + 1)},{x:.3f},{y:.3f}")
    return "\n".join(lines) + "\n"
