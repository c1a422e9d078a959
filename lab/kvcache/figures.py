"""Plotly figures of the KV-cache lab: pure functions of a sweep result, probe views and flow graphs.

- :func:`sweep_figure` -- accuracy, hallucination rate and GER against the compression ratio, one panel
  each on a shared x axis, one colour per press, each press's cliff marked;
- :func:`token_map_figure` -- one prompt: for every layer and head, which tokens the press keeps, coloured
  by how many heads of the layer keep the token; the prompt wraps into bands so every word is readable;
- :func:`ab_figure` -- two presses on the same prompt: the share of (layer, head) pairs keeping each token;
- :func:`attention_figure` -- where the answer position looks, before and after compression;
- :func:`flow_figure` -- the attention-rollout graph from the answer back to the context: uncompressed,
  evicted tokens dropped, evicted tokens merged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.kvcache.presses import PRESSES

PRESS_COLORS = {"random": "#7f7f7f", "knorm": "#9467bd", "streaming_llm": "#ff7f0e", "snapkv": "#1f77b4",
                "tova": "#2ca02c", "observed_attention": "#d62728", "expected_attention": "#8c564b",
                "adakv_snapkv": "#17becf", "adakv_expected": "#e377c2"}
RELEVANT = "#c92a2a"  # answer-relevant tokens: outlines and tick labels
EVICTED = "#f1f3f5"  # a cell whose head evicted the token
#: Tokens per band of the token maps: at 1280 px every word of a band stays readable on the axis.
PER_BAND = 50
PANELS = (("accuracy", "accuracy"), ("hallucination_rate", "hallucination"), ("ger", "GER"))


SHORT = {"observed_attention": "H2O", "expected_attention": "Expected", "adakv_snapkv": "AdaKV+SnapKV",
         "adakv_expected": "AdaKV+Expected"}


def press_label(press: str) -> str:
    return PRESSES[press].label if press in PRESSES else press


def short_label(press: str) -> str:
    """A press's name in legends (one row at 1280 px)."""
    return SHORT.get(press, press_label(press))


def press_color(press: str) -> str:
    return PRESS_COLORS.get(press, "#444444")


# -- the core picture ---------------------------------------------------------------------------------
def sweep_figure(result: Any, ratio: float | None = None, height: int = 440) -> go.Figure:
    """Accuracy, hallucination rate and Global Eviction Ratio against the ratio, one line per press.

    ``result`` is a :class:`~lab.kvcache.sweep.CompressResult`. The accuracy panel shows the uncompressed
    accuracy, half of it and chance (a uniform guess among the candidates); a press's cliff (where its
    accuracy falls below that half) is a dotted line of its colour through all panels and a triangle on the
    half line. ``ratio`` draws the microscope's ratio.
    """
    fig = make_subplots(rows=len(PANELS), cols=1, shared_xaxes=True, vertical_spacing=0.07)
    base = float(result.uncompressed["accuracy"])
    cliffs = result.cliffs()
    for press in result.presses_done():
        color = press_color(press)
        for row, (key, name) in enumerate(PANELS, start=1):
            x, y = result.curve(press, key)
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines+markers", name=short_label(press), legendgroup=press, showlegend=row == 1,
                line=dict(color=color, width=2), marker=dict(size=6),
                hovertemplate=f"{press_label(press)}<br>ratio %{{x:.2f}}<br>{name} %{{y:.3f}}<extra></extra>"),
                row=row, col=1)
        c = cliffs.get(press)
        if c is not None:
            fig.add_vline(x=c, line=dict(color=color, width=1.5, dash="dot"), opacity=0.8)
            fig.add_trace(go.Scatter(
                x=[c], y=[base / 2], mode="markers", legendgroup=press, showlegend=False,
                marker=dict(symbol="triangle-down", size=13, color=color, line=dict(color="white", width=1)),
                hovertemplate=f"cliff of {press_label(press)}: ratio {c:.3f}<extra></extra>"), row=1, col=1)
    fig.add_hline(y=base, line=dict(color="#495057", width=1, dash="dash"), row=1, col=1,
                  annotation_text=f"uncompressed {base:.2f}", annotation_position="top left",
                  annotation_font=dict(size=11, color="#495057"))
    fig.add_hline(y=base / 2, line=dict(color="#adb5bd", width=1, dash="dot"), row=1, col=1)
    chance = result.chance()
    if chance is not None:  # a uniform guess among the candidates: a cliff needs half of base above it
        fig.add_hline(y=chance, line=dict(color="#e8590c", width=1, dash="dashdot"), row=1, col=1,
                      annotation_text=f"chance {chance:.2f}", annotation_position="bottom right",
                      annotation_font=dict(size=10, color="#e8590c"))
    if ratio is not None:
        fig.add_vline(x=ratio, line=dict(color="#212529", width=1))  # every panel; its label once, on the top one
        fig.add_annotation(x=ratio, y=1, xref="x", yref="y domain", text="microscope", showarrow=False,
                           xanchor="right", yanchor="top", font=dict(size=10, color="#212529"))
    for row, (_, name) in enumerate(PANELS, start=1):
        fig.update_yaxes(title_text=name, rangemode="tozero", row=row, col=1)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(range=[-0.02, 1.0], row=len(PANELS), col=1, title_text="compression ratio (fraction of the "
                     "cache evicted); dotted: each press's cliff")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), hovermode="closest",
                      legend=dict(orientation="h", yanchor="bottom", y=1.01, x=0, font=dict(size=11)))
    return fig


