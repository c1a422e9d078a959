"""``dynlab routing exits|train|moe|routes`` (contract in issue 10).

``exits --dataset digits|mnist1d|FILE.csv [--policy NAME] [--checkpoint PATH] --json`` prints
``{"last_exit_accuracy": float, "policies": {NAME: {"curve": [{"threshold", "accuracy", "mean_macs",
"speedup"}], "speedup_at_1pt": float, "ece": float, "threshold_at_1pt": float|null}}}`` plus ``dataset``,
``model``, ``exits`` (per-exit accuracy and ECE), ``macs`` and ``run_id``. Without ``--checkpoint`` the
shipped model is used where one ships (digits); otherwise a model is trained first (progress on stderr).
Bad input (a CSV without a label column, non-numeric features, one class, an unknown policy): one line
on stderr, exit code 2. Defaults come from the configs.

``moe [--corpus synthetic|stdlib] [--experts N] [--top-k 1|2] [--capacity-factor F] ... --json`` prints
``{"expert_load": [float per expert], "load_cv", "drop_rate", "routing_entropy", "val_loss", ...}`` (plus the
per-kind losses, ``skipped_tokens`` and ``run_id``). Bad input (top k > experts, ...): one line, exit 2.

``routes [--corpus synthetic|stdlib] [--layers L] [--budget B] ... --json`` prints ``{"budget", "oracle",
"learned", "random", "oracle_capped": {"loss", "compute", "compute_macs", "lambda"}, "gap_learned_oracle",
"static", "macs", "curve", "by_kind", ...}``: compute is FFN MACs per token as a fraction of the all-big route.
Bad input (a budget outside 0-1, more than 5 layers, ...): one line, exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from lab.core.cli import add_common_args, add_config_arguments, cli_device, config_values, emit


def _run(verb: str, config: Any) -> tuple[Any, str | None]:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    output, run_id = run_foreground_verb("routing", verb, config, progress=TextProgress(f"routing {verb}"))
    return output, run_id


def _cmd_exits(args: argparse.Namespace, names: list[str]) -> int:
    from lab.routing.exits import ExitsConfig

    config = ExitsConfig(**config_values(args, names), dataset=args.dataset, policy=args.policy,
                         checkpoint=args.checkpoint, measure=args.measure, seed=args.seed,
                         device=cli_device(args.device))
    output, run_id = _run("exits", config)
    result = output.result
    doc = {**result.to_json(), "run_id": run_id}
    lines = [f"{result.dataset.name}: model {result.source}; last exit accuracy {result.last_exit_accuracy:.4f}; "
             f"exit accuracies " + ", ".join(f"{a:.3f}" for a in result.exit_accuracy)]
    for name, p in result.policies.items():
        at = "-" if p.threshold_at_1pt is None else f"{p.threshold_at_1pt:g}"
        extra = f", measured {p.throughput['measured_speedup_per_s']:.2f}x" if p.throughput else ""
        lines.append(f"  {name:9s} speed-up at <= 1 pt: {p.speedup_at_1pt:6.2f}x MACs (t = {at}){extra}, ECE {p.ece:.4f}")
    lines.append(f"saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def _cmd_train(args: argparse.Namespace, names: list[str]) -> int:
    from lab.routing.train import TrainConfig

    config = TrainConfig(**config_values(args, names), seed=args.seed, device=cli_device(args.device))
    output, run_id = _run("train", config)
    doc: dict[str, Any] = {**output.result.to_json(), "run_id": run_id}
    if args.output:
        from lab.core.checkpoints import card_path
        from lab.core.files import atomic_write_bytes, atomic_write_text

        atomic_write_bytes(args.output, output.artifacts["model.pt"])
        atomic_write_text(card_path(args.output), str(output.artifacts["model.json"]))
        doc["checkpoint"] = args.output
    acc = output.result.scores["exit_accuracy"]
    emit(doc, args.json, "trained: exit accuracies " + ", ".join(f"{a:.4f}" for a in acc) + f"  (run {run_id})")
    return 0


def _cmd_moe(args: argparse.Namespace, names: list[str]) -> int:
    from lab.routing.moe import MoEConfig

    config = MoEConfig(**config_values(args, names), seed=args.seed, device=cli_device(args.device))
    output, run_id = _run("moe", config)
    r = output.result
    doc = {**r.to_json(), "run_id": run_id}
    text = (f"MoE on {r.corpus}: val loss {doc['val_loss']:.4f}; expert load "
            + ", ".join(f"{v:.3f}" for v in doc["expert_load"])
            + f" (CV {doc['load_cv']:.3f}); drop rate {doc['drop_rate']:.4f}; routing entropy "
            f"{doc['routing_entropy']:.3f} nats (max {doc['routing_entropy_max']:.3f})\nsaved as run {run_id}")
    emit(doc, args.json, text)
    return 0


def _cmd_routes(args: argparse.Namespace, names: list[str]) -> int:
    from lab.routing.routes import RoutesConfig

    config = RoutesConfig(**config_values(args, names), seed=args.seed, device=cli_device(args.device))
    output, run_id = _run("routes", config)
    r = output.result
    doc = {**r.to_json(), "run_id": run_id}
    lines = [f"routes on {r.corpus}, {config.layers} layers, budget {100 * config.budget:.0f} % of the all-big "
             "FFN MACs:"]
    for name in ("oracle", "learned", "random", "oracle_capped"):
        p = r.points[name]
        lines.append(f"  {name:13s} loss {p.loss:.4f}  compute {100 * p.compute:5.1f} %")
    lines.append(f"learned - oracle: {r.gap:+.4f} nats; saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def register(verbs: Any) -> None:
    """Add ``exits``, ``train``, ``moe`` and ``routes`` to ``dynlab routing``'s verb subparsers."""
    from lab.routing.exits import ExitsConfig
    from lab.routing.policies import POLICIES
    from lab.routing.train import TrainConfig

    d = ExitsConfig.default
    e = verbs.add_parser("exits", help="early exits: accuracy vs compute per policy, exit depths, calibration",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--dataset", default=d("dataset"), help="digits, mnist1d, or a CSV of numeric feature columns "
                   "and a label column (label, target, class or y) (default %(default)s)")
    e.add_argument("--policy", default=d("policy"), help=f"one of {', '.join(POLICIES)}, or all (default %(default)s)")
    e.add_argument("--checkpoint", default=d("checkpoint"),
                   help="a checkpoint .pt (with its .json card), shipped (default: the shipped model, trained here "
                        "when none ships for the dataset), or train")
    e.add_argument("--measure", action="store_true", help="also measure throughput on this device")
    names = add_config_arguments(e, ExitsConfig, ["steps", "width", "blocks", "pool", "batch_size", "lr", "gate_cost"],
                                 helps={"steps": "training steps when a model is trained here"})
    add_common_args(e, seed_default=d("seed"))
    e.set_defaults(func=lambda args: _cmd_exits(args, names))

    t = verbs.add_parser("train", help="train an early-exit network (joint exit loss, gates learned alongside)")
    tnames = add_config_arguments(t, TrainConfig, ["dataset", "width", "blocks", "pool", "steps", "batch_size", "lr",
                                                   "exit_weights", "gate_cost"])
    t.add_argument("-o", "--output", help="also write the checkpoint (and its card, PATH.json) here")
    add_common_args(t, seed_default=TrainConfig.default("seed"))
    t.set_defaults(func=lambda args: _cmd_train(args, tnames))

    from lab.routing.moe import MoEConfig

    m = verbs.add_parser("moe", help="mixture of experts: a tiny MoE LM; expert load, load CV, drop rate, "
                         "routing entropy, validation loss", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    mnames = add_config_arguments(m, MoEConfig, skip=("seed", "device"),
                                  helps={"corpus": "synthetic (known per-token difficulty) or stdlib (docstrings)",
                                         "balance_weight": "weight of the Switch load-balancing loss",
                                         "z_weight": "weight of the router z-loss"})
    add_common_args(m, seed_default=MoEConfig.default("seed"))
    m.set_defaults(func=lambda args: _cmd_moe(args, mnames))

    from lab.routing.routes import RoutesConfig

    r = verbs.add_parser("routes", help="small/big/skip routes (Duo-LLM): loss and FFN compute of oracle, learned "
                         "and random routing at one budget", description=__doc__,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rnames = add_config_arguments(r, RoutesConfig, skip=("seed", "device"),
                                  helps={"corpus": "synthetic (known per-token difficulty) or stdlib (docstrings)",
                                         "budget": "mean FFN compute as a fraction of the all-big route (0-1)",
                                         "tolerance": "nats: the best route is the cheapest within this of the "
                                                      "token's best loss"})
    add_common_args(r, seed_default=RoutesConfig.default("seed"))
    r.set_defaults(func=lambda args: _cmd_routes(args, rnames))
