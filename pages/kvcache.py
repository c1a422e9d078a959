"""KV-cache physics: widgets -> CompressConfig -> ``ui.lab_result`` (small sweeps at once, larger ones as a
background job) -> the cliff picture; one prompt under the microscope (a probe prefilled once, each press and
ratio replayed on it, cached) -> token map, attention before/after, A/B, attention flow."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.kvcache import figures, views
from lab.kvcache.presses import DEFAULT_PRESSES, PRESS_NAMES, PRESSES
from lab.kvcache.sweep import TASK_NAMES, CompressConfig
from lab.kvcache.train import TrainConfig

LAB = "kvcache"
#: The page's ratio grid (the CLI takes any); dense near the cliff.
RATIOS = (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
#: Sweeps of at most this many (press, ratio, sample) readings are computed on the page; larger ones run as a job.
QUICK = 2600
TASK_LABELS = {"multi_entity": "multi-entity tracking", "disambiguation": "disambiguation",
               "coreference": "coreference", "multi_hop": "multi-hop"}


# -- cached adapters: one model per source, one probe per prompt, one view per (press, ratio) ----------------
@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def loaded_model(source: str, device: str):
    from lab.kvcache.sweep import load

    return load(source, device)


@st.cache_resource(show_spinner=False, max_entries=16)
def probe(source: str, device: str, task: str, index: int, seed: int, question_aware: bool):
    from lab.kvcache.probe import Probe

    lm = loaded_model(source, device)
    batch = views.prompt(task, index, seed, lm.codec)
    return Probe(lm.model, batch, 0, codec=lm.codec, question_aware=question_aware, seed=seed), batch


@st.cache_resource(show_spinner=False, max_entries=512)
def probe_view(key: tuple, press: str, ratio: float):
    return probe(*key)[0].view(press, ratio)


@st.cache_resource(show_spinner="Rolling attention back from the answer ...", max_entries=64)
def flow_result(key: tuple, press: str, ratio: float):
    from lab.kvcache.flow import flow

    source, device, task, index, seed, question_aware = key
    batch = probe(*key)[1]
    return flow(loaded_model(source, device).model, batch, press, ratio, question_aware=question_aware, seed=seed)


def url_presses(label: str, key: str, default: tuple[str, ...], where) -> list[str]:
    """One checkbox per press, bound together to the URL parameter ``key`` (comma-separated names)."""
    raw = st.query_params.get(key)
    chosen = [p for p in (raw or "").split(",") if p in PRESSES] if raw is not None else list(default)
    where.markdown(f"**{label}**")
    value = []
    for press in PRESS_NAMES:
        wkey = ui.widget_key(f"press_{press}")
        if wkey not in st.session_state:
            st.session_state[wkey] = press in chosen
        if where.checkbox(figures.press_label(press), value=st.session_state[wkey], key=wkey):
            value.append(press)
    text = ",".join(value)
    if st.query_params.get(key) != text:
        st.query_params[key] = text
    return value


# -- controls ------------------------------------------------------------------------------------------------
def choose_model() -> tuple[str, str, bool, str]:
    """(the model's source, task, question-aware, the model's choice): the controls every tab shares."""
    choices = views.model_choices()
    names = {"shipped": "shipped checkpoint", "random": "untrained (random weights)"}
    c = st.columns([2, 2, 1.2])
    task = ui.url_selectbox("Task", list(TASK_NAMES), "task", "multi_entity", where=c[0], format_func=TASK_LABELS.get,
                            help="multi-entity: who holds an object after transfers; disambiguation: the value of "
                                 "the one record matching both names; coreference: whom a pronoun names; multi-hop: "
                                 "the end of a chain a -> 12 -> 27, answered in two tokens, the middle the model "
                                 "writes first, then the end (each read against the compressed cache)")
    model = ui.url_selectbox("Model", list(choices), "model", next(iter(choices)), where=c[1],
                             format_func=lambda m: names.get(m, f"trained here ({m[4:]})"),
                             help="shipped: assets/checkpoints/kvcache (scripts/train_kvcache.py); trained here: the "
                                  "Train tab's runs; a .pt or Hugging Face directory: dynlab kv sweep --model PATH")
    with c[2]:
        st.write("")  # aligns the toggle with the inputs beside it
        qa = ui.url_checkbox("Question-aware", "qa", False, help="compress the context and the question (the press "
                             "sees the question); off: the context is compressed before the question is known")
    if model == "random":
        st.caption(":material/info: " + ("No shipped checkpoint yet: " if "shipped" not in choices else "")
                   + "an untrained model answers at chance, but what each press keeps is real (train one: **Train**).")
    return choices[model], task, qa, model


def choose_prompt(source: str, task: str, qa: bool, pick: dict[str, tuple[str, str]],
                  presses=PRESS_NAMES) -> tuple[tuple, float, list[str]]:
    """The microscope's controls, the same URL keys in every tab that shows a prompt: (probe key, ratio, presses).

    ``pick`` maps a press control's URL key to (label, default).
    """
    c = st.columns([2] * len(pick) + [4, 1.2])
    chosen = [ui.url_selectbox(label, list(presses), k, default, where=c[i], format_func=figures.press_label)
              for i, (k, (label, default)) in enumerate(pick.items())]
    ratio = float(ui.url_slider("Compression ratio", "ratio", 0.8, 0.0, 0.95, step=0.05, where=c[-2],
                                help="fraction of each head's cache evicted"))
    index = int(ui.url_number("Prompt #", "prompt", 0, min_value=0, max_value=999, where=c[-1],
                              help="which prompt of the task's stream (the seed is the sidebar's)"))
    return (source, ui.current_device(), task, index, ui.current_seed(), qa), ratio, chosen


# -- tabs ----------------------------------------------------------------------------------------------------
def microscope_ratio() -> float | None:
    """The microscope's ratio (its slider's, or the link's), drawn on the cliff figure; None before there is one."""
    value = st.session_state.get(ui.widget_key("ratio"), st.query_params.get("ratio"))
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