# -- one prompt under the microscope --------------------------------------------------------------------
def _tick(word: str, relevant: bool, gone: bool) -> str:
    word = word.replace("<", "&lt;").replace(">", "&gt;")
    if relevant:
        return f"<b><span style='color:{RELEVANT}'>{word}</span></b>"
    if gone:
        return f"<span style='color:#adb5bd'>{word}</span>"
    return word


def _banded(values: np.ndarray, hover: np.ndarray, row_labels: Sequence[str], words: Sequence[str],
            relevant: np.ndarray, gone: np.ndarray, colorscale: Any, zmax: float, colorbar: dict,
            per_band: int = PER_BAND, row_px: int = 9, separators: Sequence[int] = ()) -> go.Figure:
    """Rows x positions as bands of ``per_band`` positions, each word on the x axis, relevant ones outlined.

    values (R, S) in [0, zmax]; hover (R, S) text; relevant, gone (S,) bool; ``separators``: rows after
    which a thin line is drawn (between layers).
    """
    r, s = values.shape
    bands = max(1, math.ceil(s / per_band))
    words_px = 66  # the vertical words under each band (the last band's go into the bottom margin)
    plot_px = bands * r * row_px + (bands - 1) * words_px
    fig = make_subplots(rows=bands, cols=1, vertical_spacing=words_px / plot_px if bands > 1 else 0.0)
    for b in range(bands):
        lo, hi = b * per_band, min(s, (b + 1) * per_band)
        xs = list(range(lo, hi))
        fig.add_trace(go.Heatmap(
            z=values[:, lo:hi], x=xs, y=list(range(r)), zmin=0, zmax=zmax, colorscale=colorscale, xgap=1,
            ygap=0, text=hover[:, lo:hi], hovertemplate="%{text}<extra></extra>", showscale=b == 0,
            colorbar=colorbar), row=b + 1, col=1)
        fig.update_xaxes(tickmode="array", tickvals=xs, ticktext=[_tick(words[p], bool(relevant[p]), bool(gone[p]))
                                                                 for p in xs],
                         tickangle=-90, tickfont=dict(size=11), range=[lo - 0.5, lo + per_band - 0.5],
                         showgrid=False, row=b + 1, col=1)
        fig.update_yaxes(tickmode="array", tickvals=list(range(r)), ticktext=list(row_labels), autorange="reversed",
                         tickfont=dict(size=9), showgrid=False, row=b + 1, col=1)
        axis = "" if b == 0 else str(b + 1)
        for p in xs:
            if relevant[p]:
                fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=-0.5, y1=r - 0.5, xref=f"x{axis}",
                              yref=f"y{axis}", line=dict(color=RELEVANT, width=2))
        for sep in separators:
            fig.add_shape(type="line", x0=lo - 0.5, x1=hi - 0.5, y0=sep + 0.5, y1=sep + 0.5, xref=f"x{axis}",
                          yref=f"y{axis}", line=dict(color="white", width=2))
    fig.update_layout(height=plot_px + 36 + words_px, margin=dict(l=10, r=10, t=36, b=words_px))
    return fig


def _gone(view: Any) -> np.ndarray:
    """(S,) positions no head of any layer keeps."""
    return ~view.keep.any(axis=(0, 1))


