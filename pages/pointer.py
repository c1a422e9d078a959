"""Pointer tours: widgets -> SolveConfig -> ``ui.lab_result`` (cached per config and data) -> figures.

A model trained in the Train tab is saved with its run, and its checkpoint (``model.pt``) becomes a Method."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.verbs import config_key, content_hash
from lab.pointer import figures, zoo
from lab.pointer.decoding import METHOD_HELP, METHODS
from lab.pointer.fit_start import FitStartConfig
from lab.pointer.generalisation import GRIDS, METRICS, GeneraliseConfig, benchmark_rows, tsplib_rows
from lab.pointer.io import load_instances
from lab.pointer.methods import MethodOption, default_method, method_options, suited_model, trained_options
from lab.pointer.results import rows_csv
from lab.pointer.service import SolveConfig
from lab.pointer.tasks import HULL_RULE_HELP, HULL_RULES, START_LABELS, START_RULES, TASK_LABELS, TASKS
from lab.pointer.train import TrainConfig

LAB = "pointer"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data" / "pointer"
TRAINED = "pointer:trained"  # session_state: ids of the runs trained here (their checkpoints are Methods)
SOURCES = {"random": "random", "sample": "sample file", "upload": "upload"}


@st.cache_data(show_spinner=False, max_entries=16)
def read_instances(data: bytes, name: str, task: str):
    return load_instances(data, name=name, task=task)


def controls():
    c, d = st.columns([1.1, 0.95, 0.7, 2.6, 1]), SolveConfig.default
    task = ui.url_selectbox("Task", list(TASKS), "task", d("task"), where=c[0], format_func=TASK_LABELS.get)
    source = ui.url_selectbox("Instance", list(SOURCES), "src", "random", where=c[1], format_func=SOURCES.get,
                              help="random: uniform points, seeded by the sidebar seed")
    n = ui.url_number("n points", "n", d("n"), min_value=3, max_value=300, step=1, where=c[2])
    options = method_options(task, trained_options(task, st.session_state.get(TRAINED, [])))
    by_key = {o.key: o for o in options}
    # The hull's output rule shares the method's column, so it does not push the page down a row.
    method_col, rule_col = c[3].columns([2.4, 1]) if task == "hull" else (c[3], None)
    # The default follows n when the page opens (a TSP50 link opens on the TSP50 model); changing n later
    # keeps the chosen method and the warning below names the better-suited one.
    option = by_key[ui.url_selectbox("Method", list(by_key), "method", default_method(options, task, int(n)).key,
                                     where=method_col, format_func=lambda k: by_key[k].label)]
    decode = ui.url_selectbox("Decoding", [m for m in METHODS if task != "delaunay" or m != "pomo"], "decode",
                              d("decode"), where=c[4], disabled=option.model is None, help=METHOD_HELP)
    rule = ui.url_selectbox("Output rule", list(HULL_RULES), "rule", d("hull_rule"), where=rule_col,
                            disabled=option.model is None, help=HULL_RULE_HELP) if task == "hull" else d("hull_rule")
    # TSP: the polish checkbox and the start control share the row under the method, so the start control
    # does not push the page down a row (a projector shows the step figure sooner)
    polish_col, start_col = c[3].columns([1.6, 1]) if task == "tsp" else (c[3], c[3])
    polish = ui.url_checkbox("Polish (2-opt + Or-opt)", "polish", d("polish"), where=polish_col,
                             help="TSP: improve the tour by local search; the method's own tour and gap stay "
                                  "shown, the polished length beside them") if task == "tsp" else False
    width = {}  # decoding settings (search width, distance prior), shown and adjustable where they apply
    if decode == "beam" and option.model:
        width["beam_width"] = int(ui.url_number("Beam width", "beam", d("beam_width"), min_value=1, max_value=64,
                                                where=c[4], help="candidates kept per step; the best is shown"))
    if decode == "sample" and option.model:
        width["num_samples"] = int(ui.url_number("Samples", "samples", d("num_samples"), min_value=1, max_value=512,
                                                 where=c[4], help="tours sampled (seeded by the sidebar seed)"))
    if task == "tsp" and option.model == "am":
        width["distance_prior"] = float(ui.url_number(
            "Distance prior", "prior", float(d("distance_prior")), min_value=0.0, max_value=100.0, step=1.0,
            where=c[4], help="Decoding-time, not trained: lower each node's pointer score by this x its distance "
            "from the last node (in the training size's point spacing). 0 = the network alone. Past the training "
            "size, 10 took am_tsp50's greedy gap at n = 500 from 33 to 24 % (README; the Generalisation tab's "
            "dashed lines)."))
        if decode != "pomo" and zoo.has_start_head(option.checkpoint):
            width["start"] = ui.url_selectbox(
                "Start", list(START_RULES), "start", d("start"), where=start_col, format_func=START_LABELS.get,
                help="Where the tour starts. start head: the node this model's start head scores best (fitted on "
                     "which start gives the shortest greedy tour); node 0: the first point. POMO starts from "
                     "every node.")
    config = SolveConfig(task=task, **option.fields(), decode=decode if option.model else d("decode"), hull_rule=rule,
                         reference=True, trace=True, n=int(n), seed=ui.current_seed(), device=ui.current_device(),
                         polish=polish, **width)
    return config, option, options, source


def size_note(option: MethodOption, options: list[MethodOption], task: str, n: int, prior: float = 0.0) -> None:
    """Warn when the model runs outside the sizes it was trained on, and name the lab's default for ``n``
    (and, past an attention model's training size without one, the distance prior)."""
    trained = zoo.trained_range(option.checkpoint) if option.kind in ("model", "trained") else None
    if not trained or trained[0] <= n <= trained[1]:
        return
    better = suited_model(options, task, n, option)
    st.warning(f"{option.short_label} was trained on n = {trained[0]}" +
               (f"-{trained[1]}" if trained[1] != trained[0] else "") + f"; n = {n} is outside: this shows how it "
               "generalises, not what it learned." +
               (f" At this size the lab's default (the CLI's too) is **{better.short_label}**: pick it under Method."
                if better else "") +
               (" A *Distance prior* of about 10 (under Decoding) keeps the tour local and measured shorter at "
                "100-500 nodes." if option.model == "am" and task == "tsp" and n > trained[1] and not prior else ""),
               icon=":material/warning:")


def file_instances(task: str, source: str) -> tuple[list, str]:
    """A sample file's or an upload's instances and content hash; ``[]`` for random ones (the config names them)."""
    if source == "sample":
        files = sorted(p.name for p in SAMPLES.glob("*") if p.suffix in (".tsp", ".csv", ".npz"))
        name = ui.url_selectbox("Sample file", files, "sample", files[0])
        data = (SAMPLES / name).read_bytes()
    elif (upload := st.file_uploader("A TSPLIB .tsp (EUC_2D, CEIL_2D, ATT, GEO), a .csv with x,y columns or an .npz "
                                     "with locs (B, n, 2)", type=["tsp", "csv", "npz"])) is None:
        return [], ""
    else:
        data, name = upload.getvalue(), upload.name
    try:
        return read_instances(data, name, task), content_hash(data)
    except LabInputError as err:
        ui.show_error(err)
        st.caption("Showing a random instance instead.")
        return [], ""


def solution_tab(res, option, data, data_key: str) -> None:
    r, config = res.instances[0], res.config
    task = config.task
    others = [m for m in METHODS if m != config.decode and (task != "delaunay" or m != "pomo")]
    other = ui.url_selectbox("Side by side with", ["reference", *others], "vs", "reference", disabled=not option.model,
                             help="the reference, or the same model with another decoding (a teacher's greedy "
                                  "vs POMO); red dashes: edges the right-hand side does not have")
    if other == "reference" or not option.model:
        fig = figures.comparison_figure(r.points, task, r.output, r.reference, (option.label, "reference"))
    else:
        b = ui.lab_result(LAB, "solve", config.replace(decode=other), data=data, data_key=data_key).instances[0]
        fig = figures.comparison_figure(r.points, task, r.output, b.output, tuple(
            f"{d}: {x.headline(task)[0][1]}" + (f" ({x.headline(task)[2][1]})" if task == "tsp" else "")
            for d, x in ((config.decode, r), (other, b))), right=f"the {other} output")
    ui.chart(fig, "pointer:compare", f"{r.name}_{task}")
    downloads = list(r.downloads(task).items())  # one button per column, no empty slots whatever the task
    cols = st.columns(len(downloads) + 2)
    for col, (label, (text, file_name)) in zip(cols, downloads, strict=False):
        col.download_button(label, text, file_name)
    ui.figure_html_download(fig, "Figure (HTML)", f"{r.name}_{task}.html", where=cols[-2])
    cols[-1].download_button("Metrics (CSV)", rows_csv(res.rows()), f"{r.name}_metrics.csv")
    st.caption(ui.PNG_HINT)
    if option.kind in ("model", "trained"):
        with st.expander("Model card: how this checkpoint was trained, and what it measured", icon=":material/badge:"):
            st.json(zoo.read_card(option.checkpoint), expanded=1)


def step_tab(r, task: str) -> None:
    if r.attention is None or len(r.attention) == 0:
        st.info("Stepping through needs a pointer model: pick a shipped checkpoint or *Ptr-Net, untrained*.",
                icon=":material/info:")
        return
    steps = len(r.attention)
    playing = st.toggle("▶ Play the steps", key="pointer:play", disabled=steps < 2)

    @st.fragment(run_every=0.9 if playing else None)  # one step state: the slider; Play moves it
    def view() -> None:
        key = ui.widget_key("step")
        if playing:  # before the slider exists in this run, so the slider itself shows the new step
            st.session_state[key] = int(st.session_state.get(key, 1)) % steps + 1
        step = min(int(ui.url_slider("Decoding step", "step", 1, 1, max(2, steps), disabled=steps < 2,
                                     help="the pointer's distribution over all points at this step")), steps) - 1
        st.markdown(f"**{figures.step_title(task, r.sequence, r.attention, step)}** — marker size and colour are "
                    "the probability the pointer gives each point; the red ring is the point it chose, the square "
                    "the start, arrows the direction.")
        fig = figures.pointer_step_figure(r.points, task, r.sequence, r.attention, step)
        ui.chart(fig, "pointer:step", f"{r.name}_step{step + 1}")
        if steps * len(r.points) <= 60_000:  # every step in one heatmap, the current one marked
            st.plotly_chart(figures.attention_heatmap(r.attention, r.sequence, step), key="pointer:heat")
        ui.figure_html_download(fig, "Step figure (HTML)", f"{r.name}_step{step + 1}.html")

    view()


def generalisation_tab(config: SolveConfig, option, options) -> None:
    rows, about = benchmark_rows(config.task)
    ranges = {o.key[4:]: r for o in options if o.kind == "model" and (r := zoo.trained_range(o.checkpoint))}
    real = tsplib_rows() if config.task == "tsp" else []  # real instances beside the random ones
    for m in METRICS[config.task] if rows else ():
        st.plotly_chart(figures.generalisation_figure(rows, m, ranges, title=f"{m} vs n (greedy)", real=real),
                        key=f"gen:{m}")
    st.caption(f"Measured by `python benchmarks/pointer.py`, {about['num_per_n']} seeded instances per n; last updated "
               f"by `{about['command']}` on {about['date_utc']} UTC (a run with `--models` keeps the other models' "
               "curves)." if rows else "No generalisation measurement for this task yet: run `python "
               "benchmarks/pointer.py` (it needs shipped checkpoints), or measure the selected model below.")
    if real:
        st.caption("Diamonds: the same models on TSPLIB's real instances (51-318 nodes), gap to the published "
                   "optimum, measured by `python benchmarks/pointer_tsplib.py` (see the README's table).")
    if any(r.get("distance_prior") for r in rows):
        st.caption("Dashed: the attention models decoded with the *distance prior* (the Decoding column's "
                   "control), a decoding-time nudge toward near nodes; solid lines are the networks alone.")
    if option.model is None:
        return
    # the benchmark's quick sizes, and the page's own n where the grid reaches it
    sizes = sorted({*GRIDS[config.task][:4], *([config.n] if config.n <= GRIDS[config.task][-1] else [])})
    live = GeneraliseConfig(task=config.task, model=option.model, checkpoint=option.checkpoint, seed=config.seed,
                            hull_rule=config.hull_rule, device=config.device, distance_prior=config.distance_prior,
                            sizes=tuple(sizes))
    key = config_key(live, zoo.stamp(option.checkpoint))
    prior = f", distance prior {live.distance_prior:g}" if live.distance_prior else ""
    if st.button(f"Measure the selected model now ({live.num} instances per n{prior})"):
        st.session_state["pointer:gen"] = key
    if st.session_state.get("pointer:gen") == key:
        with st.spinner(f"Measuring {option.label} at n = {', '.join(map(str, live.sizes))} ..."):
            found = ui.lab_result(LAB, "generalise", live, data_key=zoo.stamp(option.checkpoint))
        metric = METRICS[config.task][0]
        st.plotly_chart(figures.generalisation_figure(found.rows, metric,
                                                      title=f"{metric} vs n, measured now: {found.label}{prior}"),
                        key="gen:live")


def batch_tab(config: SolveConfig, instances: list, data_key: str) -> None:
    c = st.columns([1, 1, 3])
    size = ui.url_number("Batch size", "batch", 32, min_value=2, max_value=500, step=1, where=c[0])
    c[2].caption("The batch is the file's instances." if len(instances) > 1 else
                 f"{size} random instances of n = {config.n} (seed {config.seed + 1}).")
    if c[1].button("Run batch", type="primary"):
        st.session_state["pointer:batch_on"] = True
    if not st.session_state.get("pointer:batch_on"):
        return
    batch = config if len(instances) > 1 else config.replace(num=int(size), seed=config.seed + 1)
    res = ui.lab_result(LAB, "solve", batch, data=instances if len(instances) > 1 else None, data_key=data_key)
    st.caption(res.summary())
    if config.task == "tsp":
        st.plotly_chart(figures.gap_histogram([x.gap for x in res.instances]), key="pointer:hist")
    event = st.dataframe(res.rows(), on_select="rerun", selection_mode="single-row", key="pointer:table",
                         hide_index=True)
    st.download_button("Metrics (CSV)", rows_csv(res.rows()), f"batch_{config.task}_metrics.csv")
    for i in event.selection.rows if event is not None else []:
        sel = res.instances[i]
        st.plotly_chart(figures.comparison_figure(sel.points, config.task, sel.output, sel.reference,
                                                  (f"{res.method}: instance {i}", "reference")), key="pointer:pick")
        if sel.attention is not None:
            st.plotly_chart(figures.attention_heatmap(sel.attention, sel.sequence), key="pointer:pickheat")


def train_tab(task: str, seed: int, device: str, options: list[MethodOption]) -> None:
    st.markdown("Train a pointer model here; it runs in the background (live curves, stoppable), is saved to "
                "the Runs page and becomes selectable in **Method**.")
    t, d = st.columns(4) + st.columns(4), TrainConfig.default
    kind = t[0].selectbox("Model", ["ptrnet", "am"] if task == "tsp" else ["ptrnet"],
                          format_func={"ptrnet": "Ptr-Net (LSTM)", "am": "attention model"}.get)
    n_min, n_max = t[1].slider("n range", 3, 100, (d("n_min"), d("n_max")))
    values = dict(hidden=t[2].select_slider("Hidden size", [32, 64, 128, 256], value=d("hidden")),
                  steps=t[3].number_input("Steps", 10, 100_000, d("steps"), step=50),
                  batch_size=t[4].number_input("Batch size", 8, 1024, d("batch_size"), step=8),
                  lr=t[5].select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3], value=d("lr")),
                  pomo_steps=t[6].number_input("POMO steps", 0, 100_000, d("pomo_steps"), step=50, disabled=kind != "am",
                                               help="attention model: REINFORCE with the POMO shared baseline after "
                                                    "the imitation steps; the tour-length curve shows it learn"))
    try:
        config = TrainConfig(task=task, model=kind, n_min=n_min, n_max=n_max, seed=seed, device=device,
                             **{**values, "pomo_steps": values["pomo_steps"] if kind == "am" else 0})
    except LabInputError as err:
        ui.show_error(err)
        config = None
    job = ui.job_panel(LAB, "train", config, start_label="Train", panel="train")
    if job is not None and job.run_id and job.output is not None:
        if job.run_id not in st.session_state.setdefault(TRAINED, []):
            st.session_state[TRAINED].append(job.run_id)
            st.rerun()  # its checkpoint is a Method now
        st.plotly_chart(figures.curves_figure(job.output.result.curves), key="pointer:curves")
    if task == "tsp":
        start_head_panel(options, seed, device)


