"""Trajectory groups: widgets -> PredictConfig / GroupsConfig -> ``ui.lab_result`` (cached) -> figures.

The scene tab's time slider picks the frame whose last ``obs`` steps every model predicts from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.verbs import content_hash
from lab.trajectories import figures
from lab.trajectories.data import Scene, read_scene
from lab.trajectories.groups import GroupsConfig
from lab.trajectories.nri import EdgesConfig
from lab.trajectories.predict import PredictConfig, build_predictors, predict_frame
from lab.trajectories.predictors import PREDICTORS
from lab.trajectories.train import MODELS, TrainConfig

LAB = "trajectories"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "trajectories"
SOURCES = {"crowd": "crowd simulator (groups)", "springs": "dynamic springs", "sample": "sample file", "upload": "upload"}


@st.cache_data(show_spinner=False, max_entries=8)
def read_upload(raw: bytes, name: str) -> Scene:
    return read_scene(raw, name=name)


@st.cache_resource(show_spinner=False, max_entries=8)
def predictors(config: PredictConfig) -> dict:
    return build_predictors(config)


def choose_scene() -> tuple[dict, Scene | None, str] | None:
    """(config fields naming the scene, the upload (the verbs' data), its content hash); None without data."""
    source = ui.url_radio("Scene", list(SOURCES), "src", "crowd", horizontal=True, format_func=SOURCES.get)
    if source in ("crowd", "springs"):
        c = st.columns(2)
        agents = ui.url_number("Agents", "agents", 20 if source == "crowd" else 5, min_value=2, max_value=200, where=c[0])
        frames = ui.url_number("Frames", "frames", 200, min_value=30, max_value=2000, step=10, where=c[1])
        return {"source": source, "agents": int(agents), "frames": int(frames)}, None, ""
    if source == "sample":
        files = sorted(p.name for p in SAMPLES.glob("*.txt"))
        name = ui.url_selectbox("Sample scene", files, "sample", files[0] if files else None)
        return {"source": "files", "inputs": (str(SAMPLES / name),)}, None, ""
    upload = st.file_uploader("A scene: ETH/UCY text (frame ped_id x y, whitespace separated, metres) or CSV "
                              "(frame, agent, x, y)", type=["txt", "csv", "tsv"])
    if upload is None:
        st.info("Choose a scene file, or pick a simulator.", icon=":material/upload:")
        return None
    raw = upload.getvalue()
    scene = read_upload(raw, upload.name)
    for note in scene.notes:
        st.caption(f":material/info: {note}")
    return {"source": "upload"}, scene, content_hash(raw)


def summary(pred, groups) -> None:
    m = st.columns(5)
    m[0].metric("Windows", pred.windows)
    for col, name in zip(m[1:3], [n for n in ("group", "cv") if n in pred.errors], strict=False):
        col.metric(f"{name} minADE/minFDE", f"{pred.errors[name]['min_ade']:.2f}/{pred.errors[name]['min_fde']:.2f}")
    if groups.ari is not None:
        m[3].metric("Group ARI (model)", f"{groups.ari:.3f}")
        m[4].metric("Group ARI (rule)", f"{groups.ari_rule:.3f}" if groups.ari_rule is not None else "-")


def scene_tab(scene: Scene, groups, config: PredictConfig) -> None:
    lo, hi = config.obs - 1, scene.shape[0] - 1
    frame = int(ui.url_slider("Time (frame step)", "t", min(lo + 20, hi), lo, max(hi, lo + 1)))
    st.markdown(f"**Frame {int(scene.frames[min(frame, hi)])}** ({frame * scene.dt:.1f} s): step {frame + 1} of "
                f"{scene.shape[0]} in the recording")
    shown = st.multiselect("Models drawn", list(config.models), default=list(config.models), key="traj:shown")
    fp = predict_frame(scene, min(frame, hi), predictors(config), config.obs, config.pred, config.samples, config.seed)
    fig = figures.scene_figure(scene, min(frame, hi), fp, groups.labels[min(frame, hi)], tuple(shown), tail=config.obs)
    ui.chart(fig, "traj:scene", f"trajectories_frame_{frame}")
    if st.toggle("Play the whole scene (animation)", key="traj:anim"):
        st.plotly_chart(figures.scene_animation(scene, groups.labels), key="traj:anim_fig")
    st.session_state["traj:frame_prediction"] = fp


def downloads(scene: Scene, pred, groups) -> None:
    fp = st.session_state.get("traj:frame_prediction")
    c = st.columns(4)
    if fp is not None:
        c[0].download_button("predictions.csv", lambda: figures.predictions_csv(scene, fp), file_name="predictions.csv",
                             mime="text/csv", on_click="ignore", icon=":material/download:")
    c[1].download_button("groups.csv", groups.csv, file_name="groups.csv", mime="text/csv", on_click="ignore",
                         icon=":material/download:")
    doc = {"predict": pred.metrics(), "groups": {k: v for k, v in groups.metrics().items()}}
    c[2].download_button("metrics.json", json.dumps(doc, indent=2, default=float), file_name="metrics.json",
                         mime="application/json", on_click="ignore", icon=":material/download:")
    ui.figure_html_download(figures.horizon_figure(pred.horizon, pred.min_horizon, scene.dt), "horizon.html",
                            "trajectories_horizon.html", where=c[3])


def train_tab(fields: dict, data, data_key: str) -> None:
    c, d = st.columns(3), TrainConfig.default
    model = ui.url_selectbox("Model", list(MODELS), "tmodel", d("model"), where=c[0])
    steps = ui.url_number("Steps", "tsteps", 300, min_value=10, max_value=20000, step=50, where=c[1])
    minutes = ui.url_number("Minutes (0: no limit)", "tmin", 2.0, min_value=0.0, max_value=120.0, where=c[2])
    src = {k: v for k, v in fields.items() if k in ("source", "inputs", "agents")}
    config = TrainConfig(**src, model=model, steps=int(steps), minutes=float(minutes), eval_every=50,
                         seed=ui.current_seed(), device=ui.current_device())
    st.caption("Trains on the chosen scene (a simulator: several scenes with seeds from the sidebar's; a file: its "
               "first 85 % of windows, the rest held out). The run is saved with its checkpoint on the Runs page.")
    job = ui.job_panel(LAB, "train", config, data=data, data_key=data_key, name=f"train {model}",
                       start_label="Train", curve_keys=["loss", "val_min_ade"], panel="train")
    result = ui.lab_result(LAB, "train", config, data=data, data_key=data_key, job=job, compute=False)
    if result is not None:
        st.json(result.to_json(), expanded=False)
        ui.chart(figures.curve_figure(result.curves), "traj:curves", "trajectories_training")


def springs_tab() -> None:
    st.caption("NRI on dynamic springs: the shipped encoder infers a spring (or none) per pair and window of "
               "20 steps, without labels; accuracy is against the simulator's graph, up to swapping the two types.")
    config = EdgesConfig(train_steps=0, test_scenes=1, frames=200, seed=ui.current_seed())
    try:
        res = ui.lab_result(LAB, "edges", config)
    except LabInputError as err:
        ui.show_error(err)
        return
    st.metric("Edge accuracy (held-out scene)", f"{res.accuracy:.1%}")
    ui.chart(figures.springs_edges_figure(res.example, res.example_types, res.permutation), "traj:springs",
             "trajectories_springs_edges")


def page() -> None:
    ui.lab_header(LAB)
    st.caption("Past tracks, true future, K samples per model as fans, inferred interactions (colour = type, "
               "width = strength) and inferred groups (outlines).")
    try:
        chosen = choose_scene()
        if chosen is None:
            return
        fields, data, data_key = chosen
        c, d = st.columns(4), PredictConfig.default
        obs = int(ui.url_number("Observed steps", "obs", d("obs"), min_value=2, max_value=20, where=c[0]))
        pred = int(ui.url_number("Predicted steps", "pred", d("pred"), min_value=1, max_value=30, where=c[1]))
        samples = int(ui.url_number("Samples K", "k", d("samples"), min_value=1, max_value=100, where=c[2]))
        method = ui.url_selectbox("Groups by", ["model", "rule"], "method", "model", where=c[3])
        seed, device = ui.current_seed(), ui.current_device()
        pconfig = PredictConfig(**fields, models=tuple(PREDICTORS), obs=obs, pred=pred, samples=samples, seed=seed,
                                device=device)
        gconfig = GroupsConfig(**fields, method=method, obs=obs, seed=seed, device=device)
        result = ui.lab_result(LAB, "predict", pconfig, data=data, data_key=data_key)
        groups = ui.lab_result(LAB, "groups", gconfig, data=data, data_key=data_key)
    except LabInputError as err:
        ui.show_error(err)
        return
    if (obs, pred) != (d("obs"), d("pred")):
        st.caption(":material/info: the shipped models observe 8 and predict 12 steps; for other protocols they "
                   "use the last 8 steps (or pad backwards) and cut or extend their predictions.")
    summary(result, groups)
    scene = groups.scene
    t = ui.url_tabs(["Scene", "Graph over time", "Metrics", "Train", "Springs edges", "Downloads"])
    if t[0].open:
        with t[0]:
            scene_tab(scene, groups, pconfig)
    if t[1].open:
        with t[1]:
            frames = [f for f in np.linspace(obs, scene.shape[0] - 1, 6).astype(int) if int(f) in groups.relations]
            if frames:
                ui.chart(figures.graph_over_time(scene, groups.relations, frames), "traj:graph", "trajectories_graph")
            else:
                st.info("The interaction graph comes from the group model: choose 'Groups by: model'.")
    if t[2].open:
        with t[2]:
            st.dataframe(result.table(), hide_index=True)
            ui.chart(figures.horizon_figure(result.horizon, result.min_horizon, scene.dt), "traj:horizon",
                     "trajectories_horizon")
            if groups.per_frame_ari is not None:
                ui.chart(figures.ari_figure(scene, groups.per_frame_ari), "traj:ari", "trajectories_ari")
    if t[3].open:
        with t[3]:
            train_tab(fields, data, data_key)
    if t[4].open:
        with t[4]:
            springs_tab()
    if t[5].open:
        with t[5]:
            downloads(scene, result, groups)


page()