def _relevant(view: Any, s: int) -> np.ndarray:
    out = np.zeros(s, dtype=bool)
    out[: len(view.relevant)] = view.relevant[:s]
    return out


def token_map_figure(view: Any, per_band: int = PER_BAND) -> go.Figure:
    """Layers x heads x tokens: the cell (layer, head, token) shows whether that head keeps the token, coloured by
    how many heads of the layer keep it (white: this head evicted it). Answer-relevant tokens are outlined in
    red (and red on the axis); tokens no head of any layer keeps are grey on the axis.

    ``view`` is a :class:`~lab.kvcache.probe.ProbeView` (keep (layers, Hkv, S)).
    """
    layers, heads, s = view.keep.shape
    counts = view.keep.sum(axis=1)  # (layers, S): heads of each layer keeping each position
    values = (view.keep * counts[:, None, :]).reshape(layers * heads, s).astype(float)
    rows = [f"L{li + 1} h{h + 1}" for li in range(layers) for h in range(heads)]
    hover = np.empty((layers * heads, s), dtype=object)
    for li in range(layers):
        for h in range(heads):
            for p in range(s):
                state = "kept" if view.keep[li, h, p] else "evicted"
                hover[li * heads + h, p] = (f"#{p} {view.words[p]!r}<br>layer {li + 1}, head {h + 1}: {state}"
                                            f"<br>{counts[li, p]} of {heads} heads of the layer keep it")
    scale = [[0.0, EVICTED], [0.5 / heads, EVICTED], [0.5 / heads, "#c5d8f0"], [1.0, "#08306b"]]
    fig = _banded(values, hover, rows, view.words, _relevant(view, s), _gone(view), scale, heads,
                  dict(title=dict(text="heads of<br>the layer<br>keeping", side="top"), tickvals=list(range(heads + 1)),
                       len=0.9, thickness=12), per_band,
                  row_px=max(6, 14 - layers * heads // 4), separators=[li * heads - 1 for li in range(1, layers)])
    fig.update_layout(title=dict(text=f"{press_label(view.press)} at ratio {view.ratio:.2f}: what each head keeps "
                                 "(red: answer-relevant)", font=dict(size=14)))
    return fig


def ab_figure(a: Any, b: Any, per_band: int = PER_BAND) -> go.Figure:
    """Two presses on one prompt: per token, the share of (layer, head) pairs that keep it under A and under B."""
    s = a.keep.shape[-1]
    shares = np.stack([a.keep.mean(axis=(0, 1)), b.keep.mean(axis=(0, 1))])  # (2, S)
    names = [f"A {press_label(a.press)}", f"B {press_label(b.press)}"]
    hover = np.empty((2, s), dtype=object)
    for i, name in enumerate(names):
        for p in range(s):
            hover[i, p] = f"#{p} {a.words[p]!r}<br>{name}: {100 * shares[i, p]:.0f} % of (layer, head) pairs keep it"
    scale = [[0.0, EVICTED], [0.001, "#dbe4ff"], [1.0, "#08306b"]]
    fig = _banded(shares, hover, ["A", "B"], a.words, _relevant(a, s), _gone(a) & _gone(b), scale, 1.0,
                  dict(title=dict(text="share of<br>heads<br>keeping", side="top"), tickformat=".0%", len=0.9,
                       thickness=12), per_band, row_px=16)
    fig.update_layout(title=dict(text=f"A: {press_label(a.press)} vs B: {press_label(b.press)} at ratio {a.ratio:.2f}",
                                 font=dict(size=14)))
    return fig


def attention_figure(views: Mapping[str, Any], top: int = 12, height: int = 380) -> go.Figure:
    """Where the answer position looks (attention averaged over layers and heads), uncompressed and after each
    press of ``views`` ({label: ProbeView} on the same prompt): the ``top`` tokens any of them attends to most.
    Relevant tokens are red on the axis; a token the press evicted everywhere is marked on its bar."""
    first = next(iter(views.values()))
    before = first.attention_before.mean(axis=(0, 1))  # (T,)
    afters = {k: v.attention_after.mean(axis=(0, 1)) for k, v in views.items()}
    score = np.max(np.stack([before, *afters.values()]), axis=0)
    shown = sorted(np.argsort(-score, kind="stable")[:top].tolist())[::-1]
    t = len(first.words)
    relevant = np.zeros(t, dtype=bool)
    relevant[: len(first.relevant)] = first.relevant
    labels = [_tick(f"#{p} {first.words[p]}", bool(relevant[p]), False) for p in shown]
    fig = go.Figure(go.Bar(y=labels, x=before[shown], orientation="h", name="uncompressed",
                           marker_color="#adb5bd", hovertemplate="%{y}: %{x:.3f}<extra>uncompressed</extra>"))
    for label, v in views.items():
        s = v.keep.shape[-1]
        gone = np.zeros(t, dtype=bool)
        gone[:s] = ~v.keep.any(axis=(0, 1))
        fig.add_trace(go.Bar(y=labels, x=afters[label][shown], orientation="h", name=label,
                             marker_color=press_color(v.press), text=["evicted" if gone[p] else "" for p in shown],
                             textposition="outside", textfont=dict(size=10),
                             hovertemplate="%{y}: %{x:.3f}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", height=height, uniformtext=dict(minsize=9, mode="show"), margin=dict(l=10, r=10, t=40, b=10),
                      title=dict(text="The answer position's attention (mean over layers and heads)", font=dict(size=14)),
                      xaxis_title="attention weight", legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      yaxis=dict(type="category", tickfont=dict(size=11)))
    fig.update_layout(title_y=0.99, title_yanchor="top")
    return fig


# -- attention flow ------------------------------------------------------------------------------------------
FLOW_NAMES = {"full": "uncompressed", "drop": "evicted dropped", "merge": "evicted merged"}


def flow_figure(graphs: Mapping[str, Any], words: Sequence[str], relevant: np.ndarray, gone: np.ndarray,
                height: int = 460) -> go.Figure:
    """The rollout graph, one panel per variant (``full``, ``drop``, ``merge``), the same tokens in each.

    graphs: {variant: :class:`~lab.kvcache.views.FlowGraph`}; x: the level (input, then after each layer; the
    answer sits at the right), y: the tokens; a node's size is its share of the answer's information at that
    level, an edge's width the share a layer moved along it. relevant (Lc,), gone (Lc,) bool: red / grey labels.
    """
    names = [v for v in ("full", "drop", "merge") if v in graphs]
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[FLOW_NAMES[v] for v in names])
    first = graphs[names[0]]
    tokens = list(first.tokens)
    lc = len(relevant)
    labels = [_tick(f"#{p} {words[p]}", p < lc and bool(relevant[p]), p < lc and bool(gone[p])) for p in tokens]
    for col, name in enumerate(names, start=1):
        g = graphs[name]
        n_levels = g.mass.shape[0]
        top = max((e[3] for e in g.edges), default=1.0)
        for lo, hi, width in ((0.0, 0.05, 1), (0.05, 0.2, 2.5), (0.2, 0.5, 5), (0.5, 1.01, 9)):
            xs: list[Any] = []
            ys: list[Any] = []
            for i, a, b, value in g.edges:
                if lo <= value / top < hi:
                    xs += [i, i + 1, None]
                    ys += [a, b, None]
            if xs:
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="rgba(59,91,219,0.45)", width=width),
                                         hoverinfo="skip", showlegend=False), row=1, col=col)
        for level in range(n_levels):
            mass = g.mass[level]
            fig.add_trace(go.Scatter(
                x=[level] * len(tokens), y=list(range(len(tokens))), mode="markers", showlegend=False,
                marker=dict(size=4 + 30 * np.sqrt(mass), color=[RELEVANT if p < lc and relevant[p] else "#343a40"
                                                               for p in tokens], opacity=0.85),
                text=[f"{labels[k]}: {mass[k]:.3f} of the answer's information at level {level}"
                      for k in range(len(tokens))], hovertemplate="%{text}<extra></extra>"), row=1, col=col)
        ticks = ["input", *[f"L{i}" for i in range(1, n_levels)]]
        fig.update_xaxes(tickmode="array", tickvals=list(range(n_levels)), ticktext=ticks, range=[-0.4, n_levels - 0.6],
                         showgrid=False, row=1, col=col)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(tokens))), ticktext=labels, tickfont=dict(size=11),
                     range=[-0.8, len(tokens) + 0.2], showgrid=True, gridcolor="#f1f3f5", row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=46, b=10))
    return fig


__all__ = ["sweep_figure", "token_map_figure", "ab_figure", "attention_figure", "flow_figure", "PRESS_COLORS",
           "press_label", "press_color", "PER_BAND"]
