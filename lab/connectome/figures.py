"""Pure plotly figure builders for the connectome lab (result in, ``go.Figure`` out).

Neurons are labelled by name everywhere; ``highlight`` (a set of names) marks neurons in every view.
Stimulus epochs are marked in neutral greys (never in the factors' colours, which would suggest a pairing),
and in the independent layout every time plot shows where one animal's windows end and the next begin.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.connectome.affinities.base import pairs_to_matrix
from lab.connectome.data import Recording, plural

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
           "#9D755D", "#BAB0AC")
EPOCH_FILL = ("rgba(0,0,0,0.04)", "rgba(0,0,0,0.12)")  # alternating greys: epochs, not factors
HIGHLIGHT = "#D62728"


def _color(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _epoch_spans(epochs: np.ndarray | None) -> list[tuple[int, int, int]]:
    """(start, stop, label) runs of equal epoch label (label >= 0), in frames."""
    if epochs is None or len(epochs) == 0:
        return []
    edges = np.flatnonzero(np.diff(epochs)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(epochs)]])
    return [(int(a), int(b), int(epochs[a])) for a, b in zip(starts, stops, strict=True) if epochs[a] >= 0]


def _shade_epochs(fig: go.Figure, epochs: np.ndarray | None, scale: float = 1.0, offset: float = 0.0,
                  over: bool = False, **where) -> None:
    """Epochs as alternating grey bands with their label; ``over``: dashed boundary lines drawn over a heatmap
    (a band below a heatmap is hidden by it)."""
    spans = _epoch_spans(epochs)
    for k, (a, b, lab) in enumerate(spans):
        x0, x1 = (a + offset) * scale, (b + offset) * scale
        if over:
            if k > 0:
                fig.add_vline(x=x0, line={"color": "white", "width": 2, "dash": "dash"}, layer="above", **where)
            fig.add_annotation(x=(x0 + x1) / 2, y=1.0, yref="paper", yanchor="bottom", text=f"epoch {lab}",
                               showarrow=False, font={"size": 11, "color": "#444"})
        else:
            fig.add_vrect(x0=x0, x1=x1, fillcolor=EPOCH_FILL[lab % 2], line_width=0, layer="below",
                          annotation_text=f"epoch {lab}", annotation_position="top left",
                          annotation_font={"size": 10, "color": "#666"}, **where)


def _ticks(names: list[str], highlight: Collection[str]) -> list[str]:
    """Tick labels with highlighted names in bold red."""
    return [f"<b><span style='color:{HIGHLIGHT}'>{n}</span></b>" if n in highlight else n for n in names]


def _name_axes(fig: go.Figure, names: list[str], highlight: Collection[str], x: bool = True) -> None:
    """Categorical axes that show every name (highlighted ones marked) for up to 120 neurons."""
    if not highlight and len(names) > 120:
        return
    axis = {"tickmode": "array", "tickvals": names, "ticktext": _ticks(names, highlight)}
    fig.update_yaxes(**axis)
    if x:
        fig.update_xaxes(**axis)


def traces_heatmap(recording: Recording, animal: int = 0, max_columns: int = 1000,
                   highlight: Collection[str] = ()) -> go.Figure:
    """Z-scored traces of one animal, neurons x time (s), stimulus epochs marked (lines over the heatmap).

    Neurons not identified in this animal are blank. Long recordings are shown as the mean of consecutive
    frames, at most ``max_columns`` columns (a screen has no more pixels than that, and the browser gets a
    figure of ~100 kB instead of MBs).
    """
    length = int(recording.lengths[animal])
    x = recording.traces[animal, :, :length]  # (N, T_a)
    z = (x - x.mean(axis=1, keepdims=True)) / np.maximum(x.std(axis=1, keepdims=True), 1e-12)
    z[~recording.present[animal]] = np.nan
    step = max(1, -(-x.shape[1] // int(max_columns)))  # frames per column
    cols = x.shape[1] // step
    if step > 1:
        z = z[:, : cols * step].reshape(z.shape[0], cols, step).mean(axis=2)  # (N, cols)
    t = (np.arange(z.shape[1]) * step + (step - 1) / 2) / recording.fps  # column centres (s)
    fig = go.Figure(go.Heatmap(z=z.astype(np.float32), x=t.astype(np.float32), y=recording.names,
                               colorscale="Viridis", zmin=-2, zmax=4, colorbar={"title": "z"},
                               hovertemplate="%{y}, %{x:.1f} s: z %{z:.2f}<extra></extra>"))
    epochs = recording.animal_epochs[animal, :length] if recording.animal_epochs is not None else None
    _shade_epochs(fig, epochs, 1.0 / recording.fps, over=True)
    _name_axes(fig, recording.names, highlight, x=False)
    binned = f" (mean of {step} frames per column)" if step > 1 else ""
    absent = int((~recording.present[animal]).sum())
    blank = f"; {plural(absent, 'neuron')} not identified here (blank)" if absent else ""
    fig.update_layout(title=f"Calcium traces - {recording.animals[animal]}{binned}{blank}", xaxis_title="time (s)",
                      yaxis_title="neuron", height=max(420, min(1200, 12 * len(recording.names) + 120)),
                      yaxis={"autorange": "reversed"}, margin={"t": 60, "l": 70, "r": 20, "b": 40})
    return fig


def neuron_order(result) -> np.ndarray:
    """A fixed neuron order for every window: grouped by the factor each neuron takes part in most, then by
    that factor's community, then by name (the same order in every window, so labels never jump)."""
    strength = np.stack([c.strength for c in result.communities])  # (R, N)
    main = np.argmax(strength * result.fit.weights[:, None], axis=0)  # (N,)
    comm = np.array([result.communities[int(main[i])].labels[i] for i in range(len(main))])
    names = np.asarray(result.recording.names)
    return np.lexsort((names, comm, main))


