"""Dynamic connectome: widgets -> ConnectomeConfig -> ``ui.lab_result`` (cached, or the finished job on the same
config *and* data) -> figures. Inputs above ``AUTO_LIMIT`` neurons wait for the background job."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import ui
from lab.connectome import figures
from lab.connectome.affinities import AFFINITIES
from lab.connectome.communities import METHODS
from lab.connectome.data import Recording, list_nwb_series, load_recording
from lab.connectome.pipeline import DOWNLOADS, ConnectomeConfig, ConnectomeResult, ScanConfig
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.errors import LabInputError
from lab.core.verbs import content_hash

LAB = "connectome"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "connectome"
AUTO_LIMIT = 80  # neurons: above this the page waits for the job button instead of computing at once
WORM = [("neurons", "Neurons", "n", 6, 300, 1), ("communities", "Communities", "k", 1, 12, 1),
        ("epochs", "Epochs", "e", 1, 8, 1), ("animals", "Animals", "a", 1, 10, 1),
        ("snr", "SNR", "snr", 0.1, 100.0, 0.5), ("frames_per_epoch", "Frames/epoch", "fpe", 60, 3000, 20)]


@st.cache_data(show_spinner=False, max_entries=8)
def read_file(data: bytes, name: str, series: str | None) -> Recording:
    return load_recording(data, name=name, series=series)


@st.cache_data(show_spinner=False, max_entries=8)
def nwb_series(data: bytes, name: str) -> list[str]:
    return list_nwb_series(data, name=name)


@st.cache_data(show_spinner=False, max_entries=4)
def worm_traces(worm: dict, seed: int) -> Recording:
    return make_worm(WormConfig(**{"seed": seed, **worm})).recording


def choose_data() -> tuple[dict, Recording | None, Recording | None, str] | None:
    """(config fields naming the data, the file read (None: synthetic), the upload (the verb's data) and its
    content hash); None while there is no data."""
    labels = {"synthetic": "synthetic worm (planted truth)", "sample": "sample file", "upload": "upload"}
    source = ui.url_radio("Data", list(labels), "src", "synthetic", horizontal=True, format_func=labels.get)
    if source == "synthetic":
        cols = st.columns(len(WORM))
        worm = {f: ui.url_number(label, key, WormConfig.default(f), min_value=lo, max_value=hi, step=step, where=col)
                for (f, label, key, lo, hi, step), col in zip(WORM, cols, strict=True)}
        return {"source": "synthetic", "worm": worm}, None, None, ""  # the worm's seed is the config's
    if source == "sample":
        files = sorted(p.name for p in SAMPLES.glob("worm.*"))
        name = ui.url_selectbox("Sample file", files, "sample", files[0] if files else None)
        raw, fields = (SAMPLES / name).read_bytes(), {"source": "files", "inputs": (str(SAMPLES / name),)}
    else:
        upload = st.file_uploader("Calcium traces: CSV (one column per neuron; optional time, animal, epoch), NPZ "
                                  "(traces (N, T) or (A, N, T); names, fps, epochs) or NWB (RoiResponseSeries)",
                                  type=["csv", "npz", "nwb"])
        if upload is None:
            st.info("Choose a file to analyse, or switch to the synthetic worm.", icon=":material/upload:")
            return None
        raw, name, fields = upload.getvalue(), upload.name, {"source": "upload"}
    options = nwb_series(raw, name) if name.lower().endswith(".nwb") else []
    series = st.selectbox("Fluorescence series", options) if len(options) > 1 else None
    recording = read_file(raw, name, series)
    for note in recording.notes:
        st.caption(f":material/info: {note}")
    if source == "upload":  # the config cannot name an upload: it travels as data, known by its content
        return {**fields, "series": series}, recording, recording, content_hash(raw)
    return {**fields, "series": series}, recording, None, ""  # a sample: the config names its path


def choose_config(fields: dict) -> ConnectomeConfig:
    c, d = st.columns(5), ConnectomeConfig.default
    return ConnectomeConfig(
        **fields, seed=ui.current_seed(), device=ui.current_device(),
        rank=int(ui.url_number("Rank (factors)", "rank", d("rank"), min_value=1, max_value=30, step=1, where=c[0])),
        window=int(ui.url_number("Window (frames)", "win_len", d("window"), min_value=4, max_value=2000, step=5,
                                 where=c[1])),
        step=int(ui.url_number("Step (frames)", "win_step", d("step"), min_value=1, max_value=2000, step=5, where=c[2])),
        affinity=ui.url_selectbox("Affinity", list(AFFINITIES), "aff", d("affinity"), where=c[3]),
        method=ui.url_selectbox("Communities", list(METHODS), "method", d("method"), where=c[4]))


def summary(result: ConnectomeResult) -> None:
    m = st.columns(6)
    m[0].metric("Reconstruction error", f"{result.fit.error:.3f}")
    m[1].metric("NTF iterations", len(result.fit.errors))
    m[2].metric("Mean modularity", f"{result.mean_modularity:.3f}")
    if result.scores is not None:
        m[3].metric("ARI vs planted", f"{result.scores['ari']:.3f}")
        m[4].metric("NMI vs planted", f"{result.scores['nmi']:.3f}")
    m[5].metric("Pipeline time", f"{result.seconds['total']:.2f} s")
    (a, n, t), (p, w, _) = result.recording.shape, result.tensor.shape
    st.caption(f"{a} animals x {n} neurons x {t} frames -> tensor {p} pairs x {w} windows x {a} animals"
               + ("  (NTF stopped early: partial result)" if result.fit.stopped else "."))


def tabs(res: ConnectomeResult, data: Recording | None, data_key: str) -> None:
    rec = res.recording
    t = ui.url_tabs(["Traces", "Affinity", "Factors", "Communities", "Rank scan", "Downloads"])
    if t[0].open:
        with t[0]:
            animal = st.selectbox("Animal", range(rec.shape[0]), format_func=lambda a: rec.animals[a], key="trace_animal")
            ui.chart(figures.traces_heatmap(rec, animal), "traces", "connectome_traces")
    if t[1].open:
        with t[1]:
            win = ui.url_slider("Window", "w", 0, 0, len(res.starts) - 1) if len(res.starts) > 1 else 0
            start, length = int(res.starts[win]), res.config.window
            st.markdown(f"**Window {win}** of {len(res.starts)}: frames {start}-{start + length} "
                        f"({start / rec.fps:.1f}-{(start + length) / rec.fps:.1f} s)")
            ui.chart(figures.affinity_matrix_figure(res, win), "affinity", f"connectome_affinity_w{win}")
            # built only on request: every window's matrix makes a large figure that would slow the first view
            if st.toggle("Play all windows (animation)", key="connectome:anim"):
                st.plotly_chart(figures.affinity_animation(res), key="affinity_anim")
    if t[2].open:
        with t[2]:
            ui.chart(figures.factor_time_figure(res), "time_all", "connectome_time_courses")
            r = st.selectbox("Factor", range(res.fit.rank), key="factor",
                             format_func=lambda k: f"factor {k} (weight {res.fit.weights[k]:.2f}, "
                                                   f"{len(res.communities[k].groups)} communities)")
            cc = st.columns(2)
            ui.chart(figures.motif_figure(res, r), "motif", f"connectome_motif_{r}", where=cc[0])
            ui.chart(figures.factor_time_figure(res, [r]), "time_one", f"connectome_time_{r}", where=cc[1])
            ui.chart(figures.animal_loadings_figure(res, r), "animal", f"connectome_animals_{r}", where=cc[1])
    if t[3].open:
        with t[3]:
            r2 = st.selectbox("Factor graph", range(res.fit.rank), key="graph_factor", format_func=lambda k: f"factor {k}")
            ui.chart(figures.community_graph_figure(res, r2, seed=res.config.seed), "graph", f"connectome_graph_{r2}")
            ui.chart(figures.membership_sankey(res), "sankey", "connectome_sankey")
    if t[4].open:
        with t[4]:
            rank_scan(res, data, data_key)
    if t[5].open:
        with t[5]:
            for col, (fname, mime) in zip(st.columns(len(DOWNLOADS)), DOWNLOADS.items(), strict=True):
                col.download_button(fname, lambda fname=fname: res.download(fname), file_name=f"connectome_{fname}",
                                    mime=mime, icon=":material/download:", key=f"dl:{fname}", on_click="ignore")


def rank_scan(result: ConnectomeResult, data: Recording | None, data_key: str) -> None:
    d = ScanConfig.default
    max_rank = ui.url_number("Scan ranks 1 to", "scan_max", min(max(d("ranks")), result.tensor.shape[0]), min_value=1,
                             max_value=20, step=1)
    restarts = ui.url_number("Restarts per rank", "restarts", d("restarts"), min_value=1, max_value=10, step=1)
    config = ScanConfig(**{**result.config.to_dict(), "ranks": tuple(range(1, int(max_rank) + 1)),
                           "restarts": int(restarts)})
    st.caption("Fits every rank several times from random starts: pick the rank where the error stops "
               "falling fast while restarts still agree (similarity near 1).")
    job = ui.job_panel(LAB, "scan", config, data=data, data_key=data_key, name=f"rank scan 1-{int(max_rank)}",
                       start_label="Run rank scan", curve_keys=["error"], panel="scan")
    found = ui.lab_result(LAB, "scan", config, data=data, data_key=data_key, job=job, compute=False)
    if found is not None:
        ui.chart(figures.rank_scan_figure(found.scan), "scan_fig", "connectome_rank_scan")
        st.dataframe(found.summary(), hide_index=True)


def page() -> None:
    ui.lab_header(LAB)
    st.caption("Pairwise affinities per window -> non-negative tensor factorization -> communities per factor.")
    try:
        chosen = choose_data()
        if chosen is None:
            return
        fields, recording, data, data_key = chosen
        config = choose_config(fields)
        neurons = recording.shape[1] if recording is not None else config.worm["neurons"]
        with st.expander("Run as a background job (live NTF progress, stop, saved to Runs)",
                         icon=":material/play_circle:", expanded=neurons > AUTO_LIMIT):
            job = ui.job_panel(LAB, "run", config, data=data, data_key=data_key, name=f"NTF rank {config.rank}",
                               start_label="Run NTF", curve_keys=["error"], panel="ntf")
        result = ui.lab_result(LAB, "run", config, data=data, data_key=data_key, job=job,
                               compute=neurons <= AUTO_LIMIT)
    except LabInputError as err:
        ui.show_error(err)
        return
    if result is None:
        st.info(f"{neurons} neurons: press **Run NTF** above to analyse with live progress.", icon=":material/hourglass:")
        preview = recording or worm_traces(config.worm, config.seed)
        ui.chart(figures.traces_heatmap(preview), "traces_only", "connectome_traces")
        return
    summary(result)
    tabs(result, data, data_key)


page()
