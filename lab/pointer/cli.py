"""``dynlab pointer solve|eval|train``: the pointer lab from the command line.

Gaps are fractions (``length / reference_length - 1``; 0.012 means 1.2 %). Tour indices are 0-based.
Lengths are in the input's own units; for TSPLIB ``.tsp`` files they follow the file's distance
convention (EUC_2D, CEIL_2D, ATT, GEO), so a published optimum can be compared directly.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lab.cli import OneLineArgumentParser, add_json_flag, emit
from lab.core.errors import LabInputError
from lab.pointer.io import Instance, load_instances, random_instance_list
from lab.pointer.service import DECODERS, MODELS, SolveConfig, find_checkpoint, solve_instances
from lab.pointer.solvers import SOLVERS
from lab.pointer.tasks import HULL_RULES, TASKS

_GAP_NOTE = "gap = length / reference_length - 1, as a fraction (0.012 = 1.2 %%)"


def _instances(args: argparse.Namespace) -> list[Instance]:
    if args.input:
        return load_instances(args.input, task=args.task)
    if args.n is None:
        raise LabInputError("give --input FILE or --n N (with --num B and --seed S) for random instances.")
    return random_instance_list(args.n, args.num, args.seed)


def _config(args: argparse.Namespace, reference: bool) -> tuple[SolveConfig, str]:
    """Turn arguments into a config; ``--model auto`` takes the shipped model if there is one."""
    note = ""
    model, checkpoint = args.model, args.checkpoint
    if args.solver is not None:
        if args.task != "tsp":
            raise LabInputError("--solver picks a classical TSP solver; hull and Delaunay labels come from scipy.")
        model = None
    elif checkpoint is not None and model == "auto":
        model = _card_model(checkpoint)
    elif model == "auto":
        entry = find_checkpoint(args.task, None)
        if entry is not None:
            model, checkpoint = entry.model, str(entry.path)
        else:
            model = None
            note = (f"no trained checkpoint for {args.task} yet; used the classical baseline instead "
                    "(pass --model to insist on a model).")
    config = SolveConfig(task=args.task, model=model, checkpoint=checkpoint,
                         decode=args.decode if model is not None else "greedy",
                         beam_width=args.beam_width, num_samples=args.samples, hull_rule=args.hull_rule,
                         solver=args.solver or "farthest_insertion", reference=reference,
                         device=_device(args.device), reference_time_limit=args.reference_time)
    return config, note


def _device(requested: str) -> str:
    """A device that exists here (``lab.core.device``); a fallback is said on stderr, not hidden."""
    from lab.core.device import resolve_device

    choice = resolve_device(requested)
    if choice.name != requested.lower() and requested.lower() != "auto":
        print(f"note: {choice.reason}", file=sys.stderr)
    return choice.name


def _card_model(checkpoint: str) -> str:
    """The model kind ("am" or "ptrnet") a checkpoint's card records."""
    from lab.core.checkpoints import read_card
    from lab.pointer import zoo

    kind = read_card(zoo.resolve(checkpoint)).get("architecture", {}).get("model")
    if kind not in MODELS:
        raise LabInputError(f"{checkpoint}: its card names no pointer model (got {kind!r}); pass a pointer checkpoint.")
    return str(kind)


def _cmd_solve(args: argparse.Namespace) -> int:
    instances = _instances(args)
    config, note = _config(args, reference=args.reference)
    result = solve_instances(instances, config)
    result.note = note
    if note and not args.json:
        sys.stderr.write(f"note: {note}\n")
    doc = result.to_json()
    if args.save_tour:
        _save_tours(result, args.save_tour)
    if args.json:
        emit(doc, True)
        return 0
    lines = [f"{result.method} on {len(instances)} instance(s), {doc['seconds']:.2f} s"]
    for r in result.instances[:20]:
        if args.task == "tsp":
            ref = "" if r.reference_length is None else f"  reference {r.reference_length:.6g}  gap {100 * r.gap:.2f} %"
            lines.append(f"  {r.name}: length {r.length:.6g}{ref}")
        else:
            lines.append(f"  {r.name}: " + "  ".join(f"{k} {v:.3f}" for k, v in r.scores.items()))
    emit(doc, False, "\n".join(lines))
    return 0


def _save_tours(result: Any, target: str) -> None:
    from pathlib import Path

    from lab.core.files import atomic_write_text
    from lab.pointer.io import tour_csv, tour_text

    if result.config.task != "tsp":
        raise LabInputError("--save-tour writes TSP tours; use --json for hull and Delaunay outputs.")
    path = Path(target)
    for i, r in enumerate(result.instances):
        dest = path if len(result.instances) == 1 else path.with_name(f"{path.stem}_{i}{path.suffix}")
        text = tour_csv(r.points, r.output) if dest.suffix.lower() == ".csv" else tour_text(r.output, r.name, r.length)
        atomic_write_text(dest, text)


