"""Routing & early exits: which inputs and tokens get how much compute, and what it buys.

Early exits: ``data`` (digits, MNIST-1D, CSV) -> ``model`` (a backbone with an exit and a gate per
block) trained by ``train`` (BranchyNet joint loss, gates learned alongside) -> ``policies`` (one file
each, a registry) -> ``exits`` (curves, speed-up, calibration; ``macs`` counts the layers,
``throughput`` measures) -> ``figures``. ``robustness`` attacks the held-out inputs (FGSM / PGD; the last exit's
loss, or a slowdown attack on the early exits and gates) -> ``robustness_figures``.

Token routing: ``corpus`` (a synthetic task of known per-token difficulty, stdlib docstrings) -> ``moe``
(a tiny transformer LM with a mixture-of-experts FFN: top-k, capacity, balancing and z losses) ->
``moe_figures``; ``routes`` (small / big / skip FFN per layer, trained with random routes: the exhaustive
oracle, a learned router and random routes at one compute budget; ``routes_model``, ``routes_oracle``) ->
``routes_figures``.
"""

from lab.core.labs import LabSpec, Verb

LAB = LabSpec(
    key="routing",
    title="Routing & early exits",
    question="Which inputs and tokens get how much compute, and what does that buy?",
    papers=("Teerapittayanon et al. 2016, BranchyNet", "Regol et al. 2023, JEI-DNN", "Dynamic Confidence",
            "Duo-LLM small/big/skip routes"),
    icon=":material/alt_route:",
    page="pages/routing.py",
    order=20,
    cli="lab.routing.cli",
    verbs=(
        Verb("exits", "lab.routing.exits:ExitsConfig", "lab.routing.exits:run_exits",
             help="early exits: accuracy vs compute per exit policy, exit depths, calibration, speed-up",
             example={"dataset": "digits", "checkpoint": "train", "steps": 8, "width": 4}),
        Verb("train", "lab.routing.train:TrainConfig", "lab.routing.train:run_train",
             help="train an early-exit network (joint exit loss, gates learned alongside); saves a checkpoint",
             example={"dataset": "digits", "steps": 8, "width": 4}),
        Verb("robust", "lab.routing.robustness:RobustConfig", "lab.routing.robustness:run_robust",
             help="adversarial inputs (FGSM/PGD; accuracy or slowdown attack): accuracy, exit depth, MACs vs epsilon",
             example={"dataset": "digits", "checkpoint": "train", "steps": 8, "width": 4, "pgd_steps": 2,
                      "n_epsilons": 2}),
        Verb("moe", "lab.routing.moe:MoEConfig", "lab.routing.moe:run_moe",
             help="mixture of experts: a tiny MoE LM; expert load, load CV, drop rate, routing entropy, loss",
             example={"steps": 5, "d_model": 32, "context": 24, "batch_size": 8}),
        Verb("routes", "lab.routing.routes:RoutesConfig", "lab.routing.routes:run_routes",
             help="small/big/skip routes (Duo-LLM): loss and FFN compute of oracle, learned and random routing "
                  "at one budget",
             example={"steps": 4, "router_steps": 3, "layers": 2, "d_model": 16, "context": 12, "batch_size": 4,
                      "big_hidden": 32, "small_hidden": 8, "router_batches": 1, "eval_batches": 1}),
    ),
)