def start_head_panel(options: list[MethodOption], seed: int, device: str) -> None:
    """Fit a start head to an attention model (shipped or trained here); the result becomes a Method."""
    st.markdown("**Start head.** A greedy rollout starts at node 0, yet where it starts changes where it goes "
                "wrong. Fit a small head that scores each node as a start (the policy is not changed); "
                "the model with its head becomes a Method, with a *Start* control beside *Polish*.")
    sources = [o for o in options if o.model == "am" and o.kind in ("model", "trained")]
    if not sources:
        st.caption("Train an attention model above first.")
        return
    c, d = st.columns(4), FitStartConfig.default
    source = c[0].selectbox("Attention model", sources, format_func=lambda o: o.short_label, key="pointer:fit:src")
    instances = c[1].number_input("Instances", 100, 64_000, d("instances"), step=500, key="pointer:fit:num",
                                  help="random instances of the model's training size, each rolled out from every "
                                       "start (4,000 take about a minute at n = 50; the shipped heads used 64,000)")
    epochs = c[2].number_input("Epochs", 1, 100, d("epochs"), key="pointer:fit:epochs")
    if zoo.has_start_head(source.checkpoint):
        c[3].caption(f"{source.short_label} has a start head already; a fit makes a copy with a new one.")
    try:
        config = FitStartConfig(checkpoint=str(source.checkpoint), instances=int(instances), epochs=int(epochs),
                                seed=seed, device=device)
    except LabInputError as err:
        ui.show_error(err)
        config = None
    job = ui.job_panel(LAB, "fit-start", config, start_label="Fit start head", panel="fit_start",
                       name=f"start head for {source.short_label}")
    if job is not None and job.run_id and job.output is not None:
        if job.run_id not in st.session_state.setdefault(TRAINED, []):
            st.session_state[TRAINED].append(job.run_id)
            st.rerun()  # its checkpoint is a Method now
        m, done = job.output.metrics, job.output.result.config
        fitted = f"{m['train_instances']:,} instances" + (" (stopped early)" if job.status == "stopped" else "")
        st.markdown(f"Fitted on {fitted}. On {done.val_instances} validation instances of "
                    f"{m['n']} points, the greedy tour from the head's start is **{m['excess_head_pct']:.2f} %** "
                    f"longer than from the best of the {m['n']} starts; from node 0, {m['excess_node0_pct']:.2f} %; "
                    f"from the average start, {m['excess_mean_start_pct']:.2f} %.")


