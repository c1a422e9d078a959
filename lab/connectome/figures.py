"""Pure plotly figure builders for the connectome lab (result in, ``go.Figure`` out)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.connectome.affinities.base import pairs_to_matrix
from lab.connectome.data import Recording

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
           "#9D755D", "#BAB0AC")
EPOCH_FILL = ("rgba(76,120,168,0.10)", "rgba(245,133,24,0.10)", "rgba(84,162,75,0.10)", "rgba(228,87,86,0.10)")


def _color(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _epoch_spans(epochs: np.ndarray | None) -> list[tuple[int, int, int]]:
    """(start, stop, label) runs of equal epoch label, in frames."""
    if epochs is None or len(epochs) == 0:
        return []
    edges = np.flatnonzero(np.diff(epochs)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(epochs)]])
    return [(int(a), int(b), int(epochs[a])) for a, b in zip(starts, stops, strict=True)]


def _shade_epochs(fig: go.Figure, epochs: np.ndarray | None, scale: float = 1.0, **where) -> None:
    for a, b, lab in _epoch_spans(epochs):
        fig.add_vrect(x0=a * scale, x1=b * scale, fillcolor=EPOCH_FILL[lab % len(EPOCH_FILL)], line_width=0,
                      layer="below", annotation_text=f"epoch {lab}", annotation_position="top left", **where)


def traces_heatmap(recording: Recording, animal: int = 0, max_columns: int = 1000) -> go.Figure:
    """Z-scored traces of one animal, neurons x time (s), stimulus epochs shaded.

    Long recordings are shown as the mean of consecutive frames, at most ``max_columns`` columns (a
    screen has no more pixels than that, and the browser gets a figure of ~100 kB instead of MBs).
    """
    x = recording.traces[animal]  # (N, T)
    z = (x - x.mean(axis=1, keepdims=True)) / np.maximum(x.std(axis=1, keepdims=True), 1e-12)
    step = max(1, -(-x.shape[1] // int(max_columns)))  # frames per column
    cols = x.shape[1] // step
    if step > 1:
        z = z[:, : cols * step].reshape(z.shape[0], cols, step).mean(axis=2)  # (N, cols)
    t = (np.arange(z.shape[1]) * step + (step - 1) / 2) / recording.fps  # column centres (s)
    fig = go.Figure(go.Heatmap(z=z.astype(np.float32), x=t.astype(np.float32), y=recording.names,
                               colorscale="Viridis", zmin=-2, zmax=4, colorbar={"title": "z"}))
    _shade_epochs(fig, recording.epochs, 1.0 / recording.fps)
    binned = f" (mean of {step} frames per column)" if step > 1 else ""
    fig.update_layout(title=f"Calcium traces - {recording.animals[animal]}{binned}", xaxis_title="time (s)",
                      yaxis_title="neuron", height=420, margin={"t": 50, "l": 60, "r": 20, "b": 40})
    return fig


def _order(labels: np.ndarray) -> np.ndarray:
    return np.argsort(labels, kind="stable")


def affinity_matrix_figure(result, window: int, animal: int | None = None) -> go.Figure:
    """The measured affinity matrix in one window (mean over animals, or one), neurons in community order."""
    n = result.recording.shape[1]
    vec = result.tensor[:, window, :].mean(axis=1) if animal is None else result.tensor[:, window, animal]
    mat = pairs_to_matrix(np.asarray(vec, dtype=np.float64), n)
    order = _order(result.membership[window])
    names = [result.recording.names[i] for i in order]
    fig = go.Figure(go.Heatmap(z=mat[np.ix_(order, order)], x=names, y=names, colorscale="Blues", zmin=0,
                               zmax=max(float(mat.max()), 1e-9), colorbar={"title": "affinity"}))
    start = int(result.starts[window])
    who = "mean over animals" if animal is None else result.recording.animals[animal]
    fig.update_layout(title=f"Affinity, window {window} (frames {start}-{start + result.config.window}), {who}",
                      height=480, yaxis={"autorange": "reversed"}, margin={"t": 50, "l": 60, "r": 20, "b": 40})
    return fig


def affinity_animation(result, max_frames: int = 80) -> go.Figure:
    """All windows' mean affinity matrices as a plotly animation with a play button and slider."""
    n, w_count = result.recording.shape[1], result.tensor.shape[1]
    max_frames = max(2, min(max_frames, 2_000_000 // (n * n)))  # keep the figure's JSON to a few MB
    shown = np.unique(np.linspace(0, w_count - 1, min(w_count, max_frames)).astype(int))
    order = _order(result.membership[shown[len(shown) // 2]])
    mats = [pairs_to_matrix(result.tensor[:, w, :].mean(axis=1).astype(np.float64), n)[np.ix_(order, order)]
            for w in shown]
    zmax = max(float(max(m.max() for m in mats)), 1e-9)
    frames = [go.Frame(data=[go.Heatmap(z=m, zmin=0, zmax=zmax, colorscale="Blues")], name=str(w))
              for w, m in zip(shown, mats, strict=True)]
    fig = go.Figure(data=[go.Heatmap(z=mats[0], zmin=0, zmax=zmax, colorscale="Blues")], frames=frames)
    steps = [{"args": [[str(w)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": str(w), "method": "animate"} for w in shown]
    fig.update_layout(
        title="Affinity over windows (neurons in community order)", height=480,
        yaxis={"autorange": "reversed"},
        updatemenus=[{"type": "buttons", "showactive": False, "x": 0.0, "y": -0.08, "buttons": [
            {"label": "Play", "method": "animate",
             "args": [None, {"frame": {"duration": 250, "redraw": True}, "fromcurrent": True}]},
            {"label": "Pause", "method": "animate",
             "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}]}],
        sliders=[{"steps": steps, "x": 0.15, "len": 0.85, "currentvalue": {"prefix": "window "}}],
        margin={"t": 50, "l": 40, "r": 20, "b": 80},
    )
    return fig


def rank_scan_figure(scan) -> go.Figure:
    """Reconstruction error and cross-restart factor similarity against rank (tensortools-style)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("reconstruction error", "factor similarity to best restart"))
    for k, r in enumerate(scan.ranks):
        errs, sims = scan.errors[k], scan.similarity[k]
        fig.add_trace(go.Scatter(x=[r] * len(errs), y=errs, mode="markers", marker={"color": "#9aa", "size": 6},
                                 showlegend=False, hovertemplate="rank %{x}: %{y:.4f}"), row=1, col=1)
        fig.add_trace(go.Scatter(x=[r] * len(sims), y=sims, mode="markers", marker={"color": "#9aa", "size": 6},
                                 showlegend=False, hovertemplate="rank %{x}: %{y:.3f}"), row=1, col=2)
    rows = scan.summary()
    fig.add_trace(go.Scatter(x=[s["rank"] for s in rows], y=[s["error_min"] for s in rows], mode="lines+markers",
                             name="best error", line={"color": PALETTE[0]}), row=1, col=1)
    fig.add_trace(go.Scatter(x=[s["rank"] for s in rows], y=[s["similarity"] for s in rows], mode="lines+markers",
                             name="mean similarity", line={"color": PALETTE[1]}), row=1, col=2)
    fig.update_xaxes(title_text="rank", dtick=1)
    fig.update_yaxes(range=[0, 1.05], row=1, col=2)
    fig.update_layout(height=360, margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig


def motif_figure(result, r: int) -> go.Figure:
    """Factor ``r``'s neuron x neuron motif, neurons ordered by the factor's communities."""
    n = result.recording.shape[1]
    mat = pairs_to_matrix(result.fit.pairs[:, r], n)
    labels = result.communities[r].labels
    order = _order(labels)
    names = [result.recording.names[i] for i in order]
    fig = go.Figure(go.Heatmap(z=mat[np.ix_(order, order)], x=names, y=names, colorscale="Magma", reversescale=True,
                               colorbar={"title": "loading"}))
    # outline every community block
    pos = 0
    for c in range(int(labels.max()) + 1):
        size = int(np.sum(labels == c))
        if size > 1:
            fig.add_shape(type="rect", x0=pos - 0.5, x1=pos + size - 0.5, y0=pos - 0.5, y1=pos + size - 0.5,
                          line={"color": _color(c), "width": 2})
        pos += size
    fig.update_layout(title=f"Factor {r}: motif (modularity {result.communities[r].modularity:.2f})",
                      height=440, yaxis={"autorange": "reversed"}, margin={"t": 50, "l": 60, "r": 20, "b": 40})
    return fig


def factor_time_figure(result, factors: list[int] | None = None) -> go.Figure:
    """Time loadings of the factors, at window centres (s), over the shaded stimulus epochs."""
    factors = list(range(result.fit.rank)) if factors is None else factors
    fps = result.recording.fps
    centres = (result.starts + result.config.window / 2) / fps
    fig = go.Figure()
    for r in factors:
        fig.add_trace(go.Scatter(x=centres, y=result.fit.time[:, r] * result.fit.weights[r], mode="lines",
                                 name=f"factor {r}", line={"color": _color(r)}))
    _shade_epochs(fig, result.recording.epochs, 1.0 / fps)
    fig.update_layout(title="When each motif is active", xaxis_title="time (s)", yaxis_title="weighted time loading",
                      height=320, margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig


def animal_loadings_figure(result, r: int) -> go.Figure:
    """Factor ``r``'s loading in every animal."""
    fig = go.Figure(go.Bar(x=result.recording.animals, y=result.fit.animal[:, r], marker_color=_color(r)))
    fig.update_layout(title=f"Factor {r}: in whom", yaxis_title="animal loading", height=300,
                      margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig


def community_graph_figure(result, r: int, keep: float = 0.15, seed: int = 0) -> go.Figure:
    """Factor ``r``'s graph: spring layout (networkx), node colour = community, edge width = weight.

    Only the strongest ``keep`` fraction of edges is drawn (all are used for the layout's communities).
    """
    import networkx as nx

    n = result.recording.shape[1]
    mat = pairs_to_matrix(result.fit.pairs[:, r], n)
    labels = result.communities[r].labels
    iu, ju = np.triu_indices(n, k=1)
    w = mat[iu, ju]
    cut = np.quantile(w, 1 - keep) if len(w) else 0.0
    strong = np.flatnonzero((w >= cut) & (w > 0))
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_weighted_edges_from((int(iu[k]), int(ju[k]), float(w[k])) for k in strong)
    pos = nx.spring_layout(graph, weight="weight", seed=seed)
    xy = np.array([pos[i] for i in range(n)])
    fig = go.Figure()
    wmax = float(w[strong].max()) if len(strong) else 1.0
    buckets = np.minimum((4 * w[strong] / wmax).astype(int), 3)  # 4 width classes: one trace each, not one per edge
    for b in range(4):
        edges = strong[buckets == b]
        if len(edges) == 0:
            continue
        xs = np.column_stack([xy[iu[edges], 0], xy[ju[edges], 0], np.full(len(edges), np.nan)]).ravel()
        ys = np.column_stack([xy[iu[edges], 1], xy[ju[edges], 1], np.full(len(edges), np.nan)]).ravel()
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"width": 0.6 + 1.2 * (b + 1), "color": "rgba(120,120,120,0.4)"}))
    fig.add_trace(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text", text=result.recording.names, textposition="top center",
        textfont={"size": 9}, marker={"size": 12, "color": [_color(int(c)) for c in labels], "line": {"width": 1}},
        customdata=labels, hovertemplate="%{text}: community %{customdata}<extra></extra>", showlegend=False))
    fig.update_layout(title=f"Factor {r}: communities (top {int(keep * 100)}% edges)", height=460,
                      xaxis={"visible": False}, yaxis={"visible": False}, margin={"t": 50, "l": 10, "r": 10, "b": 10})
    return fig


def _segments(result) -> list[tuple[str, np.ndarray]]:
    """(label, window indices) per stimulus epoch, or four equal stretches when epochs are unknown."""
    if result.win_epoch is not None and np.any(result.win_epoch >= 0):
        return [(f"epoch {e}", np.flatnonzero(result.win_epoch == e)) for e in np.unique(result.win_epoch) if e >= 0]
    parts = np.array_split(np.arange(len(result.starts)), min(4, len(result.starts)))
    return [(f"windows {p[0]}-{p[-1]}", p) for p in parts if len(p)]


def segment_membership(result) -> tuple[list[str], np.ndarray]:
    """Each neuron's community per segment (the membership of the segment's middle window)."""
    segs = _segments(result)
    return [s for s, _ in segs], np.stack([result.membership[idx[len(idx) // 2]] for _, idx in segs])


def membership_sankey(result) -> go.Figure:
    """How neurons move between communities from one epoch (or stretch) to the next."""
    names, mem = segment_membership(result)  # (S, N)
    labels, index = [], {}
    for s, name in enumerate(names):
        for c in np.unique(mem[s]):
            index[(s, int(c))] = len(labels)
            labels.append(f"{name} · c{int(c)}")
    src, dst, val, col = [], [], [], []
    for s in range(len(names) - 1):
        pairs, counts = np.unique(np.stack([mem[s], mem[s + 1]], axis=1), axis=0, return_counts=True)
        for (a, b), k in zip(pairs, counts, strict=True):
            src.append(index[(s, int(a))])
            dst.append(index[(s + 1, int(b))])
            val.append(int(k))
            col.append("rgba(150,150,150,0.35)")
    node_colors = [_color(int(lbl.rsplit("c", 1)[1])) for lbl in labels]
    fig = go.Figure(go.Sankey(node={"label": labels, "color": node_colors, "pad": 12},
                              link={"source": src, "target": dst, "value": val, "color": col}))
    fig.update_layout(title="Neuron membership across epochs", height=420, margin={"t": 50, "l": 20, "r": 20, "b": 20})
    return fig


def ntf_progress_figure(errors: list[float]) -> go.Figure:
    """Relative reconstruction error per NTF iteration."""
    fig = go.Figure(go.Scatter(x=np.arange(1, len(errors) + 1), y=errors, mode="lines", line={"color": PALETTE[0]}))
    fig.update_layout(title="NTF: reconstruction error", xaxis_title="iteration", yaxis_title="relative error",
                      height=300, margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig
