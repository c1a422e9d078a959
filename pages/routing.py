"""Routing & early exits: widgets -> ExitsConfig -> ``ui.lab_result`` (the shipped model at once, or a finished
training job on the same config and data) -> an operating point from the threshold slider -> every figure.

Token routing: widgets -> MoEConfig -> a background training job (``moe``; short runs are also computed on the
page) -> the token -> expert map, expert load over training, routing entropy, kinds per expert, a sweep. Small / big /
skip routes: widgets -> RoutesConfig -> a background job (``routes``) -> a budget slider over the result's curves ->
route map, difficulty over the text, one token's routes and router probabilities, loss vs compute."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import ui
from lab.core.errors import LabInputError
from lab.core.verbs import content_hash
from lab.routing import figures, moe_figures, robustness_figures, routes_figures
from lab.routing.data import load_dataset
from lab.routing.exits import ExitsConfig, ExitsResult
from lab.routing.moe import MoEConfig, MoEResult
from lab.routing.policies import POLICIES, make_policy
from lab.routing.robustness import ATTACKS, RobustConfig
from lab.routing.routes import BUDGETS, RoutesConfig, RoutesResult

LAB = "routing"


def choose_config() -> tuple[ExitsConfig, bytes | None, str] | None:
    """(config, uploaded CSV bytes or None, their content hash); None while an upload is awaited."""
    d = ExitsConfig.default
    c = st.columns([2, 2, 3])
    source = ui.url_radio("Data", ["digits", "upload"], "data", "digits", where=c[0], horizontal=True,
                          format_func={"digits": "digits (8x8, bundled)", "upload": "your CSV"}.get)
    model = ui.url_radio("Model", ["shipped", "train"], "model", "shipped", where=c[1], horizontal=True,
                         format_func={"shipped": "shipped checkpoint", "train": "train here"}.get)
    steps = int(ui.url_number("Training steps", "steps", d("steps"), min_value=10, max_value=20000, step=100,
                              where=c[2], help="used when a model is trained here (a background job)"))
    fields = {"checkpoint": model, "steps": steps, "seed": ui.current_seed(), "device": ui.current_device()}
    if source == "digits":
        return ExitsConfig(dataset="digits", **fields), None, ""
    upload = st.file_uploader("CSV: numeric feature columns and a label column (label, target, class or y)",
                              type=["csv"])
    if upload is None:
        st.info("Choose a CSV file, or switch back to the digits.", icon=":material/upload:")
        return None
    raw = upload.getvalue()
    ds = load_dataset(upload.name, raw)  # read now: a bad file is one sentence before any training
    st.caption(f"{upload.name}: {len(ds.y_train) + len(ds.y_test)} rows, {ds.input_shape[0]} features, "
               f"{ds.n_classes} classes ({len(ds.y_test)} held out for the curves).")
    return ExitsConfig(dataset=upload.name, **{**fields, "checkpoint": "train"}), raw, content_hash(raw)


def choose_threshold(result: ExitsResult) -> tuple[str, float]:
    c = st.columns([1, 3])
    policy = ui.url_selectbox("Exit policy", list(POLICIES), "policy", "max_prob", where=c[0],
                              format_func=lambda n: POLICIES[n].label)
    pol = make_policy(policy)
    if policy == "patience":
        t = ui.url_slider("Patience t (agreeing exits)", "patience", 2, 1, result.n_exits, where=c[1])
    elif policy == "oracle":
        c[1].caption("The oracle reads the labels: one operating point, the upper bound.")
        t = 0.0
    else:
        t = ui.url_slider(f"Threshold t ({pol.threshold_label})", "t", 0.9, 0.0, 1.0, step=0.005, format="%.3f",
                          where=c[1])
    return policy, float(t)


VIEWS = {"compute": "operating point: compute, exits taken, calibration", "exits": "each exit alone",
         "robustness": "robustness: adversarial inputs (FGSM / PGD)"}


def early_exits(result: ExitsResult, config: ExitsConfig, data: bytes | None, data_key: str) -> None:
    policy, t = choose_threshold(result)
    op = result.operating_point(policy, t)
    m = st.columns(5)
    m[0].metric("Accuracy at t", f"{100 * op.accuracy:.2f} %",
                f"{100 * (op.accuracy - result.last_exit_accuracy):+.2f} pt vs last exit")
    m[1].metric("Speed-up (MACs)", f"{op.speedup:.2f}x")
    m[2].metric("ECE at t", f"{op.ece:.4f}")
    m[3].metric("Last exit accuracy", f"{100 * result.last_exit_accuracy:.2f} %")
    m[4].metric("Best at <= 1 pt", f"{result.policies[policy].speedup_at_1pt:.2f}x"
                if policy in result.policies else "-",
                help=f"{POLICIES[policy].label}: the largest MAC speed-up on its curve within one point of the last exit")
    st.markdown(f"**Operating point** t = {t:g}: accuracy {100 * op.accuracy:.2f} %, "
                f"{op.mean_macs:,.0f} MACs per input on average ({op.speedup:.2f}x fewer than the static network's "
                f"{result.costs.baseline:,}); exits taken: {op.histogram(result.n_exits)}.")
    st.caption(f"Model: {result.source}. Dataset {result.dataset.name}: {len(result.outputs.labels)} held-out inputs.")
    # Views, drawn one at a time: a first view of four figures instead of five (plus the robustness ones)
    view = ui.url_radio("View", list(VIEWS), "view", "compute", horizontal=True, format_func=VIEWS.get)
    if view == "robustness":
        robustness(config, data, data_key, policy, t)
        return
    if view == "exits":
        ui.chart(figures.exit_accuracy_figure(result), "routing:exits", "routing_exit_accuracy")
        return
    pareto = figures.pareto_figure(result, op)
    ui.chart(pareto, "routing:pareto", "routing_pareto")
    cols = st.columns(2)
    ui.chart(figures.exit_histogram(result, op), "routing:hist", "routing_exit_histogram", where=cols[0])
    ui.chart(figures.reliability_figure(result, op), "routing:reliability", "routing_reliability", where=cols[1])
    ui.chart(figures.gallery_figure(result, op), "routing:gallery", "routing_gallery")
    d = st.columns(3)
    d[0].download_button("curves.csv", result.curves_csv(), file_name="routing_curves.csv", mime="text/csv",
                         icon=":material/download:", on_click="ignore")
    ui.figure_html_download(pareto, "Pareto figure (HTML)", "routing_pareto.html", where=d[1])


def choose_attack(config: ExitsConfig) -> RobustConfig:
    c = st.columns([2, 1, 3])
    attack = ui.url_radio("Attack", list(ATTACKS), "attack", "pgd", where=c[0], horizontal=True,
                          format_func={"fgsm": "FGSM (one step)", "pgd": "PGD (projected steps)"}.get)
    steps = int(ui.url_number("PGD steps", "pgd_steps", RobustConfig.default("pgd_steps"), min_value=1, max_value=50,
                              where=c[1], disabled=attack == "fgsm"))
    c[2].caption("Both attacks, side by side: **accuracy** raises the last exit's loss (the usual attack); "
                 "**slowdown** (DeepSloth, Hong et al. 2021) pushes the early exits toward uniform and the gates "
                 "toward going on, so inputs exit later: the compute the exits saved is lost.")
    return RobustConfig(dataset=config.dataset, checkpoint=config.checkpoint, attack=attack, pgd_steps=steps,
                        steps=config.steps, width=config.width, blocks=config.blocks, pool=config.pool,
                        gate_cost=config.gate_cost, gate_holdout=config.gate_holdout, seed=config.seed,
                        device=config.device)


def robustness(config: ExitsConfig, data: bytes | None, data_key: str, policy: str, t: float) -> None:
    """The robustness view: the chosen policy and threshold under FGSM / PGD, an epsilon slider moves the view."""
    rconfig = choose_attack(config)
    trains = config.checkpoint == "train"
    job = None
    if trains:
        job = ui.job_panel(LAB, "robust", rconfig, data=data, data_key=data_key, start_label="Train and attack",
                           name=f"attacks on early exits ({config.dataset})", curve_keys=["loss"], panel="robust")
    r = ui.lab_result(LAB, "robust", rconfig, data=data, data_key=data_key, job=job, compute=not trains)
    if r is None:
        st.info("Press **Train and attack**: the model is trained here with the same seed, then attacked.",
                icon=":material/hourglass:")
        return
    eps = r.epsilons
    value = ui.url_slider(f"Epsilon: the most any input value may change (L-inf), in {r.scale.units}", "eps",
                          eps[len(eps) // 2], eps[0], eps[-1], step=eps[1] - eps[0])
    i = int(np.argmin(np.abs(np.array(eps) - value)))
    if r.scale.lo is not None:
        st.caption(f"Digits' pixels are {r.scale.lo:g}..{r.scale.hi:g} grey levels; the model sees them standardised. "
                   f"Epsilon {eps[i]:g} is {eps[i] / (r.scale.hi - r.scale.lo):.0%} of the range; perturbed pixels "
                   "are clipped back into it. PGD: steps of 2.5 epsilon / steps from the clean input.")
    clean = r.point(None, 0, policy, t)
    m = st.columns(len(r.adversarial) + 1)
    m[0].metric("Clean", f"{100 * clean.accuracy:.1f} %", f"mean exit {clean.exit_index.mean():.2f}",
                delta_color="off", delta_arrow="off")
    for j, obj in enumerate(r.adversarial, start=1):
        if i < len(r.adversarial[obj]):
            p = r.point(obj, i, policy, t)
            m[j].metric(f"{obj.capitalize()} attack", f"{100 * p.accuracy:.1f} %",
                        f"mean exit {p.exit_index.mean():.2f} ({p.speedup:.1f}x MACs)", delta_color="off",
                        delta_arrow="off")
    ui.chart(robustness_figures.robustness_curves_figure(r, policy, t, eps[i]), "routing:robust_curves",
             "routing_robustness")
    cols = st.columns([1, 2])
    ui.chart(robustness_figures.exit_shift_figure(r, policy, t, i), "routing:robust_shift", "routing_exit_shift",
             where=cols[0])
    with cols[1]:
        shown = [o for o in ("slowdown", "accuracy") if o in r.adversarial and i < len(r.perturbed[o])]
        if shown:
            obj = ui.url_radio("Digits under", shown, "attacked", shown[0], horizontal=True,
                               format_func=lambda o: f"{o} attack")
            ui.chart(robustness_figures.perturbed_gallery_figure(r, obj, i, policy, t), "routing:robust_gallery",
                     "routing_perturbed")


QUICK_STEPS = 100  # runs this short are computed on the page; longer ones wait for the background job


def choose_moe_config() -> MoEConfig:
    d = MoEConfig.default
    c = st.columns([2, 1, 1, 1, 1, 1, 1, 1])
    corpus = ui.url_radio("Corpus", ["synthetic", "stdlib"], "corpus", d("corpus"), where=c[0], horizontal=True,
                          format_func={"synthetic": "synthetic (easy/hard)", "stdlib": "stdlib docstrings"}.get)
    experts = int(ui.url_number("Experts", "experts", d("experts"), min_value=1, max_value=16, where=c[1]))
    top_k = int(ui.url_selectbox("Top-k", [1, 2], "top_k", d("top_k"), where=c[2]))
    cap = float(ui.url_number("Capacity factor", "capacity", d("capacity_factor"), min_value=0.05, max_value=8.0,
                              step=0.25, where=c[3], help="an expert takes at most ceil(factor x tokens x k / N) "
                              "tokens per batch; the overflow skips the FFN"))
    bal = float(ui.url_number("Balance weight", "balance", d("balance_weight"), min_value=0.0, max_value=1.0,
                              step=0.01, format="%.3f", where=c[4], help="Switch loss N sum_i f_i P_i"))
    zw = float(ui.url_number("z-loss weight", "zloss", d("z_weight"), min_value=0.0, max_value=1.0, step=0.001,
                             format="%.4f", where=c[5]))
    layers = int(ui.url_selectbox("Layers", [1, 2], "layers", d("layers"), where=c[6]))
    steps = int(ui.url_number("Steps", "moe_steps", d("steps"), min_value=1, max_value=20000, step=100, where=c[7]))
    return MoEConfig(corpus=corpus, experts=experts, top_k=top_k, capacity_factor=cap, balance_weight=bal,
                     z_weight=zw, layers=layers, steps=steps, seed=ui.current_seed(), device=ui.current_device())


def mixture_of_experts(result: MoEResult) -> None:
    m = result.metrics()
    cols = st.columns(4)  # four, not five: at 1280 px a fifth column cut "Routing entropy" short
    cols[0].metric("Validation loss", f"{m['val_loss']:.4f}")
    cols[1].metric("Load CV", f"{m['load_cv']:.3f}", help="std / mean of the experts' shares (0: perfectly even)")
    cols[2].metric("Drop rate", f"{100 * m['drop_rate']:.2f} %", help="assignments over capacity")
    cols[3].metric("Routing entropy", f"{m['routing_entropy']:.3f} nats",
                   help=f"mean over tokens; ln N = {result.to_json()['routing_entropy_max']:.3f} is uniform")
    by_kind = ", ".join(f"{k} {v:.3f}" for k, v in result.evaluation["val_loss_by_kind"].items())
    st.markdown(f"**MoE result** {result.title()}, {result.steps_done} steps"
                + (" (stopped)" if result.stopped else "") + ": expert load "
                + ", ".join(f"e{e} {100 * v:.1f} %" for e, v in enumerate(result.expert_load))
                + f"; validation loss by kind of token: {by_kind}.")
    layer = 0
    if result.config.layers > 1:
        layer = int(ui.url_slider("Layer", "moe_layer", 1, 1, result.config.layers)) - 1
    ui.chart(moe_figures.token_map_figure(result, layer), "routing:moe_map", "routing_moe_token_map")
    cols = st.columns(2)
    ui.chart(moe_figures.load_over_training_figure(result), "routing:moe_load", "routing_moe_load", where=cols[0])
    ui.chart(moe_figures.kinds_per_expert_figure(result, layer), "routing:moe_kinds", "routing_moe_kinds",
             where=cols[1])
    ui.chart(moe_figures.routing_curves_figure(result), "routing:moe_curves", "routing_moe_curves")


def token_routing() -> None:
    st.markdown("**Mixture of experts**: a tiny causal transformer LM whose FFN is a routed mixture of experts. "
                "The synthetic corpus has known difficulty: `a b c d | a b c d = s ;` -- the copy after `|` is "
                "*easy*, `s = (a+b+c+d) mod 10` is *hard*, the first `a b c d` is *random*.")
    try:
        config = choose_moe_config()
    except LabInputError as err:
        ui.show_error(err)
        return
    quick = config.steps <= QUICK_STEPS
    with st.expander("Train (background job: live loss, stop, saved to Runs)", icon=":material/play_circle:",
                     expanded=not quick):
        job = ui.job_panel(LAB, "moe", config, name=f"MoE on {config.corpus}", start_label="Train MoE",
                           curve_keys=["loss", "load_cv", "drop_rate"], panel="moe")
    result = ui.lab_result(LAB, "moe", config, job=job, compute=quick)
    if result is None:
        st.info(f"Press **Train MoE** above (runs of at most {QUICK_STEPS} steps are computed here at once): "
                "the figures appear when training ends.", icon=":material/hourglass:")
    else:
        mixture_of_experts(result)
    with st.expander("Dropped tokens vs capacity factor (sweep)", icon=":material/tune:"):
        ui.sweep_panel(LAB, "moe", config, {"capacity_factor": "0.5,0.75,1,1.25,1.5,2"},
                       metrics=["drop_rate", "val_loss"])


ROUTES_POLICIES = {"oracle": "oracle", "learned": "learned router", "best": "best routes (no budget)"}


def choose_routes_config() -> RoutesConfig:
    d = RoutesConfig.default
    c = st.columns([2, 1, 1, 1])
    corpus = ui.url_radio("Corpus", ["stdlib", "synthetic"], "r_corpus", d("corpus"), where=c[0], horizontal=True,
                          format_func={"synthetic": "synthetic (easy/hard)", "stdlib": "stdlib docstrings"}.get)
    layers = int(ui.url_selectbox("Layers (3^L routes)", [2, 3, 4, 5], "r_layers", d("layers"), where=c[1]))
    steps = int(ui.url_number("LM steps", "r_steps", d("steps"), min_value=1, max_value=20000, step=100, where=c[2],
                              help="training with random routes (every token, every layer: skip/small/big)"))
    tol = float(ui.url_number("Tolerance (nats)", "r_tol", d("tolerance"), min_value=0.0, max_value=1.0, step=0.01,
                              where=c[3], help="a token's best route: the cheapest within this of its best loss"))
    return RoutesConfig(corpus=corpus, layers=layers, steps=steps, tolerance=tol, seed=ui.current_seed(),
                        device=ui.current_device())


def _routes_token_from_click(t: int) -> None:
    """A click on the difficulty map (its selection, kept by Streamlit) chooses the token, before the slider."""
    state = st.session_state.get("routing:routes_difficulty")
    points = (state or {}).get("selection", {}).get("points", []) if isinstance(state, dict) else \
        getattr(getattr(state, "selection", None), "points", []) or []
    if points:
        index = int(points[0].get("point_index", -1))
        if 0 <= index < t and st.session_state.get("routes:clicked") != index:
            st.session_state["routes:clicked"] = index
            st.session_state[ui.widget_key("r_token")] = index


def routes_view(result: RoutesResult) -> None:
    c = st.columns([3, 2])
    budget = float(ui.url_slider("Budget: mean FFN compute (% of all big)", "r_budget", 50, 0, 100, step=5,
                                 where=c[0])) / 100
    policy = ui.url_radio("Route map", list(ROUTES_POLICIES), "r_map", "oracle", where=c[1], horizontal=True,
                          format_func=ROUTES_POLICIES.get)
    i = min(range(len(BUDGETS)), key=lambda k: abs(BUDGETS[k] - budget))
    pts = {name: result.curve[name][i] for name in ("oracle", "learned", "random")}
    m = st.columns(4)
    for col, name in zip(m, ("oracle", "learned", "random"), strict=False):
        col.metric(f"{name} loss", f"{pts[name]['loss']:.4f}", help=f"mean held-out loss (nats) at "
                   f"{100 * pts[name]['compute']:.1f} % of the all-big FFN compute")
    m[3].metric("Learned - oracle", f"{pts['learned']['loss'] - pts['oracle']['loss']:+.4f} nats",
                help=f"random - oracle: {pts['random']['loss'] - pts['oracle']['loss']:+.4f} nats")
    st.markdown(f"**Routes at {100 * BUDGETS[i]:.0f} %**: oracle {pts['oracle']['loss']:.4f} nats at "
                f"{100 * pts['oracle']['compute']:.1f} % compute, learned router {pts['learned']['loss']:.4f} at "
                f"{100 * pts['learned']['compute']:.1f} %, random routes {pts['random']['loss']:.4f} at "
                f"{100 * pts['random']['compute']:.1f} % ({result.corpus}, {result.config.layers} layers, "
                f"{result.steps_done} steps; every token all big {result.static['all_big']['loss']:.4f}, all skip "
                f"{result.static['all_skip']['loss']:.4f}).")
    if result.stopped:
        st.caption(f"Stopped early: {result.steps_done} LM steps, {result.router_steps_done} router steps"
                   + (" (the learned router is untrained)." if result.router_steps_done == 0 else "."))
    t = len(result.passage.tokens)
    _routes_token_from_click(t)
    token = int(ui.url_slider("Token (or click one in the difficulty map)", "r_token", 0, 0, t - 1))
    ui.chart(routes_figures.route_map_figure(result, policy, BUDGETS[i], selected=token), "routing:routes_map",
             "routing_routes_map")
    st.plotly_chart(routes_figures.difficulty_figure(result, selected=token), key="routing:routes_difficulty",
                    on_select="rerun", selection_mode="points", config={"displaylogo": False})
    ui.chart(routes_figures.token_figure(result, token, BUDGETS[i]), "routing:routes_token", "routing_routes_token")
    cols = st.columns([3, 2])
    ui.chart(routes_figures.loss_compute_figure(result, BUDGETS[i]), "routing:routes_curve", "routing_routes_curve",
             where=cols[0])
    ui.chart(routes_figures.by_kind_figure(result), "routing:routes_kinds", "routing_routes_kinds", where=cols[1])


def small_big_skip_routes() -> None:
    st.divider()
    st.markdown("**Small / big / skip routes** (Duo-LLM): every layer of a tiny LM offers a small FFN, a big FFN "
                "or skipping it; the LM is trained with random routes, then an exhaustive oracle measures every "
                "token under all 3^L routes. Compute = MACs of the FFNs a token uses, as % of all big. The learned "
                "router (one small MLP per layer) imitates the oracle's best routes.")
    try:
        config = choose_routes_config()
    except LabInputError as err:
        ui.show_error(err)
        return
    with st.expander("Train (background job: live loss, stop, saved to Runs)", icon=":material/play_circle:",
                     expanded=True):
        job = ui.job_panel(LAB, "routes", config, name=f"routes on {config.corpus}", start_label="Train routes",
                           curve_keys=["loss", "router_loss"], panel="routes")
    result = ui.lab_result(LAB, "routes", config, job=job, compute=False)  # nothing trains on a first view
    if result is None:
        st.info("Press **Train routes** above (about a minute on one core): the route map, the loss-vs-compute "
                "curves and the difficulty map appear when it ends.", icon=":material/hourglass:")
        return
    routes_view(result)


def page() -> None:
    ui.lab_header(LAB)
    tabs = ui.url_tabs(["Early exits", "Token routing"])
    if tabs[0].open:
        with tabs[0]:
            try:
                chosen = choose_config()
                if chosen is None:
                    return
                config, data, data_key = chosen
                trains = config.checkpoint == "train"
                with st.expander("Train here (background job: live loss, stop, saved to Runs)",
                                 icon=":material/play_circle:", expanded=trains):
                    job = ui.job_panel(LAB, "exits", config, data=data, data_key=data_key,
                                       name=f"early exits on {config.dataset}", start_label="Train and evaluate",
                                       curve_keys=["loss", "exit_loss"], panel="exits")
                result = ui.lab_result(LAB, "exits", config, data=data, data_key=data_key, job=job, compute=not trains)
            except LabInputError as err:
                ui.show_error(err)
                return
            if result is None:
                st.info("Press **Train and evaluate** above: the figures appear when training ends.",
                        icon=":material/hourglass:")
                return
            early_exits(result, config, data, data_key)
    if tabs[1].open:
        with tabs[1]:
            token_routing()
            small_big_skip_routes()


page()