def window_matrix(result, window: int, animal: int | None = None) -> np.ndarray:
    """(N, N) measured affinity in one window: one animal's, or the mean over the animals that observed the pair
    (NaN where nobody did)."""
    n = result.recording.shape[1]
    vals = result.tensor[:, window, :].astype(np.float64)  # (P, A')
    seen = np.ones(vals.shape, dtype=bool) if result.mask is None else result.mask[:, window, :]
    if animal is not None and result.layout != "independent":
        vals, seen = vals[:, [animal]], seen[:, [animal]]
    count = seen.sum(axis=1)
    vec = np.where(count > 0, (vals * seen).sum(axis=1) / np.maximum(count, 1), np.nan)
    mat = pairs_to_matrix(vec, n)
    np.fill_diagonal(mat, np.nan)
    return mat


def affinity_matrix_figure(result, window: int, animal: int | None = None, order: str = "fixed",
                           highlight: Collection[str] = ()) -> go.Figure:
    """The measured affinity matrix in one window (mean over animals, or one), neurons in a ``fixed`` order
    (:func:`neuron_order`, the default) or in this window's communities (``window``)."""
    mat = window_matrix(result, window, animal)
    idx = neuron_order(result) if order == "fixed" else np.argsort(result.membership[window], kind="stable")
    names = [result.recording.names[i] for i in idx]
    zmax = max(float(np.nanmax(mat)) if np.isfinite(mat).any() else 0.0, 1e-9)
    fig = go.Figure(go.Heatmap(z=mat[np.ix_(idx, idx)], x=names, y=names, colorscale="Blues", zmin=0, zmax=zmax,
                               colorbar={"title": "affinity"},
                               hovertemplate="%{y} - %{x}: %{z:.3f}<extra></extra>"))
    _name_axes(fig, names, highlight)
    who = "mean over animals" if animal is None or result.layout == "independent" else result.recording.animals[animal]
    if result.window_animal[window] >= 0:
        who = result.recording.animals[int(result.window_animal[window])]
    how = "fixed order (factors' communities)" if order == "fixed" else "this window's communities"
    fig.update_layout(title=f"Affinity, window {window}: {result.window_label(window)}, {who}<br>"
                            f"<sup>neurons in {how}</sup>",
                      height=520, yaxis={"autorange": "reversed"}, margin={"t": 70, "l": 70, "r": 20, "b": 60})
    return fig


