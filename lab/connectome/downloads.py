"""The files of a run: factors (NPZ, CSV), communities per window (CSV) and every figure (figures.zip).

Built on request from a :class:`~lab.connectome.results.ConnectomeResult`: the page's Downloads tab
(:data:`DOWNLOADS`) and the files saved with a run (:meth:`~lab.connectome.results.ConnectomeResult.artifacts`).
"""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from lab.connectome.results import ConnectomeResult

#: Files of the page's Downloads tab (name: MIME type), built on request by :meth:`ConnectomeResult.download`.
DOWNLOADS = {"factors.npz": "application/octet-stream", "factors.csv": "text/csv", "communities.csv": "text/csv",
             "figures.zip": "application/zip"}


def factors_npz(result: ConnectomeResult) -> bytes:
    """Factors as an NPZ: pairs (P, R), time (W, R), animal (A, R) (see :meth:`ConnectomeResult.animal_loadings`),
    weights (R,), neuron names (N,), pair neurons (P, 2), window starts and animals (W,), labels (R, N)."""
    from lab.connectome.affinities import pair_index

    i, j = pair_index(result.recording.shape[1])
    buf = io.BytesIO()
    np.savez_compressed(
        buf, pairs=result.fit.pairs, time=result.fit.time, animal=result.animal_loadings(),
        weights=result.fit.weights, names=np.asarray(result.recording.names), pair_neurons=np.stack([i, j], axis=1),
        window_starts=result.starts, window_animal=result.window_animal,
        labels=np.stack([c.labels for c in result.communities]),
    )
    return buf.getvalue()


def factors_csv(result: ConnectomeResult) -> str:
    """Time and animal loadings in long form: ``factor,mode,index,label,value`` (time labels name the window)."""
    rows = ["factor,mode,index,label,value"]
    animals = result.animal_loadings()
    for r in range(result.fit.rank):
        for w, s in enumerate(result.starts):
            where = f" {result.recording.animals[int(result.window_animal[w])]}" if result.window_animal[w] >= 0 else ""
            rows.append(f"{r},time,{w},{_csv_safe(f'frame {int(s)}{where}')},{result.fit.time[w, r]:.6g}")
        for a, name in enumerate(result.recording.animals):
            rows.append(f"{r},animal,{a},{_csv_safe(name)},{animals[a, r]:.6g}")
    return "\n".join(rows) + "\n"


def communities_csv(result: ConnectomeResult) -> str:
    """Membership per window: ``window,start_frame,animal,neuron,name,community,factor`` (community ids are
    matched across windows; ``animal`` is the window's animal, or ``all`` in the aligned layout)."""
    rows = ["window,start_frame,animal,neuron,name,community,factor"]
    names = [_csv_safe(n) for n in result.recording.names]
    for w, s in enumerate(result.starts):
        a = int(result.window_animal[w])
        who = _csv_safe(result.recording.animals[a]) if a >= 0 else "all"
        for i, name in enumerate(names):
            rows.append(f"{w},{int(s)},{who},{i},{name},{int(result.membership[w, i])},{int(result.factor[w, i])}")
    return "\n".join(rows) + "\n"


def _csv_safe(text: str) -> str:
    text = str(text).replace('"', "'")
    return f'"{text}"' if ("," in text or "\n" in text) else text


def result_figures(result: ConnectomeResult, highlight: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every figure of a run by file stem (what figures.zip holds)."""
    from lab.connectome import figures

    figs = {"traces": figures.traces_heatmap(result.recording, highlight=highlight),
            "time_courses": figures.factor_time_figure(result),
            "sankey": figures.membership_sankey(result, highlight=highlight)}
    if result.correlations:
        figs["covariate_correlations"] = figures.correlation_figure(result)
    figs.update({f"motif_{r}": figures.motif_figure(result, r, highlight=highlight) for r in range(result.fit.rank)})
    figs.update({f"graph_{r}": figures.community_graph_figure(result, r, seed=result.config.seed, highlight=highlight)
                 for r in range(result.fit.rank)})
    return figs


def figures_zip(result: ConnectomeResult, highlight: tuple[str, ...] = ()) -> bytes:
    """Every figure of a run as HTML that opens offline in any browser, without Python (figures.zip).

    ``all_figures.html`` is self-contained (plotly.js inside, once, and every figure); each ``<name>.html``
    loads the ``plotly.min.js`` next to it, so the unzipped folder opens figure by figure too. (One
    self-contained file per figure would repeat plotly.js's 3.5 MB in each.)
    """
    from plotly.offline import get_plotlyjs

    figs = result_figures(result, highlight)
    divs = [f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=False)
            for name, fig in figs.items()]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dynamic connectome: "
            f"{_html_escape(result.title())}</title><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body><h1>{_html_escape(result.title())}</h1>" + "".join(divs) + "</body></html>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all_figures.html", page)
        zf.writestr("plotly.min.js", get_plotlyjs())
        for name, fig in figs.items():
            zf.writestr(f"{name}.html", fig.to_html(include_plotlyjs="directory", full_html=True))
    return buf.getvalue()


def _html_escape(text: str) -> str:
    import html

    return html.escape(str(text))
