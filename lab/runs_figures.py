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


def compare_metrics_table(runs: list[Run]) -> pd.DataFrame:
    """Scalar metrics side by side: one column per run, one row per metric (union over runs)."""
    names: list[str] = []
    for run in runs:
        names += [k for k in run.scalar_metrics if k not in names]
    return pd.DataFrame({run.run_id: [run.scalar_metrics.get(k) for k in names] for run in runs}, index=names)


def compare_curves_figure(runs: list[Run]) -> go.Figure | None:
    """Every curve of every run overlaid (x = index of the recorded point); None if no run has curves."""
    fig = go.Figure()
    for run in runs:
        for name, values in run.curves.items():
            if isinstance(values, list) and values and all(isinstance(v, int | float) or v is None for v in values):
                label = f"{name} ({run.run_id})" if len(runs) > 1 else name
                fig.add_trace(go.Scatter(y=values, mode="lines", name=label))
    if not fig.data:
        return None
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), title="Curves", xaxis_title="recorded point",
                      legend=dict(orientation="h", y=-0.3))
    return fig