def affinity_animation(result, max_frames: int = 80, highlight: Collection[str] = ()) -> go.Figure:
    """All windows' mean affinity matrices as a plotly animation (neurons in the fixed order, named axes);
    Play/Pause sit above the plot, the window slider below the tick labels."""
    n, w_count = result.recording.shape[1], result.tensor.shape[1]
    max_frames = max(2, min(max_frames, 2_000_000 // (n * n)))  # keep the figure's JSON to a few MB
    shown = np.unique(np.linspace(0, w_count - 1, min(w_count, max_frames)).astype(int))
    idx = neuron_order(result)
    names = [result.recording.names[i] for i in idx]
    mats = [window_matrix(result, int(w))[np.ix_(idx, idx)] for w in shown]
    zmax = max(float(max(np.nanmax(m) if np.isfinite(m).any() else 0.0 for m in mats)), 1e-9)

    def heat(m):
        return go.Heatmap(z=m, x=names, y=names, zmin=0, zmax=zmax, colorscale="Blues",
                          hovertemplate="%{y} - %{x}: %{z:.3f}<extra></extra>")

    frames = [go.Frame(data=[heat(m)], name=str(w)) for w, m in zip(shown, mats, strict=True)]
    fig = go.Figure(data=[heat(mats[0])], frames=frames)
    steps = [{"args": [[str(w)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}],
              "label": _short_label(result, int(w)), "method": "animate"} for w in shown]
    _name_axes(fig, names, highlight)
    fig.update_layout(
        title="Affinity over windows (neurons in a fixed order)", height=620,
        yaxis={"autorange": "reversed"},
        updatemenus=[{"type": "buttons", "showactive": False, "direction": "left", "x": 1.0, "xanchor": "right",
                      "y": 1.12, "yanchor": "bottom", "buttons": [
                          {"label": "Play", "method": "animate",
                           "args": [None, {"frame": {"duration": 250, "redraw": True}, "fromcurrent": True}]},
                          {"label": "Pause", "method": "animate",
                           "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}]}],
        sliders=[{"steps": steps, "x": 0.0, "len": 1.0, "y": -0.02, "yanchor": "top", "pad": {"t": 90},
                  "currentvalue": {"prefix": "window ", "font": {"size": 12}}}],
        margin={"t": 90, "l": 70, "r": 20, "b": 160},
    )
    return fig


def _short_label(result, w: int) -> str:
    text = str(w)
    if result.win_epoch is not None and result.win_epoch[w] >= 0:
        text += f" (epoch {int(result.win_epoch[w])})"
    return text


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


def motif_figure(result, r: int, highlight: Collection[str] = ()) -> go.Figure:
    """Factor ``r``'s neuron x neuron motif, neurons (by name) ordered by the factor's communities."""
    n = result.recording.shape[1]
    mat = pairs_to_matrix(result.fit.pairs[:, r], n)
    labels = result.communities[r].labels
    order = np.argsort(labels, kind="stable")
    names = [result.recording.names[i] for i in order]
    fig = go.Figure(go.Heatmap(z=mat[np.ix_(order, order)], x=names, y=names, colorscale="Magma", reversescale=True,
                               colorbar={"title": "loading"}, hovertemplate="%{y} - %{x}: %{z:.4f}<extra></extra>"))
    # outline every community block
    pos = 0
    for c in range(int(labels.max()) + 1):
        size = int(np.sum(labels == c))
        if size > 1:
            fig.add_shape(type="rect", x0=pos - 0.5, x1=pos + size - 0.5, y0=pos - 0.5, y1=pos + size - 0.5,
                          line={"color": _color(c), "width": 2})
        pos += size
    _name_axes(fig, names, highlight)
    fig.update_layout(title=f"Factor {r}: motif (modularity {result.communities[r].modularity:.2f})",
                      height=480, yaxis={"autorange": "reversed"}, margin={"t": 50, "l": 70, "r": 20, "b": 60})
    return fig


def _time_axis(result) -> np.ndarray:
    """(W,) window centres in seconds on the plots' time axis (independent: animals one after another)."""
    return (result.window_frames() + result.window / 2) / result.recording.fps


def _mark_time(fig: go.Figure, result) -> None:
    """Epoch bands (every animal's, independent layout) and animal boundaries on a time plot."""
    fps = result.recording.fps
    ep = result.recording.animal_epochs
    if result.layout == "independent":
        offsets = result.window_offsets()
        for a in dict.fromkeys(result.window_animal.tolist()):
            if ep is not None:
                _shade_epochs(fig, ep[a, : int(result.recording.lengths[a])], 1.0 / fps, float(offsets[a]))
        for k, (frame, name) in enumerate(result.boundaries()):
            if k > 0:
                fig.add_vline(x=frame / fps, line={"color": "#222", "width": 1.5})
            fig.add_annotation(x=frame / fps, y=1.0, yref="paper", yanchor="bottom", xanchor="left", text=name,
                               showarrow=False, font={"size": 11, "color": "#222"})
    elif ep is not None:
        _shade_epochs(fig, ep[0], 1.0 / fps)


def factor_time_figure(result, factors: list[int] | None = None, covariates: bool = True) -> go.Figure:
    """Time loadings of the factors at window centres (s), over the stimulus epochs, and under them every
    covariate averaged per window (one panel each). Independent layout: animals one after another, each
    boundary drawn."""
    factors = list(range(result.fit.rank)) if factors is None else factors
    covs = list(result.covariates) if covariates else []
    rows = 1 + len(covs)
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[3] + [1] * len(covs)) if covs else go.Figure()
    x = _time_axis(result)
    where = {"row": 1, "col": 1} if covs else {}
    for r in factors:
        fig.add_trace(go.Scatter(x=x, y=result.fit.time[:, r] * result.fit.weights[r], mode="lines+markers",
                                 marker={"size": 3}, name=f"factor {r}", line={"color": _color(r)}), **where)
    for k, name in enumerate(covs):
        corr = result.correlations.get(name, [])
        best = ", ".join(f"f{r} {corr[r]:+.2f}" for r in factors if r < len(corr) and corr[r] is not None)
        fig.add_trace(go.Scatter(x=x, y=result.covariates[name], mode="lines", name=name, showlegend=False,
                                 line={"color": "#555", "width": 1.2}), row=k + 2, col=1)
        fig.update_yaxes(title_text=name, title_font={"size": 10}, row=k + 2, col=1)
        fig.add_annotation(x=1.0, xref="paper", xanchor="right", y=1.0, yref=f"y{k + 2} domain", yanchor="bottom",
                           text=f"r: {best}" if best else "", showarrow=False, font={"size": 10, "color": "#555"})
    _mark_time(fig, result)
    fig.update_layout(title="When each motif is active" + (" - and the covariates per window" if covs else ""),
                      height=320 + 90 * len(covs), margin={"t": 60, "l": 60, "r": 20, "b": 40},
                      legend={"orientation": "h", "y": -0.12 if not covs else -0.05})
    axis = {"row": rows, "col": 1} if covs else {}
    fig.update_xaxes(title_text="time (s)" + (", animals one after another" if result.layout == "independent"
                                              else ""), **axis)
    fig.update_yaxes(title_text="weighted time loading", **({"row": 1, "col": 1} if covs else {}))
    return fig


def correlation_figure(result) -> go.Figure:
    """The factor-by-covariate correlation table (Pearson r of time loading and covariate, over windows)."""
    names = list(result.correlations)
    z = np.array([[np.nan if v is None else v for v in result.correlations[c]] for c in names], dtype=float)
    text = [["-" if np.isnan(v) else f"{v:+.2f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=[f"factor {r}" for r in range(result.fit.rank)], y=names, zmin=-1, zmax=1,
                               colorscale="RdBu", reversescale=True, text=text, texttemplate="%{text}",
                               colorbar={"title": "r"}, hovertemplate="%{y} vs %{x}: r = %{z:.2f}<extra></extra>"))
    fig.update_layout(title="What each motif does: correlation of its time course with each covariate",
                      height=140 + 40 * len(names), yaxis={"autorange": "reversed"},
                      margin={"t": 50, "l": 100, "r": 20, "b": 40})
    return fig


def animal_loadings_figure(result, r: int) -> go.Figure:
    """Factor ``r``'s loading in every animal (independent layout: its mean time loading in each animal)."""
    fig = go.Figure(go.Bar(x=result.recording.animals, y=result.animal_loadings()[:, r], marker_color=_color(r)))
    what = "animal loading" if result.layout != "independent" else "mean time loading (scaled)"
    fig.update_layout(title=f"Factor {r}: in whom", yaxis_title=what, height=300,
                      margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig


def community_graph_figure(result, r: int, keep: float = 0.15, seed: int = 0,
                           highlight: Collection[str] = ()) -> go.Figure:
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
    names = result.recording.names
    lit = np.array([name in highlight for name in names])
    fig.add_trace(go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text", text=names, textposition="top center",
        textfont={"size": [12 if h else 9 for h in lit], "color": [HIGHLIGHT if h else "#333" for h in lit]},
        marker={"size": [18 if h else 12 for h in lit], "color": [_color(int(c)) for c in labels],
                "line": {"width": [3 if h else 1 for h in lit], "color": [HIGHLIGHT if h else "#333" for h in lit]}},
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


def membership_sankey(result, highlight: Collection[str] = ()) -> go.Figure:
    """How neurons move between communities from one epoch (or stretch) to the next.

    Community ids are matched across windows (:func:`lab.connectome.communities.match_membership`), so one
    colour is one community in every column. Flows that carry highlighted neurons are drawn in red.
    """
    names, mem = segment_membership(result)  # (S, N)
    lit = np.array([n in highlight for n in result.recording.names])
    labels, index, colors = [], {}, []
    for s, name in enumerate(names):
        for c in np.unique(mem[s]):
            index[(s, int(c))] = len(labels)
            members = [result.recording.names[i] for i in np.flatnonzero(mem[s] == c)]
            labels.append(f"{name} · community {int(c)} ({len(members)})")
            colors.append(_color(int(c)))
    src, dst, val, col, hover = [], [], [], [], []
    for s in range(len(names) - 1):
        for flag in (False, True):
            sel = lit == flag
            if not sel.any():
                continue
            pairs, counts = np.unique(np.stack([mem[s][sel], mem[s + 1][sel]], axis=1), axis=0, return_counts=True)
            for (a, b), k in zip(pairs, counts, strict=True):
                who = [result.recording.names[i] for i in np.flatnonzero(sel & (mem[s] == a) & (mem[s + 1] == b))]
                src.append(index[(s, int(a))])
                dst.append(index[(s + 1, int(b))])
                val.append(int(k))
                col.append("rgba(214,39,40,0.6)" if flag else "rgba(150,150,150,0.35)")
                hover.append(", ".join(who[:12]) + ("..." if len(who) > 12 else ""))
    fig = go.Figure(go.Sankey(node={"label": labels, "color": colors, "pad": 12},
                              link={"source": src, "target": dst, "value": val, "color": col, "customdata": hover,
                                    "hovertemplate": "%{customdata}<extra></extra>"}))
    fig.update_layout(title="Neuron membership across epochs (one colour = one community throughout)", height=440,
                      margin={"t": 50, "l": 20, "r": 20, "b": 20})
    return fig


def ntf_progress_figure(errors: list[float]) -> go.Figure:
    """Relative reconstruction error per NTF iteration."""
    fig = go.Figure(go.Scatter(x=np.arange(1, len(errors) + 1), y=errors, mode="lines", line={"color": PALETTE[0]}))
    fig.update_layout(title="NTF: reconstruction error", xaxis_title="iteration", yaxis_title="relative error",
                      height=300, margin={"t": 50, "l": 50, "r": 20, "b": 40})
    return fig
