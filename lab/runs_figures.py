"""Figures and tables for saved runs of any lab (the Runs page): pure functions of ``Run`` objects."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from lab.core.runstore import Run


def run_figures(run: Run) -> list[go.Figure]:
    """The run's stored figures (``*.plotly.json`` artifacts), then its curves if it has any."""
    figures = []
    for name in run.artifacts:
        if name.endswith(".plotly.json"):
            try:
                figures.append(pio.from_json(run.artifact_path(name).read_text()))
            except ValueError:
                continue  # a damaged figure file is skipped; the run's metrics still show
    curves = compare_curves_figure([run])
    if curves is not None:
        figures.append(curves)
    return figures


STATUS_WORDS = {"done": "finished", "stopped": "stopped early", "failed": "failed"}


def runs_table(runs: list[Run], titles: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per run: id, lab, status (finished / stopped early / failed), when, title, config, metrics."""
    titles = titles or {}
    rows = []
    for r in runs:
        shown = {k: v for k, v in flatten(r.config).items() if not isinstance(v, list)}
        rows.append({
            "run": r.run_id,
            "lab": titles.get(r.lab, r.lab),
            "status": STATUS_WORDS.get(r.status, r.status),
            "when": r.created.replace("T", " ")[:19],
            "title": r.meta.get("title", ""),
            "config": ", ".join(f"{k}={v}" for k, v in list(shown.items())[:6]),
            **{k: round(v, 4) for k, v in list(r.scalar_metrics.items())[:4]},
        })
    return pd.DataFrame(rows)


def flatten(config: dict, prefix: str = "") -> dict:
    """``{"worm": {"neurons": 40}}`` -> ``{"worm.neurons": 40}`` (lists kept as values)."""
    out: dict = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def compare_configs_table(runs: list[Run]) -> pd.DataFrame:
    """The config fields whose values differ between the runs: one row per field, one column per run."""
    flat = [flatten(r.config) for r in runs]
    names: list[str] = []
    for f in flat:
        names += [k for k in f if k not in names]
    missing = object()
    differing = [k for k in names if len({repr(f.get(k, missing)) for f in flat}) > 1]
    return pd.DataFrame({r.run_id: [_cell(f.get(k)) for k in differing] for r, f in zip(runs, flat, strict=True)},
                        index=differing)


def _cell(value) -> str:
    return "" if value is None else str(value)


def compare_metrics_table(runs: list[Run]) -> pd.DataFrame:
    """Scalar metrics side by side: one column per run, one row per metric (union over runs)."""
    names: list[str] = []
    for run in runs:
        names += [k for k in run.scalar_metrics if k not in names]
    return pd.DataFrame({run.run_id: [run.scalar_metrics.get(k) for k in names] for run in runs}, index=names)


def smooth(values: list[float | None], span: int | None = None) -> list[float | None]:
    """An exponential moving average (span ~ len / 20, at least 5); ``None`` gaps are carried over."""
    span = span or max(5, len(values) // 20)
    alpha, out, level = 2.0 / (span + 1), [], None
    for v in values:
        if v is not None:
            level = v if level is None else alpha * v + (1 - alpha) * level
        out.append(level)
    return out


def panels_figure(curves: dict[str, dict[str, tuple[list, list]]], title: str = "", x_title: str = "step",
                  height_per_panel: int = 210) -> go.Figure:
    """One panel per quantity, each with its own y axis named after it (a loss never shares an axis with n).

    ``curves`` is ``{quantity: {line label: (x, y)}}``; a long line is drawn faint with its moving
    average (:func:`smooth`) over it.
    """
    from plotly.subplots import make_subplots

    names = [q for q, lines in curves.items() if any(len(y) for _, y in lines.values())]
    fig = make_subplots(rows=max(1, len(names)), cols=1, shared_xaxes=False, vertical_spacing=0.12 if len(names) > 1
                        else 0.0, subplot_titles=names)
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    labels = list(dict.fromkeys(label for q in names for label in curves[q]))
    for row, quantity in enumerate(names, start=1):
        for label, (x, y) in curves[quantity].items():
            colour = palette[labels.index(label) % len(palette)]
            long = len(y) > 30
            fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines", name=label or quantity,
                                     line={"color": colour, "width": 1}, opacity=0.35 if long else 1.0,
                                     legendgroup=label, showlegend=bool(label) and row == 1 and not long),
                          row=row, col=1)
            if long:
                fig.add_trace(go.Scatter(x=list(x), y=smooth(list(y)), mode="lines", name=label or quantity,
                                         line={"color": colour, "width": 2}, legendgroup=label,
                                         showlegend=bool(label) and row == 1), row=row, col=1)
        fig.update_yaxes(title_text=quantity, row=row, col=1)
    # every panel runs over the same x; one title under the last panel (a title under each one sat on the
    # next panel's title)
    fig.update_xaxes(title_text=x_title, row=max(1, len(names)), col=1)
    fig.update_layout(title=title or None, height=60 + height_per_panel * max(1, len(names)),
                      margin=dict(l=10, r=10, t=40 if title else 30, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def compare_curves_figure(runs: list[Run]) -> go.Figure | None:
    """Every curve of every run, one panel (own named axis) per quantity, runs overlaid; None without curves."""
    curves: dict[str, dict[str, tuple[list, list]]] = {}
    for run in runs:
        for name, values in run.curves.items():
            if isinstance(values, list) and values and all(isinstance(v, int | float) or v is None for v in values):
                label = run.run_id if len(runs) > 1 else ""
                curves.setdefault(name, {})[label] = (list(range(1, len(values) + 1)), values)
    if not curves:
        return None
    return panels_figure(curves, title="Curves", x_title="recorded point")


def sweep_figure(rows: list[dict], x: str, metric: str, group_by: list[str] | tuple[str, ...] = ()) -> go.Figure:
    """``metric`` against the grid field ``x`` for a sweep's points (``SweepResult.table()`` rows).

    One line per combination of the ``group_by`` fields; each point is the mean over seeds, its bars the
    min and max. Failed and stopped points are left out.
    """
    import numpy as np

    groups: dict[str, dict] = {}
    for row in rows:
        if row.get("status") != "done" or not isinstance(row.get(metric), int | float):
            continue
        label = ", ".join(f"{k}={row.get(k)}" for k in group_by)
        groups.setdefault(label, {}).setdefault(row[x], []).append(float(row[metric]))
    fig = go.Figure()
    for label, by_x in groups.items():
        xs = sorted(by_x, key=lambda v: (isinstance(v, str), v))
        means = [float(np.mean(by_x[v])) for v in xs]
        lo = [m - min(by_x[v]) for m, v in zip(means, xs, strict=True)]
        hi = [max(by_x[v]) - m for m, v in zip(means, xs, strict=True)]
        fig.add_trace(go.Scatter(x=xs, y=means, mode="lines+markers", name=label or metric,
                                 error_y=dict(type="data", array=hi, arrayminus=lo, visible=True)))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), xaxis_title=x, yaxis_title=metric,
                      title=f"{metric} vs {x} (mean over seeds; bars: min to max)",
                      legend=dict(orientation="h", y=-0.25))
    return fig
