"""``dynlab pointer solve|eval|train|fit-start`` (and ``generalise``, made from its config by ``lab.core.cli``).

Gaps are fractions (``length / reference_length - 1``; 0.012 means 1.2 %). Tour indices are 0-based.
Lengths are in the input's own units; for TSPLIB ``.tsp`` files they follow the file's distance
convention (EUC_2D, CEIL_2D, ATT, GEO), so a published optimum can be compared directly.

Every default comes from the verb's config (``SolveConfig.default``, ``TrainConfig.default``); ``solve``
and ``train`` run through :func:`lab.core.verbs.run_foreground_verb`, so each is saved as a run that
records its verb and can be re-run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lab.core.cli import add_common_args, add_config_arguments, cli_device, config_values, emit
from lab.core.errors import LabInputError
from lab.pointer.service import DECODERS, MODELS, SolveConfig, run_solve
from lab.pointer.solvers import SOLVERS
from lab.pointer.tasks import HULL_RULES, START_RULES, TASKS
from lab.pointer.train import TrainConfig

_GAP_NOTE = "gap = length / reference_length - 1, as a fraction (0.012 = 1.2 %%)"
#: ``dynlab pointer eval``: instances and seed of its held-out set (eval is a measurement, not a saved run).
EVAL_NUM, EVAL_SEED = 100, 1234


def _solve_config(args: argparse.Namespace, **fields: Any) -> SolveConfig:
    """Arguments -> config; ``--solver`` runs that classical TSP solver instead of a model."""
    model = args.model
    if args.solver is not None:
        if args.task != "tsp":
            raise LabInputError("--solver picks a classical TSP solver; hull and Delaunay labels come from scipy.")
        model = None
    return SolveConfig(task=args.task, model=model, checkpoint=args.checkpoint,
                       decode=args.decode if model is not None else SolveConfig.default("decode"),
                       beam_width=args.beam_width, num_samples=args.samples, hull_rule=args.hull_rule,
                       solver=args.solver or SolveConfig.default("solver"), device=cli_device(args.device),
                       reference_time_limit=args.reference_time, polish=args.polish,
                       distance_prior=args.distance_prior, start=args.start, **fields)


def _cmd_solve(args: argparse.Namespace) -> int:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    fields: dict[str, Any] = {"reference": args.reference, "num": args.num, "seed": args.seed, "input": args.input}
    if args.n is not None:
        fields["n"] = args.n
    config = _solve_config(args, **fields)
    if not args.input and args.n is None:
        raise LabInputError("give --input FILE or --n N (with --num B and --seed S) for random instances.")
    progress = TextProgress("pointer solve") if sys.stderr.isatty() else None
    output, run_id = run_foreground_verb("pointer", "solve", config, progress=progress)
    result = output.result
    if result.note and not args.json:
        sys.stderr.write(f"note: {result.note}\n")
    if args.save_tour:
        _save_tours(result, args.save_tour)
    doc = {**result.to_json(), "run_id": run_id}
    if args.json:
        emit(doc, True)
        return 0
    lines = [f"{result.method} on {len(result.instances)} instance(s), {doc['seconds']:.2f} s (run {run_id})"]
    for r in result.instances[:20]:
        if args.task == "tsp":
            ref = "" if r.reference_length is None else f"  reference {r.reference_length:.6g}  gap {100 * r.gap:.2f} %"
            polished = "" if r.polished is None else f"  polished {r.polished_length:.6g}" + (
                "" if r.polished_gap is None else f" (gap {100 * r.polished_gap:.2f} %)")
            lines.append(f"  {r.name}: length {r.length:.6g}{ref}{polished}")
        else:
            lines.append(f"  {r.name}: " + "  ".join(f"{k} {v:.3f}" for k, v in r.scores.items()))
    emit(doc, False, "\n".join(lines))
    return 0


def _save_tours(result: Any, target: str) -> None:
    from lab.core.files import atomic_write_text
    from lab.pointer.io import tour_csv, tour_text

    if result.config.task != "tsp":
        raise LabInputError("--save-tour writes TSP tours; use --json for hull and Delaunay outputs.")
    path = Path(target)
    for i, r in enumerate(result.instances):
        dest = path if len(result.instances) == 1 else path.with_name(f"{path.stem}_{i}{path.suffix}")
        tour, length = (r.output, r.length) if r.polished is None else (r.polished, r.polished_length)
        text = tour_csv(r.points, tour) if dest.suffix.lower() == ".csv" else tour_text(tour, r.name, length)
        atomic_write_text(dest, text)


def _cmd_eval(args: argparse.Namespace) -> int:
    config = _solve_config(args, reference=True, n=args.n, num=args.num, seed=args.seed)
    result = run_solve(config)
    doc: dict[str, Any] = {"task": args.task, "n": args.n, "num": args.num, "seed": args.seed,
                           "method": result.method, **result.aggregates(), "seconds": result.seconds}
    if result.note:
        doc["note"] = result.note
    if args.baselines and args.task == "tsp":
        doc["baselines"] = {}
        for name in args.baselines:
            base = run_solve(config.replace(model=None, solver=name, decode="greedy"))
            doc["baselines"][name] = base.aggregates()["mean_gap"]
    if args.json:
        emit(doc, True)
    else:
        shown = {k: v for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        emit(doc, False, f"{result.method}: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return 0


def _cmd_train(args: argparse.Namespace, names: list[str]) -> int:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    values = config_values(args, names)
    config = TrainConfig(**values, device=cli_device(args.device), init_checkpoint=args.resume)
    _check_output(args.output)
    progress = TextProgress(f"train {config.model} {config.task}")
    output, run_id = run_foreground_verb("pointer", "train", config, progress=progress)
    doc: dict[str, Any] = {"task": config.task, "model": config.model, "run_id": run_id, "metrics": output.metrics}
    _write_checkpoint(output.artifacts, args.output, doc)
    shown = {k: v for k, v in output.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    emit(doc, args.json, "trained: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()) + f"  (run {run_id})")
    return 0


def _check_output(target: str | None) -> None:
    """``-o PATH`` names a ``.pt`` file: said before the work starts, not after it."""
    if target and Path(target).suffix != ".pt":
        raise LabInputError(f"-o {target}: name the checkpoint file with .pt (its card goes beside it as .json).")


def _write_checkpoint(artifacts: dict[str, Any], target: str | None, doc: dict[str, Any]) -> None:
    """``-o PATH``: the run's ``model.pt`` at PATH and its card at PATH.json (and ``doc["checkpoint"]``)."""
    if not target:
        return
    from lab.core.checkpoints import card_path
    from lab.core.files import atomic_write_bytes, atomic_write_text

    atomic_write_bytes(target, artifacts["model.pt"])
    atomic_write_text(card_path(target), str(artifacts["model.json"]))
    doc["checkpoint"] = target


