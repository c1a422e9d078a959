"""Dynamic connectome: which neurons work together, and when (Dyballa et al. 2024).

Thin page: widgets -> ConnectomeConfig -> cached lab call -> figures. Small inputs are analysed at once
(cached); any input can also run as a background job with live NTF progress and a stop button.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import streamlit as st

from app import ui
from lab.connectome import figures
from lab.connectome.affinities import AFFINITIES
from lab.connectome.communities import METHODS
from lab.connectome.data import Recording, list_nwb_series, load_recording
from lab.connectome.pipeline import (
    ConnectomeConfig,
    ConnectomeResult,
    communities_csv,
    factors_csv,
    factors_npz,
    make_job,
    run_pipeline,
    run_rank_scan,
)
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.errors import LabInputError
from lab.core.registry import lab_info

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data" / "connectome"
AUTO_LIMIT = 80  # neurons: above this the page waits for the job button instead of computing at once


# -- cached adapters ----------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def synthetic(worm: dict):
    w = make_worm(WormConfig(**worm))
    return w.recording, w.membership


@st.cache_data(show_spinner=False, max_entries=8)
def read_file(data: bytes, name: str, series: str | None) -> Recording:
    return load_recording(data, name=name, series=series)


@st.cache_data(show_spinner=False, max_entries=8)
def nwb_series(data: bytes, name: str) -> list[str]:
    return list_nwb_series(data, name=name)


@st.cache_data(show_spinner="Affinities -> NTF -> communities ...", max_entries=16)
def analyse(config_json: str, data_key: str, _recording: Recording, _truth) -> ConnectomeResult:
    return run_pipeline(ConnectomeConfig.from_dict(json.loads(config_json)), _recording, _truth)


@st.cache_data(show_spinner="Rank scan: random restarts per rank ...", max_entries=8)
def scan(config_json: str, data_key: str, ranks: tuple[int, ...], restarts: int, _recording: Recording):
    return run_rank_scan(ConnectomeConfig.from_dict(json.loads(config_json)), list(ranks), restarts, _recording)


def download_file(result: ConnectomeResult, fname: str) -> bytes:
    """One file of the Downloads tab, built when its button is clicked (off the script thread: no st calls)."""
    if fname == "factors.npz":
        return factors_npz(result)
    if fname == "factors.csv":
        return factors_csv(result).encode()
    if fname == "communities.csv":
        return communities_csv(result).encode()
    figs = {"traces": figures.traces_heatmap(result.recording), "time_courses": figures.factor_time_figure(result),
            "sankey": figures.membership_sankey(result)}
    figs.update({f"motif_{r}": figures.motif_figure(result, r) for r in range(result.fit.rank)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, fig in figs.items():
            zf.writestr(f"{name}.plotly.json", fig.to_json())
    return buf.getvalue()


# -- data --------------------------------------------------------------------------------------------
info = lab_info("connectome")
st.title(info.title)
st.caption(info.question + "  Pairwise affinities per window -> non-negative tensor factorization -> "
           "communities per factor.  Built on: " + "; ".join(info.papers))
seed = ui.current_seed()
device = ui.current_device()

source = ui.url_radio("Data", ["synthetic", "sample", "upload"], "src", "synthetic", horizontal=True,
                      format_func={"synthetic": "synthetic worm (planted truth)", "sample": "sample file",
                                   "upload": "upload"}.get)
recording, truth, data_key, series = None, None, "", None
worm: dict = {}
inputs: list[str] = []
if source == "synthetic":
    c = st.columns(6)
    worm = {
        "neurons": ui.url_number("Neurons", "n", 40, min_value=6, max_value=300, step=1, where=c[0]),
        "communities": ui.url_number("Communities", "k", 4, min_value=1, max_value=12, step=1, where=c[1]),
        "epochs": ui.url_number("Epochs", "e", 3, min_value=1, max_value=8, step=1, where=c[2]),
        "animals": ui.url_number("Animals", "a", 3, min_value=1, max_value=10, step=1, where=c[3]),
        "snr": ui.url_number("SNR", "snr", 2.0, min_value=0.1, max_value=100.0, step=0.5, where=c[4]),
        "frames_per_epoch": ui.url_number("Frames/epoch", "fpe", 300, min_value=60, max_value=3000, step=20,
                                          where=c[5]),
        "seed": seed,
    }
    try:
        recording, truth = synthetic(worm)
        data_key = "synthetic:" + json.dumps(worm, sort_keys=True)
    except LabInputError as err:
        ui.show_error(err)
else:
    data, name = None, None
    if source == "sample":
        files = sorted(p.name for p in SAMPLES.glob("worm.*"))
        name = ui.url_selectbox("Sample file", files, "sample", files[0] if files else None)
        data = (SAMPLES / name).read_bytes() if name else None
        inputs = [str(SAMPLES / name)] if name else []
    else:
        upload = st.file_uploader("Calcium traces: CSV (one column per neuron; optional time, animal, epoch), NPZ "
                                  "(traces (N, T) or (A, N, T); names, fps, epochs) or NWB (RoiResponseSeries)",
                                  type=["csv", "npz", "nwb"])
        if upload is not None:
            data, name = upload.getvalue(), upload.name
        else:
            st.info("Choose a file to analyse, or switch to the synthetic worm.", icon=":material/upload:")
    if data is not None:
        try:
            if name.lower().endswith(".nwb"):
                options = nwb_series(data, name)
                series = st.selectbox("Fluorescence series", options) if len(options) > 1 else None
            recording = read_file(data, name, series)
            data_key = f"file:{name}:{len(data)}:{hash(data)}:{series}"
            for note in recording.notes:
                st.caption(f":material/info: {note}")
        except LabInputError as err:
            ui.show_error(err)

if recording is None:
    st.stop()

c = st.columns(5)
rank = ui.url_number("Rank (factors)", "rank", 3, min_value=1, max_value=30, step=1, where=c[0])
window = ui.url_number("Window (frames)", "win_len", 40, min_value=4, max_value=2000, step=5, where=c[1])
step = ui.url_number("Step (frames)", "win_step", 20, min_value=1, max_value=2000, step=5, where=c[2])
affinity = ui.url_selectbox("Affinity", list(AFFINITIES), "aff", "derivative-correlation", where=c[3])
method = ui.url_selectbox("Communities", list(METHODS), "method", "leiden", where=c[4])
try:
    kind = {"synthetic": "synthetic", "sample": "files", "upload": "upload"}[source]
    config = ConnectomeConfig(source=kind, worm=worm, inputs=inputs, series=series, rank=int(rank),
                              window=int(window), step=int(step), affinity=affinity, method=method, seed=seed,
                              device="cuda" if device == "cuda" else "cpu")
except LabInputError as err:
    ui.show_error(err)
    st.stop()
config_json = json.dumps(config.to_dict(), sort_keys=True)

# -- compute: at once for small inputs, or as a job with live progress ----------------------------------
result: ConnectomeResult | None = None
with st.expander("Run as a background job (live NTF progress, stop, saved to Runs)", icon=":material/play_circle:",
                 expanded=recording.shape[1] > AUTO_LIMIT):
    job = ui.job_panel("connectome", f"NTF rank {rank}", lambda: make_job(config, recording, truth),
                       start_label="Run NTF", curve_keys=["error"], key="ntf")
    if job is not None and job.output is not None and job.output.result is not None:
        done = job.output.result
        if json.dumps(done.config.to_dict(), sort_keys=True) == config_json and done.recording.shape == recording.shape:
            result = done
if result is None and recording.shape[1] <= AUTO_LIMIT:
    try:
        result = analyse(config_json, data_key, recording, truth)
    except LabInputError as err:
        ui.show_error(err)
if result is None:
    st.info(f"{recording.shape[1]} neurons: press **Run NTF** above to analyse with live progress.",
            icon=":material/hourglass:")
    st.plotly_chart(figures.traces_heatmap(recording), key="traces_only")
    st.stop()

m = st.columns(6)
m[0].metric("Reconstruction error", f"{result.fit.error:.3f}")
m[1].metric("NTF iterations", len(result.fit.errors))
m[2].metric("Mean modularity", f"{sum(c.modularity for c in result.communities) / result.fit.rank:.3f}")
if result.scores is not None:
    m[3].metric("ARI vs planted", f"{result.scores['ari']:.3f}")
    m[4].metric("NMI vs planted", f"{result.scores['nmi']:.3f}")
m[5].metric("Pipeline time", f"{result.seconds['total']:.2f} s")
a_count, n, t = recording.shape
st.caption(f"{a_count} animals x {n} neurons x {t} frames -> tensor {result.tensor.shape[0]} pairs x "
           f"{result.tensor.shape[1]} windows x {a_count} animals.")

# Bound to the URL (?tab=...): a copied link opens the same tab; only the open tab runs.
tabs = st.tabs(["Traces", "Affinity", "Factors", "Communities", "Rank scan", "Downloads"], key="tab",
               bind="query-params")
with tabs[0]:
    animal = st.selectbox("Animal", range(a_count), format_func=lambda a: recording.animals[a], key="trace_animal")
    st.plotly_chart(figures.traces_heatmap(recording, animal), key="traces")
with tabs[1]:
    if tabs[1].open:
        w_count = len(result.starts)
        win = ui.url_slider("Window", "w", 0, 0, w_count - 1) if w_count > 1 else 0
        start = int(result.starts[win])
        st.markdown(f"**Window {win}** of {w_count}: frames {start}-{start + config.window} "
                    f"({start / recording.fps:.1f}-{(start + config.window) / recording.fps:.1f} s)")
        st.plotly_chart(figures.affinity_matrix_figure(result, win), key="affinity")
        # built only on request: every window's matrix makes a large figure that would slow the first view
        if st.toggle("Play all windows (animation)", key="connectome:anim"):
            st.plotly_chart(figures.affinity_animation(result), key="affinity_anim")
with tabs[2]:
    if tabs[2].open:
        st.plotly_chart(figures.factor_time_figure(result), key="time_all")
        r = st.selectbox("Factor", range(result.fit.rank), key="factor",
                         format_func=lambda k: f"factor {k} (weight {result.fit.weights[k]:.2f}, "
                                               f"{len(result.communities[k].groups)} communities)")
        cc = st.columns(2)
        cc[0].plotly_chart(figures.motif_figure(result, r), key="motif")
        cc[1].plotly_chart(figures.factor_time_figure(result, [r]), key="time_one")
        cc[1].plotly_chart(figures.animal_loadings_figure(result, r), key="animal")
with tabs[3]:
    if tabs[3].open:
        r2 = st.selectbox("Factor graph", range(result.fit.rank), key="graph_factor",
                          format_func=lambda k: f"factor {k}")
        st.plotly_chart(figures.community_graph_figure(result, r2, seed=seed), key="graph")
        st.plotly_chart(figures.membership_sankey(result), key="sankey")
with tabs[4]:
    if tabs[4].open:
        max_rank = ui.url_number("Scan ranks 1 to", "scan_max", min(8, result.tensor.shape[0]), min_value=1,
                                 max_value=20, step=1)
        restarts = ui.url_number("Restarts per rank", "restarts", 3, min_value=1, max_value=10, step=1)
        scan_key = ("scan", config_json, data_key, int(max_rank), int(restarts))
        if st.button("Run rank scan", icon=":material/query_stats:"):
            st.session_state["connectome:scan"] = scan_key
        if st.session_state.get("connectome:scan") == scan_key:
            try:
                found = scan(config_json, data_key, tuple(range(1, int(max_rank) + 1)), int(restarts), recording)
                st.plotly_chart(figures.rank_scan_figure(found), key="scan_fig")
                st.dataframe(found.summary(), hide_index=True)
            except LabInputError as err:
                ui.show_error(err)
        else:
            st.caption("Fits every rank several times from random starts: pick the rank where the error stops "
                       "falling fast while restarts still agree (similarity near 1).")
with tabs[5]:
    if tabs[5].open:
        cols = st.columns(4)
        mimes = {"npz": "application/octet-stream", "csv": "text/csv", "zip": "application/zip"}
        for col, fname in zip(cols, ("factors.npz", "factors.csv", "communities.csv", "figures.zip"), strict=True):
            col.download_button(fname, lambda fname=fname: download_file(result, fname),
                                file_name=f"connectome_{fname}", mime=mimes[fname.rsplit(".", 1)[1]],
                                icon=":material/download:", key=f"dl:{fname}", on_click="ignore")
