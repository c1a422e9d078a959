"""The ``dynlab`` command: ``dynlab <group> <verb> ... [--json]``.

Every built lab (``lab.core.registry``) gets a group whose verbs come from its declaration: a verb's
parser is made from its config class (``lab.core.cli.add_verb_parser``) unless the lab's ``cli`` module
registers a hand-made one for it. A verb's handler is ``func(args) -> int``. Bad arguments or bad input files print one line on stderr and exit
with code 2, never a traceback. ``--json`` prints machine-readable output on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import lab
from lab.core.cli import OneLineArgumentParser, add_json_flag, add_verb_parser, emit
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable


# -- dynlab app ------------------------------------------------------------------------------------
def _cmd_app(args: argparse.Namespace) -> int:
    entry = Path(__file__).resolve().parent.parent / "app" / "main.py"
    if not entry.exists():
        raise LabInputError(f"The app entrypoint {entry} is missing; run `dynlab app` from a source checkout.")
    print(f"Dynamic Networks Lab: open http://localhost:{args.port}", flush=True)
    cmd = [sys.executable, "-m", "streamlit", "run", str(entry), "--server.headless", "true", "--server.port", str(args.port)]
    return subprocess.call(cmd)


# -- dynlab runs -----------------------------------------------------------------------------------
def _store():
    from lab.core.runstore import RunStore

    return RunStore()


def _cmd_runs_list(args: argparse.Namespace) -> int:
    runs = _store().list_runs(lab=args.lab)
    rows = [
        {"run_id": r.run_id, "lab": r.lab, "verb": r.verb, "status": r.status, "created": r.created,
         "title": r.meta.get("title", ""), "metrics": r.scalar_metrics}
        for r in runs
    ]
    if args.json:
        emit({"runs": rows}, True)
    elif not rows:
        print("No runs yet. Train or run something in a lab (UI or `dynlab <lab> ...`) and it is saved here.")
    else:
        for row in rows:
            shown = ", ".join(f"{k}={v:.4g}" for k, v in list(row["metrics"].items())[:4])
            print(f"{row['run_id']}  {row['status']:8s} {row['title'][:40]:40s}  {shown}")
    return 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    run = _store().load_run(args.run_id)
    payload = {"run_id": run.run_id, "lab": run.lab, "meta": run.meta, "config": run.config,
               "metrics": run.metrics, "artifacts": run.artifacts}
    emit(payload, args.json)
    return 0


def _cmd_runs_export(args: argparse.Namespace) -> int:
    card = _store().export_card(args.run_id)
    text = json.dumps(to_jsonable(card), indent=2)
    if args.output:
        from lab.core.files import atomic_write_text

        atomic_write_text(args.output, text)
        emit({"exported": args.run_id, "path": args.output}, args.json, f"wrote {args.output}")
    else:
        sys.stdout.write(text + "\n")
    return 0


def _cmd_runs_import(args: argparse.Namespace) -> int:
    from lab.core.inputs import read_json

    card = read_json(args.card)
    store = _store()
    run_id = store.import_card(card)
    payload: dict[str, Any] = {"run_id": run_id}
    if args.rerun:
        from lab.core.jobs import run_foreground
        from lab.core.progress import TextProgress
        from lab.core.verbs import rerun_work

        lab_key, verb, _, work = rerun_work(store.load_run(run_id))
        output, rerun_id = run_foreground(lab_key, f"re-run of {card.get('run_id')}", work,
                                          progress=TextProgress(f"re-run {lab_key} {verb}"), store=store)
        payload["rerun_id"] = rerun_id
        payload["metrics"] = output.metrics
    emit(payload, args.json, f"imported as {run_id}" + (f", re-run as {payload['rerun_id']}" if "rerun_id" in payload else ""))
    return 0


def _cmd_runs_delete(args: argparse.Namespace) -> int:
    _store().delete_run(args.run_id)
    emit({"deleted": args.run_id}, args.json, f"deleted {args.run_id}")
    return 0


# -- dynlab sweep ----------------------------------------------------------------------------------
def _cmd_sweep(args: argparse.Namespace) -> int:
    from lab.core.backends import check_backend
    from lab.core.cli import read_config_file
    from lab.core.progress import TextProgress
    from lab.core.sweep import SweepConfig, parse_grid
    from lab.core.verbs import get_verb, run_foreground_verb

    get_verb(args.lab, args.verb)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(",") if s.strip())
    except ValueError:
        raise LabInputError(f"--seeds '{args.seeds}' is not a list of integers; write e.g. --seeds 0,1,2.") from None
    config = SweepConfig(lab=args.lab, verb=args.verb, base=read_config_file(args.config),
                         grid=parse_grid(args.grid or [], args.lab, args.verb), seeds=seeds,
                         backend=check_backend(args.backend), workers=args.workers)
    output, run_id = run_foreground_verb(args.lab, "sweep", config,
                                         progress=TextProgress(f"sweep {args.lab} {args.verb}"))
    doc = {**output.result.to_json(), "run_id": run_id}
    lines = [f"{len(doc['points'])} points on {doc['backend']} in {doc['seconds']:.1f} s (run {run_id})"]
    for row in output.result.table():
        lines.append("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in row.items() if v != ""))
    emit(doc, args.json, "\n".join(lines))
    return 0


def _unavailable(message: str):
    """The handler of a lab group whose commands could not be loaded: one line, exit 2."""

    def handler(args: argparse.Namespace) -> int:
        raise LabInputError(message)

    return handler


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="dynlab",
        description="Dynamic Networks Lab: train, watch and take apart dynamic networks. Every verb takes --json.",
    )
    parser.add_argument("--version", action="version", version=f"dynlab {lab.__version__}")
    groups = parser.add_subparsers(dest="group", metavar="<command>", parser_class=OneLineArgumentParser)

    app = groups.add_parser("app", help="start the web app (same as `make app`)")
    app.add_argument("--port", type=int, default=8501)
    app.set_defaults(func=_cmd_app)

    runs = groups.add_parser("runs", help="list, show, export and import saved runs")
    verbs = runs.add_subparsers(dest="verb", metavar="<verb>", parser_class=OneLineArgumentParser)
    p = verbs.add_parser("list", help="list saved runs, newest first")
    p.add_argument("--lab", help="only runs of this lab")
    add_json_flag(p)
    p.set_defaults(func=_cmd_runs_list)
    p = verbs.add_parser("show", help="show one run")
    p.add_argument("run_id")
    add_json_flag(p)
    p.set_defaults(func=_cmd_runs_show)
    p = verbs.add_parser("export", help="export a run as a JSON lab card")
    p.add_argument("run_id")
    p.add_argument("-o", "--output", help="write the card to this file instead of stdout")
    add_json_flag(p)
    p.set_defaults(func=_cmd_runs_export)
    p = verbs.add_parser("import", help="import a lab card (and optionally re-run it)")
    p.add_argument("card", help="a lab card .json file")
    p.add_argument("--rerun", action="store_true", help="re-run the card's config and save the result as a new run")
    add_json_flag(p)
    p.set_defaults(func=_cmd_runs_import)
    p = verbs.add_parser("delete", help="delete a run")
    p.add_argument("run_id")
    add_json_flag(p)
    p.set_defaults(func=_cmd_runs_delete)
    runs.set_defaults(func=lambda a: (runs.print_help(), 0)[1])

    p = groups.add_parser("sweep", help="run a lab verb over a grid of config values and seeds (local or Ray)",
                          description="Every point (grid combination x seed) runs as a job; the table is saved as "
                                      "one run as it goes. --json prints {points: [{config, seed, metrics, status, "
                                      "error}], seconds, backend, run_id}.")
    p.add_argument("lab", help="the lab's key, e.g. connectome")
    p.add_argument("verb", help="the verb to sweep, e.g. run")
    p.add_argument("--grid", action="append", metavar="FIELD=V1,V2,...", help="a config field and its values (repeat)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--backend", choices=("local", "ray"), default=None,
                   help="where points run (default: ray when DYNLAB_RAY_ADDRESS is set, else local)")
    p.add_argument("--workers", type=int, default=0, help="points at once (0: DYNLAB_MAX_JOBS locally, 16 on Ray)")
    p.add_argument("--config", help="a JSON file of base config fields (or a lab card)")
    add_json_flag(p)
    p.set_defaults(func=_cmd_sweep)

    from lab.core.registry import labs

    for spec in labs():
        if not spec.built:
            continue  # a lab that is declared but not built has no command group yet
        group = groups.add_parser(spec.key, help=f"{spec.title}: {spec.question}", aliases=list(spec.aliases))
        verbs = group.add_subparsers(dest="verb", metavar="<verb>", parser_class=OneLineArgumentParser)
        try:
            if spec.cli:  # hand-made parsers for verbs that need more than their config's fields
                importlib.import_module(spec.cli).register(verbs)
            for verb in spec.verbs:
                if verb.name not in verbs.choices:
                    add_verb_parser(verbs, spec.key, verb)
        except Exception as err:  # one lab that cannot load must not take every other lab's commands with it
            logging.getLogger(__name__).error("the %s lab's commands could not be loaded", spec.key, exc_info=True)
            message = f"the {spec.title} lab could not be loaded ({type(err).__name__}: {err}); see the log above."
            group.set_defaults(func=_unavailable(message))
            continue
        group.set_defaults(func=lambda a, g=group: (g.print_help(sys.stdout), 0)[1])
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="dynlab: %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except LabInputError as err:
        sys.stderr.write(f"dynlab: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("dynlab: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