def _cmd_fit_start(args: argparse.Namespace, names: list[str]) -> int:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb
    from lab.pointer.fit_start import FitStartConfig

    config = FitStartConfig(**config_values(args, names), device=cli_device(args.device))
    _check_output(args.output)
    output, run_id = run_foreground_verb("pointer", "fit-start", config, progress=TextProgress("fit start head"))
    doc: dict[str, Any] = {"run_id": run_id, **output.result.to_json(), "metrics": output.metrics}
    _write_checkpoint(output.artifacts, args.output, doc)
    m = output.metrics
    text = (f"start head for {output.result.source} at n = {m['n']}: the chosen start's greedy tour is "
            f"{m['excess_head_pct']:.2f} % longer than the best start's (node 0: {m['excess_node0_pct']:.2f} %, "
            f"the average start: {m['excess_mean_start_pct']:.2f} %), on {config.val_instances} validation "
            f"instances  (run {run_id})" + (f"\nwrote {args.output}" if args.output else ""))
    emit(doc, args.json, text)
    return 0


def _method_args(p: argparse.ArgumentParser) -> None:
    default = SolveConfig.default
    p.add_argument("--task", choices=TASKS, default=default("task"), help=f"{', '.join(TASKS)} (default "
                   f"{default('task')})")
    p.add_argument("--model", choices=(*MODELS, "auto"), default=default("model"),
                   help="am (attention model, TSP) or ptrnet; auto (default) takes the shipped model for the task "
                        "and the instances' size, and falls back to a classical solver when none is trained yet")
    p.add_argument("--checkpoint", help="a checkpoint file (or shipped zoo name, or 'untrained') instead of the "
                                        "shipped one")
    p.add_argument("--decode", choices=DECODERS, default=default("decode"),
                   help="decoding; sample is seeded by --seed; pomo = greedy on the 8 symmetric copies (and, for the "
                        "attention model, from every start node), keeping the shortest tour / largest hull; TSP, hull")
    p.add_argument("--beam-width", type=int, default=default("beam_width"))
    p.add_argument("--samples", type=int, default=default("num_samples"), help="samples per instance for --decode "
                   f"sample (default {default('num_samples')})")
    p.add_argument("--hull-rule", choices=HULL_RULES, default=default("hull_rule"),
                   help="hull only: simple (default; output never self-intersects), convex (a convex polygon), "
                        "or index (the paper's rule alone; outputs may self-intersect)")
    p.add_argument("--solver", choices=sorted(SOLVERS), help="solve TSP with this classical solver instead of a model")
    p.add_argument("--polish", action="store_true", default=default("polish"),
                   help="TSP: also improve each tour by local search (2-opt, then Or-opt) and report polished_tour, "
                        "polished_length and polished_gap beside the method's own (--save-tour writes the polished one)")
    p.add_argument("--distance-prior", type=float, default=default("distance_prior"), metavar="ALPHA",
                   help="attention model, TSP: lower each node's pointer logit by ALPHA x its distance from the last "
                        "node (in the training size's point spacing); helps past the training size (README: about 10 "
                        "for am_tsp50 at 200-500 nodes); 0 (default) is the network alone")
    p.add_argument("--start", choices=START_RULES, default=default("start"),
                   help="TSP, greedy / beam / sample: where the rollout starts -- learned (default): the node the "
                        "attention model's start head scores best (node 0 for a model without one); node0: node 0. "
                        "The reported tour starts at node 0 either way")
    p.add_argument("--reference-time", type=float, default=default("reference_time_limit"),
                   help="seconds of reference search per instance above 20 nodes (default grows with n)")