def _cmd_eval(args: argparse.Namespace) -> int:
    instances = random_instance_list(args.n, args.num, args.seed)
    config, note = _config(args, reference=True)
    result = solve_instances(instances, config)
    doc: dict[str, Any] = {"task": args.task, "n": args.n, "num": args.num, "seed": args.seed,
                           "method": result.method, **result.aggregates(), "seconds": result.seconds}
    if note:
        doc["note"] = note
    if args.baselines and args.task == "tsp":
        doc["baselines"] = {}
        for name in args.baselines:
            base = solve_instances(instances, SolveConfig(task="tsp", solver=name, reference=True))
            doc["baselines"][name] = base.aggregates()["mean_gap"]
    if args.json:
        emit(doc, True)
    else:
        shown = {k: v for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        emit(doc, False, f"{result.method}: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from lab.core.jobs import run_foreground
    from lab.core.progress import TextProgress

    try:
        from lab.pointer.train import TrainConfig, train_job
    except ImportError:
        raise LabInputError("pointer training is not installed in this build; update the package.") from None
    fields = dict(task=args.task, model=args.model, n_min=args.n_min, n_max=args.n_max, steps=args.steps,
                  batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=_device(args.device))
    for key in ("hidden", "layers"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    config = TrainConfig(**fields)
    work = train_job(config, init_checkpoint=args.resume) if args.resume else train_job(config)
    progress = TextProgress(f"train {args.model} {args.task}")
    output, run_id = run_foreground("pointer", f"train {args.model} {args.task}", work, progress=progress)
    doc: dict[str, Any] = {"task": args.task, "model": args.model, "run_id": run_id, "metrics": output.metrics}
    if args.output:
        from lab.core.checkpoints import card_path
        from lab.core.files import atomic_write_bytes, atomic_write_text

        if "model.pt" not in output.artifacts:
            raise LabInputError("training produced no checkpoint to write; see the run's artifacts.")
        atomic_write_bytes(args.output, output.artifacts["model.pt"])
        card = output.artifacts.get("model.json")
        if card is not None:
            atomic_write_text(card_path(args.output), card if isinstance(card, str) else card.decode())
        doc["checkpoint"] = args.output
    emit(doc, args.json, f"trained: {output.metrics}  (run {run_id})")
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=TASKS, default="tsp", help="tsp (default), hull or delaunay")
    p.add_argument("--model", choices=(*MODELS, "auto"), default="auto",
                   help="am (attention model, TSP) or ptrnet; auto (default) takes the shipped model for the task "
                        "and falls back to a classical solver when none is trained yet")
    p.add_argument("--checkpoint", help="a checkpoint file (or shipped zoo name) instead of the shipped one")
    p.add_argument("--decode", choices=DECODERS, default="greedy", help="decoding; pomo = greedy on the 8 symmetric copies (and, for the attention model, from every "
                        "start node), keeping the shortest tour / largest hull; TSP and hull")
    p.add_argument("--beam-width", type=int, default=5)
    p.add_argument("--samples", type=int, default=16, help="samples per instance for --decode sample")
    p.add_argument("--hull-rule", choices=HULL_RULES, default="simple",
                   help="hull only: simple (default; output never self-intersects), convex (a convex polygon), "
                        "or index (the paper's rule alone; outputs may self-intersect)")
    p.add_argument("--solver", choices=sorted(SOLVERS), help="solve TSP with this classical solver instead of a model")
    p.add_argument("--reference-time", type=float, default=None,
                   help="seconds of reference search per instance above 20 nodes (default grows with n)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto; falls back to cpu, saying so")
    add_json_flag(p)


def register(groups: Any) -> None:
    """Add ``dynlab pointer`` and its verbs to the top-level sub-parsers."""
    p = groups.add_parser("pointer", help="Pointer tours: convex hull, Delaunay and TSP with pointer networks")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", parser_class=OneLineArgumentParser)

    s = verbs.add_parser("solve", help=f"solve instances from a file or random ones; {_GAP_NOTE}",
                         description=f"Solve instances. JSON: instances[{{tour|hull|triangles, length, "
                                     f"reference_length, gap}}], mean_length, mean_gap, seconds. {_GAP_NOTE.replace('%%', '%')}.")
    s.add_argument("--input", help="a TSPLIB .tsp (EUC_2D, CEIL_2D, ATT, GEO), a .csv with x,y columns "
                                   "(optional instance column) or an .npz with locs (B, n, 2)")
    s.add_argument("--n", type=int, help="random instances of n uniform points (without --input)")
    s.add_argument("--num", type=int, default=1, help="number of random instances (default 1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--reference", action="store_true",
                   help="also solve with the reference (fast-tsp) and report reference_length and gap")
    s.add_argument("--save-tour", help="write the tour as TSPLIB .tour (or .csv by extension)")
    _model_args(s)
    s.set_defaults(func=_cmd_solve)

    e = verbs.add_parser("eval", help=f"score a model on seeded random instances against the reference; {_GAP_NOTE}")
    e.add_argument("--n", type=int, required=True)
    e.add_argument("--num", type=int, default=100)
    e.add_argument("--seed", type=int, default=1234)
    e.add_argument("--baselines", nargs="*", choices=sorted(SOLVERS), default=[],
                   help="also report the mean gap of these classical solvers (TSP)")
    _model_args(e)
    e.set_defaults(func=_cmd_eval)

    t = verbs.add_parser("train", help="train a pointer model (progress on stderr, Ctrl-C stops and keeps the result)")
    t.add_argument("--task", choices=TASKS, default="tsp")
    t.add_argument("--model", choices=MODELS, default="ptrnet")
    t.add_argument("--n-min", type=int, default=5)
    t.add_argument("--n-max", type=int, default=20)
    t.add_argument("--hidden", type=int, default=None)
    t.add_argument("--layers", type=int, default=None)
    t.add_argument("--steps", type=int, default=200)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu (default), cuda, mps or auto; falls back to cpu, saying so")
    t.add_argument("--resume", help="continue from this checkpoint")
    t.add_argument("-o", "--output", help="also write the checkpoint (and its card, PATH.json) here")
    add_json_flag(t)
    t.set_defaults(func=_cmd_train)
    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])
