"""Runs: every saved run of every lab - show one again, compare several, export, import and re-run."""

import json

import pandas as pd
import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.inputs import read_json
from lab.core.registry import labs
from lab.core.runstore import RunStore
from lab.runs_figures import (
    STATUS_WORDS,
    compare_configs_table,
    compare_curves_figure,
    compare_metrics_table,
    run_figures,
    runs_table,
)

PICK = "runs:pick"  # session_state: the run the "One run" tab shows


def import_card(store: RunStore) -> None:
    upload = st.file_uploader("Lab card (.json)", type=["json"], key="card_upload")
    rerun_it = st.checkbox("Re-run it here after importing", key="card_rerun",
                           help="runs the card's config again as a background job of this browser (saved to Runs)")
    if upload is None or not st.button("Import", key="card_import"):
        return
    try:
        card = read_json(upload, name=upload.name, max_bytes=20 * 1024 * 1024)
        run_id = store.import_card(card)
    except LabInputError as err:
        ui.show_error(err)
        return
    st.session_state[PICK] = run_id  # the picker opens the imported run
    st.success(f"Imported as `{run_id}`.")
    if rerun_it:
        start_rerun(store, run_id)


def start_rerun(store: RunStore, run_id: str) -> None:
    """Re-run a saved run by its verb, as a background job (the page stays responsive)."""
    from lab.core.jobs import job_runner
    from lab.core.verbs import rerun_work

    try:
        lab, verb, config, work = rerun_work(store.load_run(run_id))
        job = job_runner().submit(lab, f"re-run of {run_id}", work, owner=ui.session_owner(), verb=verb,
                                  panel="rerun", config=config.to_dict())
    except LabInputError as err:
        ui.show_error(err)
        return
    st.session_state["runs:rerun_lab"] = job.lab


def rerun_progress() -> None:
    lab = st.session_state.get("runs:rerun_lab")
    if lab is None:
        return
    from lab.core.jobs import job_runner

    owner = ui.session_owner()
    job = next((j for j in job_runner().jobs(lab=lab, owner=owner) if j.panel == "rerun"), None)
    if job is None:
        return

    def render() -> None:
        if job.active:
            st.progress(job.fraction, text=f"{job.name}: step {job.step}/{job.total}")
        elif job.status == "failed":
            st.error(f"{job.name} failed: {job.error}", icon=":material/error:")
        else:
            st.success(f"{job.name} {job.status} as run `{job.run_id}`.", icon=":material/check_circle:")
            if st.session_state.get("runs:rerun_seen") != job.job_id:
                st.session_state["runs:rerun_seen"] = job.job_id
                st.session_state[PICK] = job.run_id
                st.rerun()

    st.fragment(render, run_every=1.0 if job.active else None)()


def one_run(store: RunStore, runs: dict) -> None:
    if st.session_state.get(PICK) not in runs:
        st.session_state[PICK] = next(iter(runs))
    chosen = st.selectbox("Run", list(runs), key=PICK,
                          format_func=lambda rid: f"{rid}  {runs[rid].meta.get('title', '')}")
    run = runs[chosen]
    cols = st.columns([2, 1])
    with cols[0]:
        st.caption(f"status: **{STATUS_WORDS.get(run.status, run.status)}**" + (f" - {run.meta['error']}" if run.meta.get("error") else "")
                   + (f" · verb `{run.verb}`" if run.verb else ""))
        if run.scalar_metrics:
            st.dataframe(pd.DataFrame([run.scalar_metrics]).T.rename(columns={0: "value"}), width="stretch")
        if run.verb == "sweep" and "points.csv" in run.artifacts and run.artifact_path("points.csv").stat().st_size:
            st.markdown(f"**Points of the sweep** ({run.config.get('verb')} over "
                        f"{', '.join(run.config.get('grid', {})) or 'its base config'}, seeds {run.config.get('seeds')})")
            st.dataframe(pd.read_csv(run.artifact_path("points.csv")), hide_index=True, width="stretch")
        for i, fig in enumerate(run_figures(run)):
            st.plotly_chart(fig, key=f"runfig:{chosen}:{i}")
    with cols[1]:
        st.markdown("**Config**")
        st.json(run.config, expanded=False)
        st.download_button("Download lab card", json.dumps(store.export_card(chosen), indent=2),
                           file_name=f"{chosen}.json", mime="application/json", icon=":material/download:",
                           key="card_download")
        for name in run.artifacts:
            if not name.endswith(".plotly.json"):
                st.download_button(name, run.artifact_path(name).read_bytes(), file_name=name, key=f"art:{name}",
                                   icon=":material/attachment:")
        if st.button("Re-run", key="run_rerun", icon=":material/replay:",
                     help="the same config and seed, by the run's verb, as a background job"):
            start_rerun(store, chosen)
        if st.button("Delete this run", key="run_delete", icon=":material/delete:"):
            store.delete_run(chosen)
            st.session_state.pop(PICK, None)
            st.rerun()


def compare(runs: dict) -> None:
    current = runs.get(st.session_state.get(PICK)) or next(iter(runs.values()))
    picked = st.multiselect("Runs to compare (same lab)", list(runs), key="run_compare",
                            default=[rid for rid in runs if runs[rid].lab == current.lab][:2])
    chosen = [runs[rid] for rid in picked]
    if len(chosen) < 2:
        st.caption("Pick two or more runs of one lab.")
    elif len({r.lab for r in chosen}) > 1:
        st.warning("These runs come from different labs; pick runs of one lab to compare them.")
    else:
        st.markdown("**Where the configs differ**")
        diff = compare_configs_table(chosen)
        if diff.empty:
            st.caption("The configs are identical.")
        else:
            st.dataframe(diff, width="stretch")
        st.markdown("**Metrics**")
        st.dataframe(compare_metrics_table(chosen), width="stretch")
        fig = compare_curves_figure(chosen)
        if fig is not None:
            st.plotly_chart(fig, key="compare_curves")
        else:
            st.caption("These runs recorded no curves.")


def page() -> None:
    ui.set_namespace("runs")
    st.title("Runs")
    store = RunStore()
    st.caption(f"Finished, stopped and failed runs of every lab, kept in the run store (`{store.root}`; set "
               "`DYNLAB_HOME` to move it).")
    with st.expander("Import a lab card", icon=":material/upload:"):
        import_card(store)
    rerun_progress()
    titles = {spec.key: spec.title for spec in labs()}
    lab_filter = ui.url_selectbox("Lab", ["all", *titles], "lab", "all",
                                  format_func=lambda k: "All labs" if k == "all" else titles[k])
    found = store.list_runs(lab=None if lab_filter == "all" else lab_filter)
    if not found:
        st.info("No runs yet. Open a lab and train or run something (or use `dynlab <lab> ...` on the command "
                "line); every finished job is saved here, and lab cards can be imported above.",
                icon=":material/lightbulb:")
        return
    st.dataframe(runs_table(found, titles), hide_index=True, width="stretch")
    runs = {r.run_id: r for r in found}
    tab_one, tab_compare = st.tabs(["One run", "Compare runs"])
    with tab_one:
        one_run(store, runs)
    with tab_compare:
        compare(runs)


page()
