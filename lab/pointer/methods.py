"""The methods the pointer page offers: shipped checkpoints, models trained on the page, classical solvers.

Each is a :class:`MethodOption` whose ``key`` is its stable URL value and whose :meth:`MethodOption.fields`
are the :class:`~lab.pointer.service.SolveConfig` fields that pick it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.core.errors import LabInputError
from lab.pointer import zoo
from lab.pointer.solvers import SOLVERS

log = logging.getLogger(__name__)
ZOO_KEY = "zoo:"  # + a shipped checkpoint's name: its option's key (and URL value)


@dataclass(frozen=True)
class MethodOption:
    """One entry of the page's method picker; ``key`` is its stable URL value."""

    key: str
    label: str
    kind: str  # "model", "untrained", "trained" (a run's checkpoint), "solver" or "exact"
    model: str | None = None
    checkpoint: str | None = None
    solver: str = "farthest_insertion"

    @property
    def short_label(self) -> str:
        """The label without its parenthesised kind: ``am_tsp50``, ``classical: 2-opt``."""
        return self.label.split(" (")[0]

    def fields(self) -> dict[str, Any]:
        """The :class:`SolveConfig` fields that pick this method."""
        return {"model": self.model, "checkpoint": self.checkpoint, "solver": self.solver}


def method_options(task: str, extra: Sequence[MethodOption] = ()) -> list[MethodOption]:
    """``extra`` (models trained here) first, then shipped checkpoints, an untrained Ptr-Net, classical methods."""
    options: list[MethodOption] = list(extra)
    for entry in zoo.available():
        if entry.task == task:
            label = f"{entry.name} ({'attention model' if entry.model == 'am' else 'Ptr-Net'}, shipped)"
            options.append(MethodOption(ZOO_KEY + entry.name, label, "model", entry.model, str(entry.path)))
    options.append(MethodOption("untrained:ptrnet", "Ptr-Net, untrained (random weights)", "untrained", "ptrnet",
                                zoo.UNTRAINED))
    if task == "tsp":
        for name in ("farthest_insertion", "two_opt", "christofides", "nearest_neighbour", "reference", "held_karp"):
            options.append(MethodOption(f"solver:{name}", f"classical: {SOLVERS[name].label}", "solver", solver=name))
    else:
        options.append(MethodOption("exact", "classical: scipy (exact labels)", "exact"))
    return options


def trained_option(run_id: str, checkpoint: str, config: Mapping[str, Any], verb: str = "train") -> MethodOption:
    """A model trained on the page, offered by its run's checkpoint (``artifacts/model.pt``).

    ``verb`` "fit-start": a start head fitted to ``config["checkpoint"]`` (an attention model for TSP).
    """
    if verb == "fit-start":
        return MethodOption(f"run:{run_id}", f"trained here: {checkpoint_name(str(config.get('checkpoint')))} + start "
                            f"head (run {run_id})", "trained", "am", checkpoint)
    label = f"trained here: {config.get('model')} {config.get('task')} n={config.get('n_min')}..{config.get('n_max')} " \
            f"(run {run_id})"
    return MethodOption(f"run:{run_id}", label, "trained", str(config.get("model")), checkpoint)


def checkpoint_name(checkpoint: str) -> str:
    """How a page names a checkpoint: a zoo name as it is, a run's model as ``run <id>``, else the file's stem."""
    path = Path(checkpoint)
    if not path.suffix:
        return checkpoint
    if path.parent.name == "artifacts":  # <runs>/<run id>/artifacts/model.pt
        return f"run {path.parent.parent.name}"
    return path.stem


def trained_options(task: str, run_ids: Sequence[str]) -> list[MethodOption]:
    """Models trained for ``task`` by the runs ``run_ids`` (runs deleted since are left out)."""
    from lab.core.runstore import RunStore

    found = []
    for run_id in run_ids:
        try:
            run = RunStore().load_run(run_id)
        except LabInputError as err:
            log.info("not offering the model of run %s: %s", run_id, err)  # deleted on the Runs page, usually
            continue
        if (run.verb == "train" and run.config.get("task") == task) or (run.verb == "fit-start" and task == "tsp"):
            found.append(trained_option(run_id, str(run.artifact_path("model.pt")), run.config, run.verb))
    return found


def default_method(options: Sequence[MethodOption], task: str | None = None, n: int | None = None) -> MethodOption:
    """The method a page opens with: the shipped model preferred for ``task`` at ``n`` points, if offered.

    The order is :func:`lab.pointer.zoo.preference` (the CLI's :func:`~lab.pointer.zoo.default_name`), so a
    link to TSP50 opens on the model trained on TSP50. Without ``task`` or when none is offered: the first
    shipped model, else the first classical method (never the untrained one).
    """
    shipped = {opt.key: opt for opt in options if opt.kind == "model"}
    for name in zoo.preference(task, n) if task else []:
        if ZOO_KEY + name in shipped:
            return shipped[ZOO_KEY + name]
    for kind in ("model", "solver", "exact"):
        for opt in options:
            if opt.kind == kind:
                return opt
    return options[0]


def suited_model(options: Sequence[MethodOption], task: str, n: int, current: MethodOption) -> MethodOption | None:
    """The shipped model preferred at ``n`` points when it is not ``current`` (a page's hint), else None."""
    best = default_method(options, task, n)
    return best if best.kind == "model" and best.key != current.key else None
