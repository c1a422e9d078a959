"""Plotly figures for the pointer lab; pure functions of results, no Streamlit.

Conventions: points are (n, 2) in their own units; ``task`` decides how an output is drawn (a closed
tour, a hull polygon, or triangle edges); attention rows are probabilities over the n points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MODEL_COLOUR = "#1f77b4"
REFERENCE_COLOUR = "#2ca02c"
CHOSEN_COLOUR = "#d62728"
POINT_COLOUR = "#7f7f7f"


def _segments(points: np.ndarray, task: str, output: np.ndarray | Sequence[int], closed: bool = True
              ) -> tuple[list[float | None], list[float | None]]:
    """x/y arrays with ``None`` breaks for the edges of an output."""
    pts = np.asarray(points, dtype=float)
    xs: list[float | None] = []
    ys: list[float | None] = []
    if task == "delaunay":
        tri = np.asarray(output, dtype=int).reshape(-1, 3) if np.asarray(output).size else np.zeros((0, 3), int)
        for t in tri:
            loop = [*t, t[0]]
            xs += [*pts[loop, 0].tolist(), None]
            ys += [*pts[loop, 1].tolist(), None]
        return xs, ys
    idx = [int(i) for i in output]
    if not idx:
        return xs, ys
    if closed and len(idx) > 2:
        idx = [*idx, idx[0]]
    return pts[idx, 0].tolist(), pts[idx, 1].tolist()


def _points_trace(points: np.ndarray, name: str = "points", show_index: bool = True) -> go.Scatter:
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    return go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers+text" if show_index and n <= 60 else "markers",
                      text=[str(i) for i in range(n)] if n <= 60 else None, textposition="top center",
                      textfont={"size": 9, "color": "#555"}, marker={"size": 7, "color": POINT_COLOUR},
                      name=name, hovertemplate="point %{customdata}<br>(%{x:.4g}, %{y:.4g})<extra></extra>",
                      customdata=np.arange(n))


def _square_axes(fig: go.Figure, rows: int = 1, cols: int = 1) -> None:
    if cols == 1:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    else:
        for c in range(1, cols + 1):
            fig.update_yaxes(scaleanchor=f"x{'' if c == 1 else c}", scaleratio=1, row=1, col=c)
    # The legend sits below the x tick labels (anchored by its top, with room in the bottom margin), so at
    # 1280x720 it never covers them.
    fig.update_layout(margin={"l": 10, "r": 10, "t": 50, "b": 60},
                      legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0.0, "xanchor": "left"})


def solution_figure(points: np.ndarray, task: str, output: np.ndarray | Sequence[int], title: str = "",
                    colour: str = MODEL_COLOUR) -> go.Figure:
    """One instance with one output drawn on it."""
    fig = go.Figure()
    xs, ys = _segments(points, task, output)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": 2}, name=title or task,
                             hoverinfo="skip", fill="toself" if task == "hull" else None,
                             fillcolor="rgba(31,119,180,0.08)" if task == "hull" else None))
    fig.add_trace(_points_trace(points))
    fig.update_layout(title=title, height=420)
    _square_axes(fig)
    return fig


def _edges(task: str, output: np.ndarray | Sequence[int]) -> set[tuple[int, int]]:
    """Undirected edges of an output: consecutive pairs of a closed tour/hull, or triangle sides."""
    arr = np.asarray(output, dtype=int)
    if task == "delaunay":
        tri = arr.reshape(-1, 3) if arr.size else np.zeros((0, 3), int)
        pairs = [(t[a], t[b]) for t in tri for a, b in ((0, 1), (1, 2), (0, 2))]
    else:
        seq = arr.reshape(-1).tolist()
        pairs = list(zip(seq, seq[1:] + seq[:1], strict=True)) if len(seq) > 1 else []
    return {(int(min(a, b)), int(max(a, b))) for a, b in pairs}


def _edge_trace(points: np.ndarray, edges: set[tuple[int, int]], name: str, colour: str, dash: str = "solid"
                ) -> go.Scatter:
    pts = np.asarray(points, dtype=float)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in sorted(edges):
        xs += [pts[a, 0], pts[b, 0], None]
        ys += [pts[a, 1], pts[b, 1], None]
    return go.Scatter(x=xs, y=ys, mode="lines", line={"color": colour, "width": 2, "dash": dash}, name=name,
                      hoverinfo="skip")


def _triangle_fills(points: np.ndarray, output, reference) -> list[go.Scatter]:
    """Filled triangles of ``output``: those in ``reference`` light blue, the others light red."""
    pts = np.asarray(points, dtype=float)
    out = np.asarray(output, dtype=int).reshape(-1, 3) if np.asarray(output).size else np.zeros((0, 3), int)
    ref = {tuple(sorted(t)) for t in np.asarray(reference, dtype=int).reshape(-1, 3).tolist()} \
        if reference is not None and np.asarray(reference).size else set()
    traces = []
    for good, colour, name in ((True, "rgba(31,119,180,0.15)", "triangle in the reference"),
                               (False, "rgba(214,39,40,0.30)", "triangle not in the reference")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for t in out.tolist():
            if (tuple(sorted(t)) in ref) == good:
                xs += [*pts[[*t, t[0]], 0].tolist(), None]
                ys += [*pts[[*t, t[0]], 1].tolist(), None]
        if xs:
            traces.append(go.Scatter(x=xs, y=ys, mode="none", fill="toself", fillcolor=colour, name=name,
                                     hoverinfo="skip"))
    return traces


def comparison_figure(points: np.ndarray, task: str, output: np.ndarray | Sequence[int],
                      reference: np.ndarray | Sequence[int] | None, titles: tuple[str, str],
                      right: str = "the reference") -> go.Figure:
    """Side by side: the method's output (left) and the reference (right) on the same instance.

    Edges of the output that the right-hand output does not have are drawn red and dashed, so mistakes
    (or, for two decodings, their differences) stand out. ``right`` names the right-hand output in the legend.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.04)
    if task == "delaunay":  # triangles filled: the right-hand side's in blue, the others red
        for trace in _triangle_fills(points, output, reference):
            fig.add_trace(trace, row=1, col=1)
    out_edges = _edges(task, output)
    ref_edges = _edges(task, reference) if reference is not None else set()
    if reference is not None:
        fig.add_trace(_edge_trace(points, out_edges & ref_edges, f"shared with {right}", MODEL_COLOUR), row=1, col=1)
        wrong = out_edges - ref_edges
        if wrong:
            fig.add_trace(_edge_trace(points, wrong, f"not in {right} ({len(wrong)})", CHOSEN_COLOUR, "dash"),
                          row=1, col=1)
        fig.add_trace(_edge_trace(points, ref_edges, right.removeprefix("the "), REFERENCE_COLOUR), row=1, col=2)
    else:
        fig.add_trace(_edge_trace(points, out_edges, titles[0], MODEL_COLOUR), row=1, col=1)
    for col in (1, 2):
        pts_trace = _points_trace(points)
        pts_trace.showlegend = col == 1
        fig.add_trace(pts_trace, row=1, col=col)
    fig.update_layout(height=460)
    _square_axes(fig, cols=2)
    return fig


