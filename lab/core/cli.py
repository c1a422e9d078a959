"""Command-line helpers every lab's ``cli.py`` uses (a lab never imports the top-level command).

- :class:`OneLineArgumentParser`: a bad argument is one line on stderr and exit code 2;
- :func:`emit`: ``--json`` documents on stdout, or text for people;
- :func:`add_common_args`: ``--seed``, ``--device`` (default: ``DYNLAB_DEVICE``, else ``auto``), ``--json``;
- :func:`add_config_arguments` / :func:`config_values`: ``--field-name`` options whose defaults come
  from the config class (shown in ``--help``), so a default is written once, in the config;
- :func:`add_verb_parser`: the whole parser of a verb made from its declaration (labs that need no
  hand-made options get their verbs this way), and :func:`run_verb_command` runs it with a text bar.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from typing import Any

from lab.core.config import parse_bool
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad arguments as a single line on stderr (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def emit(payload: Any, as_json: bool, text: str | None = None) -> None:
    """Print ``payload`` as JSON (``--json``) or ``text`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(payload)) + "\n")
    else:
        sys.stdout.write((text if text is not None else json.dumps(to_jsonable(payload), indent=2)) + "\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")


def add_common_args(parser: argparse.ArgumentParser, *, seed_default: int | None = 0, device: bool = True) -> None:
    """``--seed``, ``--device`` and ``--json``, the same in every verb."""
    if seed_default is not None:
        parser.add_argument("--seed", type=int, default=seed_default, help=f"seed (default {seed_default})")
    if device:
        parser.add_argument("--device", default=None,
                            help="auto, cpu, cuda or mps (default: DYNLAB_DEVICE, else auto); "
                                 "falls back to cpu, saying so")
    add_json_flag(parser)


def cli_device(requested: str | None) -> str:
    """The device to use for ``--device`` (``None``: ``DYNLAB_DEVICE``, else auto); a fallback is said."""
    import os

    from lab.core.device import resolve_device

    choice = resolve_device(requested)
    asked = (requested or os.environ.get("DYNLAB_DEVICE", "")).strip().lower()
    if asked and asked != "auto" and choice.name != asked:  # asked here or by DYNLAB_DEVICE: say so
        sys.stderr.write(f"note: {choice.reason}\n")
    return choice.name


def check_seed(seed: int) -> int:
    if seed < 0:
        raise LabInputError(f"--seed is {seed}; use a non-negative integer.")
    return seed


# -- options made from a config class ------------------------------------------------------------------
def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def scalar_type(hint: Any) -> tuple[Any, bool]:
    """(argparse type, takes several values) for a field's annotation; (None, False) if not a CLI type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return scalar_type(args[0]) if len(args) == 1 else (None, False)
    if origin is tuple:
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        inner, _ = scalar_type(args[0]) if args else (str, False)
        return inner, True
    if hint is bool:
        return "bool", False
    if hint in (int, float, str):
        return hint, False
    return None, False


def _parse_bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type, names: list[str] | None = None,
                         *, skip: tuple[str, ...] = (), helps: dict[str, str] | None = None) -> list[str]:
    """Add ``--field`` for each simple field of ``config_cls`` (default ``None``: the config's own default).

    Returns the field names added. Fields whose type has no command-line form (dicts) are left out.
    """
    hints = typing.get_type_hints(config_cls)
    helps = helps or {}
    added = []
    for f in dataclasses.fields(config_cls):
        if (names is not None and f.name not in names) or f.name in skip or f.name.startswith("_"):
            continue
        kind, many = scalar_type(hints.get(f.name))
        if kind is None:
            continue
        default = config_cls.default(f.name)
        shown = json.dumps(to_jsonable(default))
        text = f"{helps.get(f.name, '')} (default {shown})".strip()
        if kind == "bool":
            parser.add_argument(_option(f.name), type=_parse_bool, default=None, metavar="true|false", help=text)
        else:
            parser.add_argument(_option(f.name), type=kind, default=None, nargs="+" if many else None, help=text)
        added.append(f.name)
    return added


def config_values(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The fields given on the command line (the others keep the config's defaults)."""
    values = {}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    return values


def read_config_file(path: str | None) -> dict[str, Any]:
    """``--config BASE.json``: a config dict (or a lab card, whose ``config`` is used)."""
    if not path:
        return {}
    from lab.core.inputs import read_json

    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and data.get("format"):
        data = data["config"]
    if not isinstance(data, dict):
        raise LabInputError(f"{path} must hold a JSON object of config fields.")
    return data


# -- a verb's parser from its declaration --------------------------------------------------------------
def add_verb_parser(verbs: Any, lab: str, verb: Any) -> argparse.ArgumentParser:
    """``dynlab <lab> <verb>`` with one option per config field, ``--config``, ``--device``, ``--json``."""
    cls = verb.config_class()
    p = verbs.add_parser(verb.name, help=verb.help, description=f"{verb.help} Prints the run's metrics; "
                         "--json prints {run_id, metrics, result}.")
    names = add_config_arguments(p, cls, skip=("device",))
    p.add_argument("--config", help="a JSON file of config fields (or a lab card) to start from")
    if "device" in cls.field_names():
        p.add_argument("--device", default=None, help="auto, cpu, cuda or mps (default: DYNLAB_DEVICE, else auto)")
    add_json_flag(p)
    p.set_defaults(func=lambda args: run_verb_command(lab, verb.name, args, names))
    return p


def run_verb_command(lab: str, verb: str, args: argparse.Namespace, names: list[str], *, data: Any = None,
                     data_key: str = "", extra: dict[str, Any] | None = None) -> int:
    """Build the config from ``--config`` and the options, run the verb with a text bar, print the outcome."""
    from lab.core.progress import TextProgress
    from lab.core.verbs import make_config, run_foreground_verb

    values = {**read_config_file(getattr(args, "config", None)), **config_values(args, names), **(extra or {})}
    config_fields = make_config(lab, verb, {}).field_names()
    if "device" in config_fields:
        values["device"] = cli_device(getattr(args, "device", None) or values.get("device"))
    config = make_config(lab, verb, values)
    output, run_id = run_foreground_verb(lab, verb, config, data=data, data_key=data_key,
                                         progress=TextProgress(f"{lab} {verb}"))
    result = output.result
    doc: dict[str, Any] = {"run_id": run_id, "metrics": output.metrics}
    if callable(getattr(result, "to_json", None)):
        doc["result"] = result.to_json()
    shown = {k: v for k, v in output.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    text = f"{lab} {verb}: " + "  ".join(f"{k}={v:.4g}" for k, v in shown.items()) + f"\nsaved as run {run_id}"
    emit(doc, bool(getattr(args, "json", False)), text)
    return 0
