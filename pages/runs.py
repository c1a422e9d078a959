"""Runs: every saved run of every lab - show one again, compare several, export and import lab cards."""

import json

import pandas as pd
import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.inputs import read_json
from lab.core.registry import LABS, lab_info, rerunner
from lab.core.runstore import RunStore
from lab.runs_figures import compare_curves_figure, compare_metrics_table, run_figures

st.title("Runs")
st.caption("Finished and stopped runs of every lab, kept in the run store "
           f"(`{RunStore().root}`; set `DYNLAB_HOME` to move it).")

store = RunStore()

with st.expander("Import a lab card", icon=":material/upload:"):
    upload = st.file_uploader("Lab card (.json)", type=["json"], key="card_upload")
    rerun_it = st.checkbox("Re-run it here after importing", key="card_rerun")
    if upload is not None and st.button("Import", key="card_import"):
        try:
            card = read_json(upload, name=upload.name, max_bytes=20 * 1024 * 1024)
            run_id = store.import_card(card)
            st.success(f"Imported as `{run_id}`.")
            if rerun_it:
                fn = rerunner(card["lab"])
                if fn is None:
                    raise LabInputError(f"The {lab_info(card['lab']).title} lab cannot re-run cards yet; the card was imported as-is.")
                with st.spinner("Re-running the card's config..."):
                    metrics, artifacts = fn(card["config"])
                new_id = store.save_run(card["lab"], card["config"], metrics, artifacts, title=f"re-run of {card.get('run_id', run_id)}")
                st.success(f"Re-ran it as `{new_id}`.")
        except LabInputError as err:
            ui.show_error(err)

lab_names = {info.key: info.title for info in LABS}
lab_filter = ui.url_selectbox("Lab", ["all", *lab_names], "lab", "all",
                              format_func=lambda k: "All labs" if k == "all" else lab_names[k])
runs = store.list_runs(lab=None if lab_filter == "all" else lab_filter)

if not runs:
    st.info("No runs yet. Open a lab and train or run something (or use `dynlab <lab> ...` on the command line); "
            "every finished job is saved here, and lab cards can be imported above.", icon=":material/lightbulb:")
    st.stop()

table = pd.DataFrame(
    [
        {
            "run": r.run_id,
            "lab": lab_names.get(r.lab, r.lab),
            "when": r.created.replace("T", " ")[:19],
            "title": r.meta.get("title", ""),
            "config": ", ".join(f"{k}={v}" for k, v in list(r.config.items())[:5] if not isinstance(v, dict | list)),
            **{k: round(v, 4) for k, v in list(r.scalar_metrics.items())[:4]},
        }
        for r in runs
    ]
)
st.dataframe(table, hide_index=True, width="stretch")

by_id = {r.run_id: r for r in runs}
tab_one, tab_compare = st.tabs(["One run", "Compare runs"])

with tab_one:
    chosen = st.selectbox("Run", list(by_id), key="run_pick",
                          format_func=lambda rid: f"{rid}  {by_id[rid].meta.get('title', '')}")
    run = by_id[chosen]
    cols = st.columns([2, 1])
    with cols[0]:
        if run.scalar_metrics:
            st.dataframe(pd.DataFrame([run.scalar_metrics]).T.rename(columns={0: "value"}), width="stretch")
        for fig in run_figures(run):
            st.plotly_chart(fig, key=f"runfig:{chosen}:{id(fig)}")
    with cols[1]:
        st.markdown("**Config**")
        st.json(run.config, expanded=False)
        st.download_button(
            "Download lab card", json.dumps(store.export_card(chosen), indent=2), file_name=f"{chosen}.json",
            mime="application/json", icon=":material/download:", key="card_download",
        )
        for name in run.artifacts:
            if not name.endswith(".plotly.json"):
                st.download_button(name, run.artifact_path(name).read_bytes(), file_name=name, key=f"art:{name}",
                                   icon=":material/attachment:")
        if st.button("Delete this run", key="run_delete", icon=":material/delete:"):
            store.delete_run(chosen)
            st.rerun()

with tab_compare:
    picked = st.multiselect("Runs to compare (same lab)", list(by_id), key="run_compare",
                            default=[rid for rid in by_id if by_id[rid].lab == run.lab][:2])
    chosen_runs = [by_id[rid] for rid in picked]
    if len(chosen_runs) < 2:
        st.caption("Pick two or more runs of one lab.")
    elif len({r.lab for r in chosen_runs}) > 1:
        st.warning("These runs come from different labs; pick runs of one lab to compare them.")
    else:
        st.dataframe(compare_metrics_table(chosen_runs), width="stretch")
        fig = compare_curves_figure(chosen_runs)
        if fig is not None:
            st.plotly_chart(fig, key="compare_curves")
        else:
            st.caption("These runs recorded no curves.")