def cliff_tab(source: str, task: str, qa: bool) -> None:
    fig_col, side = st.columns([4, 1.25])
    presses = url_presses("Presses", "presses", DEFAULT_PRESSES, where=side)
    num = int(ui.url_number("Prompts per point", "num", 32, min_value=1, max_value=2000, step=8, where=side,
                            help="the benchmark uses 200"))
    if not presses:
        fig_col.info("Choose at least one press.", icon=":material/tune:")
        return
    config = CompressConfig(task=task, presses=tuple(presses), ratios=RATIOS, num=num, question_aware=qa, model=source,
                            seed=ui.current_seed(), device=ui.current_device())
    readings = len(config.presses) * len(config.ratios) * config.num
    quick = readings <= QUICK
    fig_slot = fig_col.container()  # the figure above, the job panel under it: it needs the job first
    with fig_col.expander("Run as a background job (progress, Stop, saved to Runs)", icon=":material/play_circle:",
                          expanded=not quick):
        job = ui.job_panel(LAB, "compress", config, name=f"KV sweep on {config.task}", start_label="Run sweep",
                           curve_keys=["accuracy", "hallucination_rate", "ger"], panel="sweep")
    with fig_slot:
        result = ui.lab_result(LAB, "compress", config, job=job, compute=quick)
    if result is None:
        fig_slot.info(f"{readings:,} readings ({len(config.presses)} presses x {len(config.ratios)} ratios x "
                      f"{config.num} prompts): press **Run sweep** below (sweeps of at most {QUICK:,} are computed "
                      "here at once).", icon=":material/hourglass:")
        return
    base = result.uncompressed["accuracy"]
    r = result.ger_hallucination_r()
    meaningful = result.cliffs_meaningful()
    if not meaningful:
        fig_slot.warning(f"This model answers {TASK_LABELS.get(task, task)} at {base:.2f} uncompressed, and guessing "
                         f"among the candidates gets {result.chance():.2f}: it has not learned the task, so these "
                         "curves show guessing and the cliffs mark noise. Choose a task it answers (the README lists "
                         "the shipped model's accuracy per task) or train one in **Train**.", icon=":material/warning:")
    elif base < 0.9:
        chance = "" if result.chance() is None else f"chance {result.chance():.2f}; "
        fig_slot.info(f"This model answers {TASK_LABELS.get(task, task)} at {base:.2f} uncompressed ({chance}a model "
                      "that has learned the task answers >= 0.98): the curves show how compression degrades a partial "
                      "skill.", icon=":material/info:")
    side.markdown(f"**Cliffs** (accuracy < {base / 2:.2f}, half of uncompressed"
                  + ("" if meaningful else "; noise here, see the warning") + "):  \n" + "  \n".join(
        f"{figures.press_label(p)}: {'none' if c is None else f'{c:.2f}'}" for p, c in result.cliffs().items())
        + f"  \nGER vs hallucination: r = {'n/a' if r is None else f'{r:.2f}'}"
        + ("  \n*stopped early*" if result.stopped else ""))
    fig = figures.sweep_figure(result, microscope_ratio())
    ui.chart(fig, "kv:sweep", f"kv_sweep_{config.task}", where=fig_slot)
    side.download_button("sweep.csv", result.table_csv(), file_name=f"kv_sweep_{config.task}.csv", mime="text/csv",
                         icon=":material/download:", on_click="ignore")
    side.download_button("sweep.json", json.dumps(result.to_json(), indent=1),
                         file_name=f"kv_sweep_{config.task}.json", mime="application/json",
                         icon=":material/download:", on_click="ignore")
    ui.figure_html_download(fig, "figure.html", f"kv_sweep_{config.task}.html", where=side)
    fig_slot.caption(f"{result.model}, {result.layers} layers x {result.heads} heads, {result.context_len}-token "
                    f"contexts, {config.num} prompts per point; {result.seconds:.1f} s. {ui.PNG_HINT}")


def prompt_line(key: tuple, view) -> None:
    batch = probe(*key)[1]
    words = batch.words[0]
    lc = int(batch.context.shape[1])
    relevant = [f"#{p} {words[p]}" for p in np.flatnonzero(view.relevant)]
    gone = ", ".join(f"L{i + 1} {int(g)}/{len(relevant)}" for i, g in enumerate(view.evicted_relevant))
    chain = f" via {' '.join(view.written)}" if view.written else ""
    st.markdown(f"**Prompt #{key[3]}** *{' '.join(words[lc:])}* answer **{view.answer}**{chain} (relevant: "
                f"{', '.join(relevant)}; evicted from every head: {gone}). {views.verdict(view)}")


def microscope_tab(source: str, task: str, qa: bool) -> None:
    key, ratio, (press,) = choose_prompt(source, task, qa, {"press": ("Press", "snapkv")})
    view = probe_view(key, press, ratio)
    fig = figures.token_map_figure(view)
    ui.chart(fig, "kv:tokens", f"kv_token_map_{press}_{ratio:.2f}")
    prompt_line(key, view)
    ui.chart(figures.attention_figure({figures.press_label(press): view}), "kv:attention", "kv_attention")
    d = st.columns([1, 1, 4])
    d[0].download_button("tokens.csv", views.probe_csv(view), file_name=f"kv_prompt{key[3]}_{press}_{ratio:.2f}.csv",
                         mime="text/csv", icon=":material/download:", on_click="ignore")
    ui.figure_html_download(fig, "map.html", f"kv_token_map_{press}.html", where=d[1])
    d[2].caption(ui.PNG_HINT)


def ab_tab(source: str, task: str, qa: bool) -> None:
    key, ratio, (a, b) = choose_prompt(source, task, qa, {"a": ("Press A", "snapkv"), "b": ("Press B", "streaming_llm")})
    va, vb = probe_view(key, a, ratio), probe_view(key, b, ratio)
    c = st.columns(2)
    c[0].markdown(f"**A** {views.verdict(va)}; relevant tokens evicted from every head of a layer: "
                  f"{int(va.evicted_relevant.sum())}")
    c[1].markdown(f"**B** {views.verdict(vb)}; relevant tokens evicted from every head of a layer: "
                  f"{int(vb.evicted_relevant.sum())}")
    fig = figures.ab_figure(va, vb)
    ui.chart(fig, "kv:ab", f"kv_ab_{a}_{b}")
    ui.chart(figures.attention_figure({f"A {figures.press_label(a)}": va, f"B {figures.press_label(b)}": vb}),
             "kv:ab_attention", "kv_ab_attention")


def flow_tab(source: str, task: str, qa: bool) -> None:
    scorers = [p for p in PRESS_NAMES if PRESSES[p].scorer]
    key, ratio, (press,) = choose_prompt(source, task, qa, {"flow_press": ("Press (scorers)", "snapkv")}, scorers)
    st.caption("Rollout (Abnar & Zuidema 2020): each layer's head-averaged attention plus the residual, pushed "
               "back from the answer (right) to the input (left). **Dropped**: evicted tokens are gone; "
               "**merged** (Meta-Soft): each evicted value is folded into its most similar kept key's value.")
    res = flow_result(key, press, ratio)
    batch = probe(*key)[1]
    relevant = batch.relevant[0].numpy().astype(bool)
    codec = probe(*key)[0].codec
    st.dataframe(views.flow_rows(res, batch, codec, figures.FLOW_NAMES), hide_index=True)
    st.caption(f"Merging dilutes the hosts: {100 * res.summary()['merge']['host_share']:.0f} % of a kept token's "
               "value is still its own (attention-weighted). Evicted: no head of any layer keeps the token (grey "
               "labels).")
    mats = {v: m[0].numpy() for v, m in res.layers.items()}
    tokens = np.array(sorted(set().union(*(views.flow_tokens(m, relevant, top=8).tolist() for m in mats.values()))))
    graphs = {v: views.flow_graph(m, tokens) for v, m in mats.items()}
    words = views.flow_words(res, batch, codec)
    fig = figures.flow_figure(graphs, words, relevant, res.gone[0].numpy().astype(bool))
    ui.chart(fig, "kv:flow", f"kv_flow_{press}")
    ui.figure_html_download(fig, "flow graph (HTML)", f"kv_flow_{press}.html")


def train_tab() -> None:
    d = TrainConfig.default
    c = st.columns([1, 1, 1, 3])
    steps = int(ui.url_number("Steps", "t_steps", 600, min_value=1, max_value=20000, step=100, where=c[0]))
    layers = int(ui.url_number("Layers", "t_layers", d("layers"), min_value=1, max_value=8, where=c[1]))
    hidden = int(ui.url_selectbox("Hidden size", [32, 64, 128, 256], "t_hidden", d("hidden"), where=c[2]))
    c[3].caption("Trains the lab's Llama on the four tasks as a background job (dense answers, a curriculum); the "
                 "checkpoint is saved with the run and offered in **Model** above. A `.pt` file or a Hugging Face "
                 "model directory: `dynlab kv sweep --model PATH` on the command line.")
    try:
        config = TrainConfig(steps=steps, layers=layers, hidden=hidden, eval_num=100, seed=ui.current_seed(),
                             device=ui.current_device())
    except LabInputError as err:
        ui.show_error(err)
        return
    job = ui.job_panel(LAB, "train", config, name="train the KV Llama", start_label="Train",
                       curve_keys=["loss", "train_accuracy"], panel="train")
    result = ui.lab_result(LAB, "train", config, job=job, compute=False)
    if result is not None:
        st.dataframe([result.scores], hide_index=True)


def page() -> None:
    ui.lab_header(LAB)
    try:
        source, task, qa, _ = choose_model()
    except LabInputError as err:
        ui.show_error(err)
        return
    tabs = ui.url_tabs(["Cliff", "Microscope", "A/B", "Attention flow", "Train"])
    for tab, draw in zip(tabs, (cliff_tab, microscope_tab, ab_tab, flow_tab, None), strict=True):
        if tab.open:
            with tab:
                try:
                    if draw is None:
                        train_tab()
                    else:
                        draw(source, task, qa)
                except LabInputError as err:
                    ui.show_error(err)


page()
