"""What a lab declares about itself: :class:`LabSpec` and its :class:`Verb` s.

Every lab package ``lab/<key>/__init__.py`` defines ``LAB = LabSpec(...)``; :mod:`lab.core.registry`
finds them. Everything else follows from the declaration, once, in ``lab/core`` and ``app/``: the CLI
group (``dynlab <key> <verb>``), jobs, saving, re-running a saved run by its verb, the contract test.

Config classes and run functions are named as ``"module:name"`` strings so that listing labs (the Home
page, ``dynlab --help``) imports nothing heavy.

A verb's ``run`` has the signature ``run(config, on_progress=None, data=None) -> result``:

- ``config``: an instance of the verb's :class:`~lab.core.config.LabConfig`;
- ``on_progress``: a :class:`~lab.core.progress.ProgressCallback`; a ``True`` return asks the work to stop,
  and the work then returns the partial result it has (a partial result is a result);
- ``data``: optional in-memory input the config cannot name (an uploaded file, already parsed);
- ``result``: has ``metrics() -> dict`` (JSON-safe scalars, optional ``"curves"``), and may have
  ``artifacts() -> dict[name, bytes | str]``, ``to_json() -> dict`` (the CLI's ``--json`` document) and
  ``title() -> str``.

Metric names that hold wall-clock measurements end in ``seconds`` or contain ``per_s``: they are
the only metrics allowed to differ between two runs of one config with one seed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def resolve(target: str) -> Any:
    """Import ``"module:name"`` and return the object."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Verb:
    """One thing a lab does: a config class and a run function (see the module docstring).

    Parameters
    ----------
    name : str
        The CLI verb and the name saved with every run (``"solve"``, ``"train"``, ``"run"``).
    config, run : str
        ``"module:ClassName"`` and ``"module:function"``.
    help : str
        One line for ``dynlab <lab> --help``.
    example : mapping
        A small, fast config (as a dict) that the contract test runs.
    """

    name: str
    config: str
    run: str
    help: str = ""
    example: Mapping[str, Any] = field(default_factory=dict)

    def config_class(self) -> type:
        return resolve(self.config)

    def run_function(self) -> Callable[..., Any]:
        return resolve(self.run)


@dataclass(frozen=True)
class LabSpec:
    """A lab as it declares itself; a lab with no verbs is one that is not built yet."""

    key: str
    title: str
    question: str
    papers: tuple[str, ...]
    icon: str  # a Material Symbols name, e.g. ":material/route:"
    page: str  # file under pages/
    order: int = 100  # position in the sidebar and on Home
    verbs: tuple[Verb, ...] = ()
    cli: str | None = None  # a module with ``register(verbs_subparsers)`` adding hand-made verb parsers
    aliases: tuple[str, ...] = ()  # other names of the CLI group (``dynlab traj`` for trajectories)

    @property
    def built(self) -> bool:
        return bool(self.verbs)

    def verb(self, name: str) -> Verb:
        for verb in self.verbs:
            if verb.name == name:
                return verb
        from lab.core.errors import LabInputError

        known = ", ".join(v.name for v in self.verbs) or "none yet"
        raise LabInputError(f"the {self.title} lab has no verb {name!r}; its verbs: {known}.")
