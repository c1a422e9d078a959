"""Pointer tours: watch a pointer network choose hull vertices, triangles and tours, step by step."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.registry import lab_info
from lab.pointer import figures
from lab.pointer.io import Instance, load_instances, random_instance_list, tour_csv, tour_text
from lab.pointer.service import (
    DECODERS,
    MethodOption,
    SolveConfig,
    default_method,
    method_options,
    result_rows,
    rows_csv,
    solve_instances,
)
from lab.pointer.tasks import HULL_RULES, TASKS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data" / "pointer"
BENCH = ROOT / "benchmarks" / "results" / "pointer.json"
TASK_LABELS = {"tsp": "TSP (tour)", "hull": "convex hull", "delaunay": "Delaunay triangulation"}
TRAINED = "pointer:trained"  # session_state: {key: (task, kind, model, label)}


# -- cached adapters ----------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the model ...")
def load_net(key: str, task: str, model: str | None, checkpoint: str | None, mtime: float = 0.0):
    """A model by picker key; ``mtime`` makes a re-saved checkpoint load afresh."""
    import torch

    if key.startswith("untrained"):
        from lab.pointer.models import build_model

        torch.manual_seed(0)
        return build_model({"model": "ptrnet", "task": task})
    from lab.pointer import zoo

    return zoo.load(checkpoint, task=task, model=model)


@st.cache_data(show_spinner=False, max_entries=32)
def random_instances(n: int, num: int, seed: int) -> list[Instance]:
    return random_instance_list(n, num, seed)


@st.cache_data(show_spinner=False, max_entries=16)
def file_instances(data: bytes, name: str, task: str) -> list[Instance]:
    return load_instances(data, name=name, task=task)


@st.cache_data(show_spinner="Solving ...", max_entries=64)
def solve_cached(inst_key: str, _instances: list[Instance], task: str, method_key: str, decode: str,
                 trace: bool, device: str, _option: MethodOption, _net=None, hull_rule: str = "simple"):
    opt = _option
    config = SolveConfig(task=task, model=opt.model if opt.kind != "solver" else None,
                         decode=decode if opt.model else "greedy", solver=opt.solver, reference=True,
                         trace=trace, device=device, hull_rule=hull_rule)
    return solve_instances(_instances, config, net=_net, method=opt.label)


@st.cache_data(show_spinner=False)
def benchmark_results(mtime: float) -> dict:
    return json.loads(BENCH.read_text()) if BENCH.exists() else {}


def trained_range(checkpoint: str | None) -> list[int]:
    """The n range a shipped checkpoint was trained on, from its card ([] if unknown)."""
    from lab.core.checkpoints import read_card

    try:
        rng = read_card(checkpoint).get("trained_n", []) if checkpoint else []
    except LabInputError:
        return []
    return [int(v) for v in rng][:2] if len(rng) >= 2 else []


def net_for(opt: MethodOption, task: str):
    if opt.kind == "session":
        return st.session_state[TRAINED][opt.key][2]
    if opt.kind in ("model", "untrained"):
        mtime = Path(opt.checkpoint).stat().st_mtime if opt.checkpoint and Path(opt.checkpoint).exists() else 0.0
        return load_net(opt.key, task, opt.model, opt.checkpoint, mtime)
    return None


# -- controls -------------------------------------------------------------------------------------------
info = lab_info("pointer")
st.title(info.title)
st.caption(info.question + "  Built on: " + "; ".join(info.papers))

cols = st.columns([1.2, 1, 0.8, 2.4, 1])
task = ui.url_selectbox("Task", list(TASKS), "task", "tsp", where=cols[0], format_func=TASK_LABELS.get)
source = ui.url_selectbox("Instance", ["random", "sample", "upload"], "src", "random", where=cols[1],
                          format_func={"random": "random (seeded)", "sample": "sample file", "upload": "upload"}.get)
n = ui.url_number("n points", "n", 20, min_value=3, max_value=300, step=1, where=cols[2])
options = method_options(task)
for key, (t, kind, _, label) in st.session_state.get(TRAINED, {}).items():
    if t == task:
        options.insert(0, MethodOption(key, label, "session", kind))
by_key = {o.key: o for o in options}
method_key = ui.url_selectbox("Method", list(by_key), "method", default_method(options).key, where=cols[3],
                              format_func=lambda k: by_key[k].label)
option = by_key[method_key]
decoders = list(DECODERS) if task != "delaunay" else [d for d in DECODERS if d != "pomo"]
decode = ui.url_selectbox("Decoding", decoders, "decode", "greedy", where=cols[4], disabled=option.model is None,
                          help="pomo: greedy on the 8 symmetric copies of the square (attention model: from every "
                               "start node too), keeping the best -- the shortest tour or the largest hull. beam and "
                               "sample also keep the best candidate by that objective.")
hull_rule = "simple"
if task == "hull":
    hull_rule = ui.url_selectbox(
        "Output rule", list(HULL_RULES), "rule", "simple", where=cols[4], disabled=option.model is None,
        help="What the mask guarantees about the model's polygon. simple: never self-intersecting (the paper's "
             "notion of valid); convex: a convex counter-clockwise polygon; index: the paper's rule alone "
             "(start at the smallest index), so outputs may cross themselves. No rule tells the model which "
             "points are on the hull.")
seed = ui.current_seed()
device = ui.current_device()

# -- the instance(s) ------------------------------------------------------------------------------------
instances: list[Instance] = random_instances(int(n), 1, seed)
inst_key = f"random:{n}:{seed}"
if source == "sample":
    files = sorted(p.name for p in SAMPLES.glob("*") if p.suffix in (".tsp", ".csv", ".npz"))
    name = ui.url_selectbox("Sample file", files, "sample", files[0] if files else None)
    try:
        data = (SAMPLES / name).read_bytes()
        instances, inst_key = file_instances(data, name, task), f"sample:{name}"
    except LabInputError as err:
        ui.show_error(err)
elif source == "upload":
    upload = st.file_uploader("A TSPLIB .tsp (EUC_2D, CEIL_2D, ATT, GEO), a .csv with x,y columns or an .npz "
                              "with locs (B, n, 2)", type=["tsp", "csv", "npz"])
    if upload is None:
        st.info("Choose a file; until then a random instance is shown.", icon=":material/upload_file:")
    else:
        data = upload.getvalue()
        try:
            instances = file_instances(data, upload.name, task)
            inst_key = f"upload:{hashlib.sha1(data).hexdigest()}"
        except LabInputError as err:
            ui.show_error(err)
            st.caption("Showing a random instance instead.")
which = 0
if len(instances) > 1:
    which = int(ui.url_number(f"Instance (0-{len(instances) - 1})", "i", 0, min_value=0,
                              max_value=len(instances) - 1, step=1))
one = [instances[which]]
if option.kind in ("solver", "exact") and default_method(options).key == option.key:
    st.info(f"No trained pointer checkpoint for {TASK_LABELS[task]} ships yet, so this shows the classical "
            "method; pick *Ptr-Net, untrained* to watch the mechanism, or train one in the **Train** tab.",
            icon=":material/info:")

try:
    net = net_for(option, task)
    # a checkpoint re-saved by training gets new results, not the cached ones of the old weights
    method_tag = f"{option.key}@{Path(option.checkpoint).stat().st_mtime if option.checkpoint else 0}"
    res = solve_cached(f"{inst_key}:{which}", one, task, method_tag, decode, True, device, option,
                       _net=net, hull_rule=hull_rule)
except LabInputError as err:
    ui.show_error(err)
    st.stop()
r = res.instances[0]

# -- headline numbers --------------------------------------------------------------------------------------
m = st.columns(5)
if task == "tsp":
    m[0].metric("Length", f"{r.length:.6g}", help="in the file's own units; TSPLIB files use their distance rule")
    m[1].metric("Reference", f"{r.reference_length:.6g}", help="fast-tsp: exact up to 20 points, near-optimal beyond")
    m[2].metric("Gap", f"{100 * r.gap:.2f} %" if r.gap is not None else "-")
else:
    m[0].metric("Exact match", "yes" if r.scores.get("accuracy") else "no")
    cov = "area_coverage" if task == "hull" else "triangle_coverage"
    m[1].metric(cov.replace("_", " ").capitalize(), f"{100 * r.scores[cov]:.1f} %")
    m[2].metric("Output size", f"{len(r.output)} vs {len(r.reference)}", help="predicted vs exact")
m[3].metric("Valid", "yes" if r.valid else "no")
m[4].metric("Time", f"{1000 * r.seconds:.0f} ms", help=f"reference: {1000 * r.reference_seconds:.0f} ms")

# Bound to the URL (?tab=...): a copied link opens the same tab. The step, generalisation and batch tabs
# run only when open; Solution and Train always run (Train registers a finished job's model).
tabs = st.tabs(["Solution", "Step through the pointer", "Generalisation", "Batch", "Train"], key="tab",
               bind="query-params")

with tabs[0]:
    fig = figures.comparison_figure(r.points, task, r.output, r.reference, (res.method, "reference"))
    ui.chart(fig, "pointer:compare", f"{r.name}_{task}")
    d = st.columns(4)
    if task == "tsp":
        d[0].download_button("Tour (.tour)", tour_text(r.output, r.name, r.length), f"{r.name}.tour")
        d[1].download_button("Tour (CSV)", tour_csv(r.points, r.output), f"{r.name}_tour.csv")
    else:
        body = "\n".join(",".join(str(int(v)) for v in (row if task == "delaunay" else [row])) for row in r.output)
        d[0].download_button("Output (CSV)", body + "\n", f"{r.name}_{task}.csv")
    ui.figure_html_download(fig, "Figure (HTML)", f"{r.name}_{task}.html", where=d[2])
    d[3].download_button("Metrics (CSV)", rows_csv(result_rows(res)), f"{r.name}_metrics.csv")
    st.caption(ui.PNG_HINT)
    if option.kind == "model" and option.checkpoint:
        from lab.core.checkpoints import read_card

        with st.expander("Model card: how this checkpoint was trained, and what it measured", icon=":material/badge:"):
            st.json(read_card(option.checkpoint), expanded=1)

with tabs[1]:
    if tabs[1].open:  # lazy: only the open tab runs (its name is in the URL)
        if r.attention is None or len(r.attention) == 0:
            st.info("Stepping through needs a pointer model: pick a shipped checkpoint or *Ptr-Net, untrained*.",
                    icon=":material/info:")
        else:
            steps = len(r.attention)
            if st.session_state.get("url:step", 1) > steps:
                st.session_state["url:step"] = steps
            step = ui.url_slider("Decoding step", "step", 1, 1, max(2, steps), disabled=steps < 2,
                                 help="the pointer's distribution over all points at this step; "
                                      "▶ in the figure plays them all")
            step = min(int(step), steps) - 1  # 0-based from here on
            title = figures.step_title(task, r.sequence, r.attention, step)
            st.markdown(f"**{title}** — marker size and colour are the probability the pointer gives each point; "
                        "the red ring is the point it chose.")
            small = steps * len(r.points) <= 60_000  # frames hold every step's markers: keep the page light
            sfig = figures.pointer_step_figure(r.points, task, r.sequence, r.attention, step, animate=small)
            ui.chart(sfig, "pointer:step", f"{r.name}_step{step + 1}")
            if small:
                st.plotly_chart(figures.attention_heatmap(r.attention, r.sequence, step), key="pointer:heat")
            else:
                st.caption("This instance is large, so the play button and the all-steps heatmap are left out; "
                           "the slider still shows every step.")
            ui.figure_html_download(sfig, "Step figure (HTML)", f"{r.name}_steps.html")

with tabs[2]:
    if tabs[2].open:  # lazy: only the open tab runs (its name is in the URL)
        bench = benchmark_results(BENCH.stat().st_mtime if BENCH.exists() else 0.0)
        rows = [row for row in bench.get("generalisation", []) if row.get("task") == task]
        metric = "gap" if task == "tsp" else "accuracy"
        if rows:
            ranges = {o.key[4:]: tuple(trained_range(o.checkpoint)) for o in options
                      if o.kind == "model" and trained_range(o.checkpoint)}
            st.plotly_chart(figures.generalisation_figure(rows, metric, ranges, title=f"{metric} vs n (greedy)"),
                            key="pointer:gen")
            extra = "area_coverage" if task == "hull" else "triangle_coverage" if task == "delaunay" else None
            if extra:
                st.plotly_chart(figures.generalisation_figure(rows, extra, ranges, title=f"{extra} vs n"),
                                key="pointer:gen2")
            st.caption(f"Measured by `{bench.get('command')}` on {bench.get('date_utc')} UTC, "
                       f"{bench.get('sample_sizes', {}).get('generalisation_per_n')} seeded instances per n.")
        else:
            st.info("No generalisation measurement for this task yet: run `python benchmarks/pointer.py` "
                    "(it needs shipped checkpoints), or measure the selected model below.", icon=":material/info:")
        if option.model is not None and st.button("Measure the selected model now (16 instances per n)"):
            grid = {"tsp": [5, 10, 20, 50], "hull": [5, 10, 20, 50, 100], "delaunay": [5, 7, 10, 15]}[task]
            live = []
            for size in grid:
                out = solve_cached(f"random:{size}:{seed}:16", random_instances(size, 16, seed + size), task,
                                   method_tag, "greedy", False, device, option, _net=net, hull_rule=hull_rule)
                agg = out.aggregates()
                value = agg.get("mean_gap" if task == "tsp" else metric)
                live.append({"label": option.label, "n": size, metric: value})
            st.plotly_chart(figures.generalisation_figure(live, metric, title=f"{metric} vs n, measured now"),
                            key="pointer:genlive")

with tabs[3]:
    if tabs[3].open:  # lazy: only the open tab runs (its name is in the URL)
        bcols = st.columns([1, 1, 3])
        size = ui.url_number("Batch size", "batch", 32, min_value=2, max_value=500, step=1, where=bcols[0])
        use_file = len(instances) > 1
        bcols[2].caption("The batch is the uploaded file's instances." if use_file else
                         f"{size} random instances of n = {n} (seed {seed}).")
        if bcols[1].button("Run batch", type="primary") or st.session_state.get("pointer:batch_on"):
            st.session_state["pointer:batch_on"] = True
            batch = instances if use_file else random_instances(int(n), int(size), seed + 1)
            bkey = inst_key if use_file else f"random:{n}:{seed + 1}:{size}"
            bres = solve_cached(bkey, batch, task, method_tag, decode, True, device, option, _net=net,
                                hull_rule=hull_rule)
            agg = bres.aggregates()
            st.caption("  ·  ".join(f"{k.replace('_', ' ')}: {v:.4g}" for k, v in agg.items() if isinstance(v, float)))
            brow = result_rows(bres)
            if task == "tsp":
                st.plotly_chart(figures.gap_histogram([x.gap for x in bres.instances]), key="pointer:hist")
            event = st.dataframe(brow, on_select="rerun", selection_mode="single-row", key="pointer:table",
                                 hide_index=True)
            st.download_button("Metrics (CSV)", rows_csv(brow), f"batch_{task}_metrics.csv")
            picked = event.selection.rows if event is not None else []
            if picked:
                sel = bres.instances[picked[0]]
                st.plotly_chart(figures.comparison_figure(sel.points, task, sel.output, sel.reference,
                                                          (f"{bres.method}: instance {picked[0]}", "reference")),
                                key="pointer:pick")
                if sel.attention is not None:
                    st.plotly_chart(figures.attention_heatmap(sel.attention, sel.sequence), key="pointer:pickheat")

with tabs[4]:
    st.markdown("Train a pointer model here; it runs in the background (live curves, stoppable), is saved to "
                "the Runs page and becomes selectable in **Method**.")
    t = st.columns(4)
    kinds = ["ptrnet", "am"] if task == "tsp" else ["ptrnet"]
    kind = t[0].selectbox("Model", kinds, format_func={"ptrnet": "Ptr-Net (LSTM)", "am": "attention model"}.get)
    n_lo, n_hi = t[1].slider("n range", 3, 100, (5, 10))
    hidden = t[2].select_slider("Hidden size", [32, 64, 128, 256], value=64)
    steps_n = t[3].number_input("Steps", 10, 100_000, 200, step=50)
    t2 = st.columns(4)
    batch_size = t2[0].number_input("Batch size", 8, 1024, 64, step=8)
    lr = t2[1].select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3], value=1e-3)
    pomo_steps = t2[2].number_input("POMO steps", 0, 100_000, 0, step=50, disabled=kind != "am",
                                    help="attention model: REINFORCE with the POMO shared baseline after the "
                                         "imitation steps (batch 32 instances x n rollouts, lr 1e-4); the "
                                         "tour-length curve shows it learn")

    def make_work():
        from lab.pointer.train import TrainConfig, train_job

        config = TrainConfig(task=task, model=kind, n_min=int(n_lo), n_max=int(n_hi), hidden=int(hidden),
                             layers=1 if kind == "ptrnet" else 2, steps=int(steps_n), batch_size=int(batch_size),
                             lr=float(lr), seed=seed, device=device,
                             pomo_steps=int(pomo_steps) if kind == "am" else 0)
        return train_job(config)

    job = ui.job_panel("pointer", f"train {kind} {task} n={n_lo}..{n_hi}", make_work, start_label="Train",
                       key="train")
    if job is not None and job.output is not None and getattr(job.output, "result", None) is not None:
        trained = st.session_state.setdefault(TRAINED, {})
        key = f"trained:{job.job_id}"
        if key not in trained:
            result = job.output.result
            label = f"trained here: {kind} {task} n={n_lo}..{n_hi} (run {job.run_id})"
            trained[key] = (task, kind, result.model, label)
            st.rerun()
        st.plotly_chart(figures.curves_figure(job.output.result.curves), key="pointer:curves")