def _partial(task: str, sequence: Sequence[int], step: int) -> list[int]:
    """The output chosen before ``step`` (delaunay: only completed triangles)."""
    done = [int(s) for s in sequence[:step]]
    if task == "delaunay":
        return done[: len(done) // 3 * 3]
    return done


def _step_traces(points: np.ndarray, task: str, sequence: Sequence[int], attention: np.ndarray,
                 step: int) -> list[go.Scatter]:
    pts = np.asarray(points, dtype=float)
    probs = np.asarray(attention[step], dtype=float)[: len(pts)]  # (n,)
    chosen = int(sequence[step]) if step < len(sequence) else None
    done = _partial(task, sequence, step)
    xs, ys = _segments(pts, task, done, closed=False)
    # Arrowheads along the output so far show its direction (each points away from the previous point).
    arrows = task != "delaunay" and len(done) > 1
    traces = [go.Scatter(x=xs, y=ys, mode="lines+markers" if arrows else "lines",
                         line={"color": MODEL_COLOUR, "width": 2}, name="output so far", hoverinfo="skip",
                         marker={"symbol": "arrow", "angleref": "previous", "size": 11, "color": MODEL_COLOUR,
                                 "opacity": [0.0] + [1.0] * (len(done) - 1)} if arrows else None)]
    if task != "delaunay" and done:
        traces.append(go.Scatter(x=[pts[done[0], 0]], y=[pts[done[0], 1]], mode="markers", name=f"start: {done[0]}",
                                 marker={"symbol": "square", "size": 14, "color": "rgba(0,0,0,0)",
                                         "line": {"width": 2.5, "color": MODEL_COLOUR}}, hoverinfo="skip"))
    if task == "delaunay":
        open_tri = [int(s) for s in sequence[len(_partial(task, sequence, step)):step]]
        if open_tri:
            traces.append(go.Scatter(x=pts[open_tri, 0], y=pts[open_tri, 1], mode="lines+markers",
                                     line={"color": MODEL_COLOUR, "dash": "dot"}, name="triangle being built"))
    elif task == "tsp" and step > 0 and chosen is not None:
        last = int(sequence[step - 1])
        traces.append(go.Scatter(x=[pts[last, 0], pts[chosen, 0]], y=[pts[last, 1], pts[chosen, 1]], mode="lines",
                                 line={"color": CHOSEN_COLOUR, "dash": "dot"}, name="this step", hoverinfo="skip"))
    size = 6 + 34 * np.sqrt(np.clip(probs, 0, 1))  # area ~ probability
    numbered = len(pts) <= 60  # the title says "points to 7": the points carry their numbers
    traces.append(go.Scatter(
        x=pts[:, 0], y=pts[:, 1], mode="markers+text" if numbered else "markers", name="pointer probability",
        text=[str(i) for i in range(len(pts))] if numbered else None, textposition="top right",
        textfont={"size": 10, "color": "#444"},
        marker={"size": size, "color": probs, "colorscale": "Viridis", "cmin": 0, "cmax": max(1e-9, float(probs.max())),
                "showscale": True, "colorbar": {"title": "p", "len": 0.8}, "line": {"width": 0.5, "color": "#333"}},
        customdata=np.stack([np.arange(len(pts)), probs], axis=1),
        hovertemplate="point %{customdata[0]:.0f}<br>p = %{customdata[1]:.3f}<extra></extra>"))
    if chosen is not None and chosen < len(pts):
        traces.append(go.Scatter(x=[pts[chosen, 0]], y=[pts[chosen, 1]], mode="markers", name=f"chosen: {chosen}",
                                 marker={"size": 22, "color": "rgba(0,0,0,0)",
                                         "line": {"width": 3, "color": CHOSEN_COLOUR}}))
    return traces


def step_title(task: str, sequence: Sequence[int], attention: np.ndarray, step: int) -> str:
    """Caption for one decoding step: what was chosen, with what probability."""
    steps = len(attention)
    if step >= len(sequence):
        return f"step {step + 1}/{steps}: end of sequence"
    chosen = int(sequence[step])
    if task == "tsp" and step == 0:  # the first node is given to the decoder, not pointed to
        return f"step 1/{steps}: starts at {chosen} (given: node 0, or where a start head says)"
    row = np.asarray(attention[step], dtype=float)
    p = float(row[chosen]) if chosen < len(row) else float("nan")
    eos = max(0.0, 1.0 - float(row.sum()))
    extra = f", EOS {eos:.2f}" if task != "tsp" and eos > 1e-3 else ""
    return f"step {step + 1}/{steps}: points to {chosen} (p = {p:.2f}{extra})"


def pointer_step_figure(points: np.ndarray, task: str, sequence: Sequence[int], attention: np.ndarray,
                        step: int) -> go.Figure:
    """The pointer at one decoding step: partial output, probability over all points, the chosen point.

    One step per figure: the page's slider (and its Play) is the only step control, so the slider, the
    caption, this figure and the heatmap never disagree.

    Parameters
    ----------
    points : np.ndarray
        (n, 2).
    sequence : list of int
        The decoded output (tour / hull / flattened triangles).
    attention : np.ndarray
        (steps, n) pointer distribution at each step given the previous choices.
    step : int
        The step shown (0-based; shown 1-based, as everywhere on the page).
    """
    att = np.asarray(attention, dtype=float)
    step = int(np.clip(step, 0, max(0, len(att) - 1)))
    fig = go.Figure(data=_step_traces(points, task, sequence, att, step))
    fig.update_layout(title=step_title(task, sequence, att, step), height=520, uirevision="pointer")
    _square_axes(fig)
    fig.update_layout(legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"})
    return fig


def attention_heatmap(attention: np.ndarray, sequence: Sequence[int], step: int | None = None) -> go.Figure:
    """All steps at once: rows = decoding steps, columns = input points, colour = probability."""
    att = np.asarray(attention, dtype=float)
    rows = list(range(1, len(att) + 1))  # steps count from 1, as on the slider; points from 0, as in the figures
    fig = go.Figure(go.Heatmap(z=att, y=rows, colorscale="Viridis", zmin=0, zmax=1, colorbar={"title": "p"},
                               hovertemplate="step %{y}<br>point %{x}<br>p = %{z:.3f}<extra></extra>"))
    chosen = [int(s) for s in sequence[: len(att)]]
    fig.add_trace(go.Scatter(x=chosen, y=rows[: len(chosen)], mode="markers", name="chosen",
                             marker={"symbol": "x", "size": 7, "color": CHOSEN_COLOUR}))
    if step is not None:
        fig.add_hline(y=step + 1, line={"color": CHOSEN_COLOUR, "width": 1, "dash": "dot"})
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis_title="input point",
                      yaxis_title="decoding step", yaxis={"autorange": "reversed"}, showlegend=False)
    return fig


def gap_histogram(gaps: Sequence[float], title: str = "gap to reference") -> go.Figure:
    """Histogram of per-instance gaps (given as fractions, shown in %)."""
    values = 100 * np.asarray([g for g in gaps if g is not None], dtype=float)
    fig = go.Figure(go.Histogram(x=values, nbinsx=min(40, max(5, len(values) // 2)), marker_color=MODEL_COLOUR))
    if len(values):
        fig.add_vline(x=float(values.mean()), line={"dash": "dash", "color": CHOSEN_COLOUR},
                      annotation_text=f"mean {values.mean():.2f} %")
    fig.update_layout(title=title, xaxis_title="gap (%)", yaxis_title="instances", height=320,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def generalisation_figure(rows: Sequence[Mapping], metric: str, train_range: Mapping[str, tuple[int, int]] | None = None,
                          title: str = "", real: Sequence[Mapping] = ()) -> go.Figure:
    """Metric vs n in percent, one line per ``row["label"]``; each model's training sizes a band of its colour.

    ``rows`` are dicts with keys ``label``, ``n`` and ``metric`` (a fraction: a gap, an accuracy, a coverage).
    Rows with a ``distance_prior`` (the attention model decoded with that prior) are drawn dashed, in
    their model's colour. ``real`` are the same for real instances (TSPLIB, with a ``name``), drawn as
    diamonds of the model's colour.
    A model trained on one size (TSP20) gets a band one unit wide around it, so that no label is left
    without its band.
    """
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    fig = go.Figure()
    labels = list(dict.fromkeys([*(str(r["label"]) for r in rows), *(train_range or {}),
                                 *(str(r["label"]) for r in real)]))
    colour = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    for label in labels:
        priors = sorted({float(r.get("distance_prior", 0.0)) for r in rows if str(r["label"]) == label})
        for prior in priors:
            pts = sorted((int(r["n"]), 100 * float(r[metric])) for r in rows
                         if str(r["label"]) == label and float(r.get("distance_prior", 0.0)) == prior
                         and r.get(metric) is not None)
            if pts:
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                         name=f"{label} + distance prior {prior:g}" if prior else label,
                                         line={"color": colour[label], "dash": "dash" if prior else "solid"}))
    for label in labels:
        pts = [r for r in real if str(r["label"]) == label and r.get(metric) is not None]
        if pts:
            fig.add_trace(go.Scatter(x=[int(r["n"]) for r in pts], y=[100 * float(r[metric]) for r in pts],
                                     mode="markers", name=f"{label} on TSPLIB", text=[r.get("name", "") for r in pts],
                                     marker={"symbol": "diamond", "size": 7, "color": colour[label], "opacity": 0.7},
                                     hovertemplate="%{text} (n = %{x}): %{y:.2f} %<extra></extra>"))
    for i, (label, (lo, hi)) in enumerate((train_range or {}).items()):
        c = colour[label].lstrip("#")
        rgba = f"rgba({int(c[0:2], 16)},{int(c[2:4], 16)},{int(c[4:6], 16)},0.12)"
        fig.add_vrect(x0=lo - 0.5, x1=hi + 0.5, fillcolor=rgba, line_width=0)
        fig.add_annotation(x=hi + 0.5, y=1 - 0.07 * i, yref="paper", xanchor="left", showarrow=False,
                           text=f"{label}: trained on n = {lo}" + (f"-{hi}" if hi != lo else ""),
                           font={"size": 10, "color": colour[label]})
    fig.update_layout(title=title, xaxis_title="n (points)", yaxis_title=f"{metric.replace('_', ' ')} (%)", height=380,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.2})
    return fig


def curves_figure(curves: Mapping[str, Sequence[float]], title: str = "training") -> go.Figure:
    """Training curves, one panel per quantity (its own axis), the raw line faint under its moving average.

    A shorter curve belongs to the last steps of the run (the POMO tour length after the imitation
    steps), so every curve is drawn against the run's step number.
    """
    from lab.runs_figures import panels_figure

    names = [k for k, v in curves.items() if len(v)]
    total = max((len(curves[k]) for k in names), default=0)
    return panels_figure({k: {"": (list(range(total - len(curves[k]) + 1, total + 1)), list(curves[k]))}
                          for k in names}, title=title)
