"""Dynamic connectome: widgets -> ConnectomeConfig -> ``ui.lab_result`` (cached, or the finished job on the same
config *and* data) -> figures. Several trace files (one per animal) and their covariate files can be uploaded at
once; neurons are matched by name. Inputs above ``AUTO_LIMIT`` neurons wait for the background job."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from app import ui
from lab.connectome import figures
from lab.connectome.affinities import AFFINITIES
from lab.connectome.cohort import LAYOUTS, align_neurons
from lab.connectome.combine import attach_covariates, combine_recordings, match_covariates
from lab.connectome.communities import METHODS
from lab.connectome.config import ConnectomeConfig, ScanConfig
from lab.connectome.data import Recording, plural
from lab.connectome.downloads import DOWNLOADS
from lab.connectome.readers import list_nwb_series, load_recording
from lab.connectome.results import ConnectomeResult
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.errors import LabInputError
from lab.core.verbs import content_hash

LAB = "connectome"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "connectome"
COHORT = "cohort: 3 worms, own neurons, behaviour"
AUTO_LIMIT = 80  # neurons: above this the page waits for the job button instead of computing at once
WORM = [("neurons", "Neurons", "n", 6, 300, 1), ("communities", "Communities", "k", 1, 12, 1),
        ("epochs", "Epochs", "e", 1, 8, 1), ("animals", "Animals", "a", 1, 10, 1),
        ("snr", "SNR", "snr", 0.1, 100.0, 0.5), ("frames_per_epoch", "Frames/epoch", "fpe", 60, 3000, 20),
        ("identified", "Identified", "idf", 0.3, 1.0, 0.05)]
LAYOUT_LABELS = {"auto": "auto (aligned only with a shared clock)", "aligned": "aligned (shared stimulus clock)",
                 "independent": "independent recordings"}
SWEEP_FIELDS = {"rank": "2,3,4,5", "method": "leiden,louvain"}  # the values offered at first
SWEEP_METRICS = ("reconstruction_error", "mean_modularity", "ari")


@st.cache_data(show_spinner=False, max_entries=16)
def read_file(data: bytes, name: str, series: str | None) -> Recording:
    return load_recording(data, name=name, series=series)


@st.cache_data(show_spinner=False, max_entries=8)
def nwb_series(data: bytes, name: str) -> list[str]:
    return list_nwb_series(data, name=name)


@st.cache_data(show_spinner=False, max_entries=4)
def worm_traces(worm: dict, seed: int) -> Recording:
    return make_worm(WormConfig(**{"seed": seed, **worm})).recording


@st.cache_data(show_spinner=False, max_entries=4)
def sample_recording(inputs: tuple[str, ...], covariates: tuple[str, ...]) -> Recording:
    from lab.connectome.pipeline import load_inputs

    return load_inputs(ConnectomeConfig(source="files", inputs=inputs, covariates=covariates))


def choose_upload() -> tuple[dict, Recording, Recording, str] | None:
    traces = st.file_uploader("Calcium traces, one file per animal (or several animals per file): CSV (one column "
                              "per neuron, named; optional time, frame, animal, epoch), NPZ (traces (N, T) or (A, N, "
                              "T); names, fps, epochs) or NWB (RoiResponseSeries)", type=["csv", "npz", "nwb"],
                              accept_multiple_files=True, key="connectome:traces")
    covs = st.file_uploader("Behaviour / stimulus covariates (optional): one CSV per trace file, a time or frame "
                            "column plus numeric columns (velocity, reversal, stimulus ...), named after its trace "
                            "file (A.csv -> A_beh.csv)", type=["csv"], accept_multiple_files=True,
                            key="connectome:covariates")
    if not traces:
        st.info("Choose one or more files to analyse, or switch to the synthetic worm.", icon=":material/upload:")
        return None
    covs = covs or []
    matched = match_covariates([t.name for t in traces], [c.name for c in covs])
    recs, digest = [], []
    for upload, k in zip(traces, matched, strict=True):
        cov = None if k is None else covs[k]
        raw, name = upload.getvalue(), upload.name
        options = nwb_series(raw, name) if name.lower().endswith(".nwb") else []
        series = st.selectbox(f"Fluorescence series of {name}", options, key=f"series:{name}") \
            if len(options) > 1 else None
        rec = read_file(raw, name, series)
        digest.append(f"{name}:{content_hash(raw)}:{series}")
        if cov is not None:
            attach_covariates(rec, cov.getvalue(), name=cov.name, traces_label=name)
            digest.append(f"{cov.name}:{content_hash(cov.getvalue())}")
        recs.append(rec)
    names = [u.name for u in traces]
    if len(set(names)) < len(names):
        raise LabInputError("Two uploads have the same file name; rename one so each animal is known by its file.")
    recording = combine_recordings(recs, names)
    # the config cannot name an upload: it travels as data, known by its content
    return {"source": "upload"}, recording, recording, content_hash("|".join(digest))


def choose_data() -> tuple[dict, Recording | None, Recording | None, str] | None:
    """(config fields naming the data, the recording read (None: synthetic), the upload (the verb's data) and its
    content hash); None while there is no data."""
    labels = {"synthetic": "synthetic worm (planted truth)", "sample": "sample files", "upload": "upload"}
    source = ui.url_radio("Data", list(labels), "src", "synthetic", horizontal=True, format_func=labels.get)
    if source == "synthetic":
        cols = st.columns(len(WORM))
        worm = {f: ui.url_number(label, key, WormConfig.default(f), min_value=lo, max_value=hi, step=step, where=col,
                                 help="fraction of neurons identified in each animal (a different subset each)"
                                 if f == "identified" else None)
                for (f, label, key, lo, hi, step), col in zip(WORM, cols, strict=True)}
        return {"source": "synthetic", "worm": worm}, None, None, ""  # the worm's seed is the config's
    if source == "upload":
        return choose_upload()
    files = sorted(p.name for p in SAMPLES.glob("worm.*")) + [COHORT]
    name = ui.url_selectbox("Sample", files, "sample", files[0])
    if name == COHORT:
        inputs = tuple(str(SAMPLES / "cohort" / f"worm_{k}.csv") for k in "abc")
        covs = tuple(p[:-4] + "_beh.csv" for p in inputs)
        fields = {"source": "files", "inputs": inputs, "covariates": covs}
        return fields, sample_recording(inputs, covs), None, ""
    raw = (SAMPLES / name).read_bytes()
    options = nwb_series(raw, name) if name.lower().endswith(".nwb") else []
    series = st.selectbox("Fluorescence series", options) if len(options) > 1 else None
    return {"source": "files", "inputs": (str(SAMPLES / name),), "series": series}, read_file(raw, name, series), None, ""


def choose_config(fields: dict, animals: int) -> ConnectomeConfig:
    c, d = st.columns(5), ConnectomeConfig.default
    config = dict(
        rank=int(ui.url_number("Rank (factors)", "rank", d("rank"), min_value=1, max_value=30, step=1, where=c[0])),
        window=int(ui.url_number("Window (frames)", "win_len", d("window"), min_value=4, max_value=2000, step=5,
                                 where=c[1])),
        step=int(ui.url_number("Step (frames)", "win_step", d("step"), min_value=1, max_value=2000, step=5, where=c[2],
                               help="frames from one window's start to the next; longer than the window skips frames")),
        affinity=ui.url_selectbox("Affinity", list(AFFINITIES), "aff", d("affinity"), where=c[3]),
        method=ui.url_selectbox("Communities", list(METHODS), "method", d("method"), where=c[4]))
    c2 = st.columns(2)
    rules = ["common"] + [f"min:{k}" for k in range(1, animals)] if animals > 1 else ["common"]
    rule_text = {"common": "identified in every animal"} | {f"min:{k}": f"identified in at least {plural(k, 'animal')}"
                                                            " (the rest masked)" for k in range(1, animals)}
    neurons = ui.url_selectbox("Neurons", rules, "neurons", "common", where=c2[0], format_func=rule_text.get)
    layout = ui.url_selectbox("Animals", list(LAYOUTS), "layout", d("layout"), where=c2[1], format_func=LAYOUT_LABELS.get,
                              help="aligned: window t is the same moment in every animal (a shared stimulus "
                                   "protocol); independent: each animal's windows follow one another in time")
    return ConnectomeConfig(**fields, **config, neurons=neurons, layout=layout, seed=ui.current_seed(),
                            device=ui.current_device())


def neuron_report(recording: Recording, rule: str) -> None:
    """Which neurons are analysed, and what each file loses (before anything runs)."""
    aligned = align_neurons(recording, rule)
    lost = {f: names for f, names in aligned.dropped.items() if names}
    files = len(set(recording.files))
    text = f"**{plural(aligned.shape[1], 'neuron')} analysed** of {plural(recording.shape[1], 'name')} in " \
           f"{plural(files, 'file')} ({plural(recording.shape[0], 'animal')})"
    if not lost:
        st.caption(text + "; every file keeps all its neurons.")
        return
    with st.expander(text + f"; {plural(sum(len(v) for v in lost.values()), 'neuron')} left out", expanded=True,
                     icon=":material/filter_alt:"):
        st.dataframe([{"file": Path(f).name, "left out": len(v), "neurons": " ".join(v)} for f, v in lost.items()],
                     hide_index=True)


def highlight_box(recording: Recording) -> tuple[str, ...]:
    text = st.text_input("Highlight neurons (names, e.g. AVAL AVAR RIML RIMR)", key="connectome:highlight",
                         help="marked in every view: traces, affinity, motifs, community graph and Sankey")
    wanted = [w for w in re.split(r"[\s,;]+", text.strip()) if w]
    known = [w for w in wanted if w in recording.names]
    unknown = [w for w in wanted if w not in recording.names]
    if unknown:
        st.caption(f":material/info: not among the analysed neurons: {', '.join(unknown)}")
    return tuple(known)


def summary(result: ConnectomeResult) -> None:
    m = st.columns(6)
    m[0].metric("Reconstruction error", f"{result.fit.error:.3f}")
    m[1].metric("NTF iterations", len(result.fit.errors))
    m[2].metric("Mean modularity", f"{result.mean_modularity:.3f}")
    if result.scores is not None:
        what = "planted" if result.config.source == "synthetic" else "truth"
        m[3].metric(f"ARI vs {what}", f"{result.scores['ari']:.3f}")
        m[4].metric(f"NMI vs {what}", f"{result.scores['nmi']:.3f}")
    m[5].metric("Pipeline time", f"{result.seconds['total']:.2f} s")
    (a, n, t), (p, w, a2) = result.recording.shape, result.tensor.shape
    masked = f", {int((~result.mask).sum()):,} entries masked" if result.mask is not None else ""
    st.caption(f"{plural(a, 'animal')} x {plural(n, 'neuron')} x up to {plural(t, 'frame')}, {result.layout} layout "
               f"-> tensor {plural(p, 'neuron pair')} x {plural(w, 'window')} x "
               f"{plural(a2, 'animal') if result.layout == 'aligned' else '1 (animals one after another in time)'}"
               f"{masked}" + ("  (NTF stopped early: partial result)" if result.fit.stopped else "."))
    for w in result.warnings:
        st.warning(w, icon=":material/warning:")
    for note in result.recording.notes:
        st.caption(f":material/info: {note}")


def tabs(res: ConnectomeResult, data: Recording | None, data_key: str, lit: tuple[str, ...]) -> None:
    rec = res.recording
    t = ui.url_tabs(["Traces", "Affinity", "Factors", "Behaviour", "Communities", "Rank scan", "Sweep", "Downloads"])
    if t[0].open:
        with t[0]:
            animal = st.selectbox("Animal", range(rec.shape[0]), format_func=lambda a: rec.animals[a], key="trace_animal")
            ui.chart(figures.traces_heatmap(rec, animal, highlight=lit), "traces", "connectome_traces")
    if t[1].open:
        with t[1]:
            win = ui.url_slider("Window", "w", 0, 0, len(res.starts) - 1) if len(res.starts) > 1 else 0
            st.markdown(f"**Window {win}** of {len(res.starts)}: {res.window_label(win)}")
            order = st.radio("Neuron order", ["fixed", "window"], horizontal=True, key="connectome:order",
                             format_func={"fixed": "fixed (by the factors' communities)",
                                          "window": "this window's communities"}.get)
            ui.chart(figures.affinity_matrix_figure(res, win, order=order, highlight=lit), "affinity",
                     f"connectome_affinity_w{win}")
            # built only on request: every window's matrix makes a large figure that would slow the first view
            if st.toggle("Play all windows (animation)", key="connectome:anim"):
                st.plotly_chart(figures.affinity_animation(res, highlight=lit), key="affinity_anim")
    if t[2].open:
        with t[2]:
            ui.chart(figures.factor_time_figure(res, covariates=False), "time_all", "connectome_time_courses")
            r = st.selectbox("Factor", range(res.fit.rank), key="factor",
                             format_func=lambda k: f"factor {k} (weight {res.fit.weights[k]:.2f}, "
                                                   f"{plural(len(res.communities[k].groups), 'community', 'communities')})")
            cc = st.columns(2)
            ui.chart(figures.motif_figure(res, r, highlight=lit), "motif", f"connectome_motif_{r}", where=cc[0])
            ui.chart(figures.factor_time_figure(res, [r], covariates=False), "time_one", f"connectome_time_{r}",
                     where=cc[1])
            ui.chart(figures.animal_loadings_figure(res, r), "animal", f"connectome_animals_{r}", where=cc[1])
    if t[3].open:
        with t[3]:
            if not res.covariates:
                st.info("No covariates: upload a behaviour / stimulus table per trace file (a time or frame column "
                        "plus numeric columns) to see what each motif does.", icon=":material/directions_run:")
            else:
                st.caption("Each covariate averaged over every window, under the factors' time courses; the table "
                           "correlates every factor's time loading with every covariate (Pearson r over windows).")
                ui.chart(figures.factor_time_figure(res), "time_cov", "connectome_time_covariates")
                ui.chart(figures.correlation_figure(res), "corr", "connectome_correlations")
    if t[4].open:
        with t[4]:
            r2 = st.selectbox("Factor graph", range(res.fit.rank), key="graph_factor", format_func=lambda k: f"factor {k}")
            ui.chart(figures.community_graph_figure(res, r2, seed=res.config.seed, highlight=lit), "graph",
                     f"connectome_graph_{r2}")
            ui.chart(figures.membership_sankey(res, highlight=lit), "sankey", "connectome_sankey")
    if t[5].open:
        with t[5]:
            rank_scan(res, data, data_key)
    if t[6].open:
        with t[6]:
            sweep(res.config)
    if t[7].open:
        with t[7]:
            st.caption("figures.zip: every figure as HTML that opens offline in any browser (all_figures.html holds "
                       "them all); communities.csv lists neuron names per window.")
            for col, (fname, mime) in zip(st.columns(len(DOWNLOADS)), DOWNLOADS.items(), strict=True):
                col.download_button(fname, lambda fname=fname: res.download(fname), file_name=f"connectome_{fname}",
                                    mime=mime, icon=":material/download:", key=f"dl:{fname}", on_click="ignore")


def rank_scan(result: ConnectomeResult, data: Recording | None, data_key: str) -> None:
    d = ScanConfig.default
    top = max(1, min(result.tensor.shape[0], len(result.starts), 20))
    max_rank = ui.url_number("Scan ranks 1 to", "scan_max", min(max(d("ranks")), top), min_value=1, max_value=top,
                             step=1)
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


def sweep(config: ConnectomeConfig) -> None:
    if config.source == "upload":  # every point re-reads its data from the config, and an upload is not stored
        st.info("A sweep runs on data its config names: choose the synthetic worm or a sample file to sweep.",
                icon=":material/tune:")
        return
    st.caption("The pipeline at every combination of the values below and every seed, around this page's settings; "
               "one background job, saved to Runs with its table of points.")
    ui.sweep_panel(LAB, "run", config, SWEEP_FIELDS, metrics=SWEEP_METRICS)


def page() -> None:
    ui.lab_header(LAB)
    st.caption("Pairwise affinities per window -> non-negative tensor factorization -> communities per factor. "
               "Animals' neurons are matched by name.")
    try:
        chosen = choose_data()
        if chosen is None:
            return
        fields, recording, data, data_key = chosen
        animals = recording.shape[0] if recording is not None else int(fields["worm"]["animals"])
        config = choose_config(fields, animals)
        preview = recording if recording is not None else worm_traces(config.worm, config.seed)
        neuron_report(preview, config.neurons)
        lit = highlight_box(preview)
        neurons = preview.shape[1]
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
        st.info(f"{plural(neurons, 'neuron')}: press **Run NTF** above to analyse with live progress.",
                icon=":material/hourglass:")
        ui.chart(figures.traces_heatmap(preview, highlight=lit), "traces_only", "connectome_traces")
        return
    summary(result)
    tabs(result, data, data_key, lit)


page()