def register(verbs: Any) -> None:
    """Add ``solve``, ``eval`` and ``train`` to the ``dynlab pointer`` verb sub-parsers."""
    default = SolveConfig.default
    s = verbs.add_parser("solve", help=f"solve instances from a file or random ones; {_GAP_NOTE}",
                         description=f"Solve instances. JSON: instances[{{tour|hull|triangles, length, "
                                     f"reference_length, gap}}], mean_length, mean_gap, seconds, run_id. "
                                     f"{_GAP_NOTE.replace('%%', '%')}.")
    s.add_argument("--input", help="a TSPLIB .tsp (EUC_2D, CEIL_2D, ATT, GEO), a .csv with x,y columns "
                                   "(optional instance column) or an .npz with locs (B, n, 2)")
    s.add_argument("--n", type=int, help="random instances of n uniform points (without --input)")
    s.add_argument("--num", type=int, default=default("num"), help=f"number of random instances (default "
                   f"{default('num')})")
    s.add_argument("--reference", action="store_true", default=default("reference"),
                   help="also solve with the reference (fast-tsp) and report reference_length and gap")
    s.add_argument("--save-tour", help="write the tour as TSPLIB .tour (or .csv by extension)")
    _method_args(s)
    add_common_args(s, seed_default=default("seed"))
    s.set_defaults(func=_cmd_solve)

    e = verbs.add_parser("eval", help=f"score a model on seeded random instances against the reference; {_GAP_NOTE}")
    e.add_argument("--n", type=int, required=True)
    e.add_argument("--num", type=int, default=EVAL_NUM)
    e.add_argument("--baselines", nargs="*", choices=sorted(SOLVERS), default=[],
                   help="also report the mean gap of these classical solvers (TSP)")
    _method_args(e)
    add_common_args(e, seed_default=EVAL_SEED)
    e.set_defaults(func=_cmd_eval)

    t = verbs.add_parser("train", help="train a pointer model (progress on stderr, Ctrl-C stops and keeps the result)",
                         description="Train a pointer model. JSON: {task, model, run_id, metrics, checkpoint}.")
    names = add_config_arguments(t, TrainConfig, ["task", "model", "n_min", "n_max", "hidden", "layers", "input_order",
                                                  "steps", "batch_size", "lr", "pomo_steps", "pomo_batch", "pomo_lr",
                                                  "seed"])
    t.add_argument("--resume", help="continue from this checkpoint")
    t.add_argument("-o", "--output", help="also write the checkpoint (and its card, PATH.json) here")
    add_common_args(t, seed_default=None)
    t.set_defaults(func=lambda args: _cmd_train(args, names))

    from lab.pointer.fit_start import FitStartConfig

    f = verbs.add_parser("fit-start", help="fit a start head to an attention model (where its greedy rollout "
                         "starts); the policy is not changed",
                         description="Fit a start head to a trained attention model, policy frozen. JSON: {run_id, "
                                     "source, start_head, metrics, checkpoint}; excess_*_pct: how much longer the "
                                     "greedy tour from node 0, the average start and the head's start is than from "
                                     "the best start, in percent.")
    fit_names = add_config_arguments(f, FitStartConfig, skip=("device",), helps={
        "checkpoint": "a shipped attention model's name or a .pt path", "n": "instance size; 0: the card's "
        "largest training size", "instances": "instances to fit on (each rolled out from every start)",
        "val_instances": "other instances the fit is measured on", "epochs": "passes of Adam over the rollouts",
        "batch_size": "instances per Adam step", "lr": "Adam's rate, cosine-decayed to 0",
        "tau": "target temperature in relative tour length: a start 1 %% longer than the best gets e^-1 of its "
               "weight at 0.01"})
    f.add_argument("-o", "--output", help="also write the checkpoint with its head (and its card, PATH.json) here")
    add_common_args(f, seed_default=None)
    f.set_defaults(func=lambda args: _cmd_fit_start(args, fit_names))