def page() -> None:
    ui.lab_header(LAB)
    config, option, options, source = controls()
    instances, digest = file_instances(config.task, source) if source != "random" else ([], "")
    which = int(ui.url_number(f"Instance (0-{len(instances) - 1})", "i", 0, min_value=0, max_value=len(instances) - 1,
                              step=1)) if len(instances) > 1 else 0
    # A file's instance: its own size decides; otherwise (random, or no upload yet) the n control's instance.
    size_note(option, options, config.task, instances[which].n if instances else config.n, config.distance_prior)
    if source == "upload" and not digest:
        st.info("Choose a file; until then a random instance is shown.", icon=":material/upload_file:")
    if option.kind in ("solver", "exact") and default_method(options, config.task, config.n).key == option.key:
        st.info(f"No trained pointer checkpoint for {TASK_LABELS[config.task]} ships yet, so this shows the classical "
                "method; pick *Ptr-Net, untrained* to watch the mechanism, or train one in the **Train** tab.",
                icon=":material/info:")
    data_key = f"{digest}|{zoo.stamp(config.checkpoint)}"  # a re-saved checkpoint gets new results
    try:
        one = [instances[which]] if instances else None
        res = ui.lab_result(LAB, "solve", config, data=one, data_key=f"{data_key}|{which}")
    except LabInputError as err:
        ui.show_error(err)
        return
    headline = res.instances[0].headline(config.task)
    for col, (label, value, hint) in zip(st.columns(len(headline)), headline, strict=True):
        col.metric(label, value, help=hint)
    # Bound to the URL (a copied link opens the same tab); a tab's work runs only while it is open, but Train
    # always draws, so a model that finishes while another tab is open still becomes a Method.
    tabs = ui.url_tabs(["Solution", "Step through the pointer", "Generalisation", "Batch", "Sweep", "Train"])
    sweep_fields = {"decode": "greedy,pomo" if config.task != "delaunay" else "greedy,beam", "n": "10,20,50", "num": "16"}
    for tab, draw in zip(tabs, (lambda: solution_tab(res, option, one, f"{data_key}|{which}"), lambda: step_tab(res.instances[0], config.task),
                                lambda: generalisation_tab(config, option, options),
                                lambda: batch_tab(config, instances, data_key),
                                lambda: ui.sweep_panel(LAB, "solve", config.replace(trace=False), sweep_fields,
                                                       metrics=("mean_gap", "accuracy", "area_coverage")),
                                lambda: train_tab(config.task, config.seed, config.device, options)), strict=True):
        if tab.open or tab is tabs[-1]:
            with tab:
                draw()


page()
