"""How a model does as n grows: one measurement used by training cards, the benchmark, the page and the CLI.

:func:`measure` scores a model on seeded random instances of one size -- the TSP gap to the reference
(fraction: ``length / reference - 1``), or the hull's / Delaunay's accuracy and coverage -- and
:func:`sweep` repeats it over sizes (instances of size n are seeded ``seed + n``). The ``generalise`` verb
(:class:`GeneraliseConfig`, :func:`run_generalise`) runs it for one model, so the page and ``dynlab pointer
generalise`` measure a model's generalisation the same way as ``benchmarks/pointer.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.pointer import metrics as pm
from lab.pointer import tasks

#: Sizes of a sweep, per task; far past each shipped model's training range.
GRIDS = {"tsp": (5, 10, 20, 50, 100, 200, 500), "hull": (5, 10, 20, 50, 100, 200), "delaunay": (5, 7, 10, 15, 20)}
#: The metrics that say how well a task is solved, headline first (all in [0, 1] but the TSP gap).
METRICS = {"tsp": ("gap",), "hull": ("accuracy", "area_coverage"), "delaunay": ("accuracy", "triangle_coverage")}
#: The benchmark's results, whose ``generalisation`` rows the page shows.
BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "pointer.json"

log = logging.getLogger(__name__)

References = Callable[[np.ndarray], np.ndarray]

_REFERENCE_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def reference_lengths(n: int, num: int, seed: int) -> np.ndarray:
    """Reference tour lengths (``tasks.tsp_reference``) of ``random_instances(n, num, seed)``, cached."""
    key = (n, num, seed)
    if key not in _REFERENCE_CACHE:
        pts = tasks.random_instances(n, num, seed)
        _REFERENCE_CACHE[key] = np.array([tasks.tour_length(p, tasks.tsp_reference(p)) for p in pts])
    return _REFERENCE_CACHE[key]


def measure(model: Any, task: str, n: int, num: int, seed: int, method: str = "greedy", *, device: str = "cpu",
            hull_rule: str = "simple", references: References | None = None,
            distance_prior: float = 0.0) -> dict[str, float]:
    """Mean metrics of ``model`` on ``tasks.random_instances(n, num, seed)``, decoded with ``method``
    (and the attention model's ``distance_prior``, see ``decoding.decode``).

    Returns
    -------
    dict
        TSP: ``gap`` (mean of ``length / reference - 1``; the reference from ``references(points)``
        when given, else :func:`reference_lengths`); hull and Delaunay: the means of
        :func:`~lab.pointer.metrics.hull_scores` / ``delaunay_scores`` (accuracy, coverage, ...); and
        ``instances_per_second`` of the decoding.
    """
    from lab.pointer.decoding import decode

    pts = tasks.random_instances(n, num, seed)
    start = time.perf_counter()
    outs = decode(model, pts, task, method, device=device, seed=seed, hull_rule=hull_rule,
                  distance_prior=distance_prior)
    row: dict[str, float] = {"instances_per_second": num / max(time.perf_counter() - start, 1e-9)}
    if task == "tsp":
        ref = references(pts) if references is not None else reference_lengths(n, num, seed)
        lengths = np.array([tasks.tour_length(p, o.sequence) for p, o in zip(pts, outs, strict=True)])
        row["gap"] = float(np.mean(lengths / ref - 1))
    else:
        score = pm.hull_scores if task == "hull" else pm.delaunay_scores
        scores = [score(p, o.sequence) for p, o in zip(pts, outs, strict=True)]
        row.update({k: float(np.mean([s[k] for s in scores])) for k in scores[0]})
    return row


def sweep(model: Any, task: str, sizes: Sequence[int], num: int, seed: int, *, label: str, method: str = "greedy",
          device: str = "cpu", hull_rule: str = "simple", references: References | None = None,
          on_progress: ProgressCallback | None = None, distance_prior: float = 0.0) -> list[dict[str, Any]]:
    """One row per size: ``{label, task, n, num, <metrics of measure>}``; size n uses seed ``seed + n``.

    With a ``distance_prior`` the rows say so (``distance_prior``: alpha); without, they have no such key.

    A stop request (``on_progress`` returns True) ends the sweep after the current size.
    """
    rows: list[dict[str, Any]] = []
    for i, n in enumerate(sizes):
        found = measure(model, task, int(n), num, seed + int(n), method, device=device, hull_rule=hull_rule,
                        references=references, distance_prior=distance_prior)
        prior = {"distance_prior": float(distance_prior)} if distance_prior else {}
        rows.append({"label": label, "task": task, "n": int(n), "num": int(num), **prior, **found})
        if report(on_progress, i + 1, len(sizes), {"n": float(n), METRICS[task][0]: found[METRICS[task][0]]}):
            break
    return rows


def benchmark_rows(task: str, path: str | Path = BENCHMARK) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The benchmark's generalisation rows for ``task`` and where they came from (command, date, sample size)."""
    path = Path(path)
    try:
        bench = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as err:
        log.warning("not showing the benchmark results %s: %s", path, err)
        bench = {}
    rows = [row for row in bench.get("generalisation", []) if row.get("task") == task]
    about = {"command": bench.get("command"), "date_utc": bench.get("date_utc"),
             "num_per_n": bench.get("sample_sizes", {}).get("generalisation_per_n")}
    return rows, about


#: TSPLIB results of ``benchmarks/pointer_tsplib.py`` (real instances, gap to the published optimum).
TSPLIB_RESULTS = BENCHMARK.parent / "pointer_tsplib.json"


def tsplib_rows(decode: str = "greedy", path: str | Path = TSPLIB_RESULTS) -> list[dict[str, Any]]:
    """``[{"label": model, "n", "gap", "name"}]``: every shipped model's gap on every measured TSPLIB instance."""
    path = Path(path)
    try:
        found = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as err:
        log.warning("not showing the TSPLIB results %s: %s", path, err)
        return []
    rows = []
    for inst in found.get("instances", []):
        for method, m in inst.get("methods", {}).items():
            model, _, how = method.partition(" ")
            if how == decode and "gap" in m:
                rows.append({"label": model, "n": int(inst["n"]), "gap": float(m["gap"]), "name": inst["name"]})
    return rows


# -- the ``generalise`` verb ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneraliseConfig(LabConfig):
    """One model's metrics over sizes.

    Parameters
    ----------
    task, model, checkpoint, hull_rule, device
        As in :class:`~lab.pointer.service.SolveConfig`; the model is one for every size. Without a
        ``checkpoint``: the shipped model that ``solve`` would take at the smallest size measured
        (:func:`lab.pointer.zoo.default_name`), so sizes 50-500 measure ``am_tsp50`` and 10-200 ``am_tsp20``.
    sizes : tuple of int
        Empty: the first four sizes of the task's :data:`GRIDS` (the benchmark's ``--quick`` grid: seconds).
    num, seed : int
        Instances per size; size n draws them with seed ``seed + n``.
    distance_prior : float
        TSP with an attention model: the decoding-time prior of ``decoding.decode`` (0, the default: the
        network alone); the rows then carry ``distance_prior``.
    """

    task: str = "tsp"
    model: str = "auto"
    checkpoint: str | None = None
    decode: str = "greedy"
    sizes: tuple[int, ...] = ()
    num: int = 16
    seed: int = 0
    hull_rule: str = "simple"
    device: str = "cpu"
    distance_prior: float = 0.0

    def __post_init__(self) -> None:
        from lab.pointer.service import DECODERS, MODELS, check_distance_prior
        from lab.pointer.tasks import HULL_RULES, TASKS

        super().__post_init__()
        self.check_choice("task", TASKS)
        self.check_choice("model", (*MODELS, "auto"))
        self.check_choice("decode", DECODERS, what="decoding")
        self.check_choice("hull_rule", HULL_RULES)
        if self.decode == "pomo" and self.task == "delaunay":
            raise LabInputError("POMO decoding is for the TSP and the hull; use greedy, beam or sample for Delaunay.")
        self.normalise("sizes", tuple(int(n) for n in (self.sizes or GRIDS[self.task][:4])))
        if any(n < 3 for n in self.sizes) or self.num < 1:
            raise LabInputError(f"sizes must be >= 3 and num >= 1, got sizes={list(self.sizes)}, num={self.num}.")
        check_distance_prior(self.distance_prior, self.task if self.model != "ptrnet" else "")


@dataclass
class GeneraliseResult:
    config: GeneraliseConfig
    label: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    trained_range: tuple[int, int] | None = None

    def metrics(self) -> dict[str, Any]:
        """``<metric>_n<n>`` per size, and ``instances_per_second_n<n>`` (a timing)."""
        out: dict[str, Any] = {}
        for row in self.rows:
            for key in (*METRICS[self.config.task], "instances_per_second"):
                out[f"{key}_n{row['n']}"] = row[key]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"task": self.config.task, "label": self.label, "rows": self.rows,
                "trained_range": list(self.trained_range) if self.trained_range else None}

    def artifacts(self) -> dict[str, str]:
        from lab.pointer.results import rows_csv

        return {"generalisation.csv": rows_csv(self.rows)}

    def title(self) -> str:
        return f"generalise {self.config.task}: {self.label}, n = {', '.join(str(r['n']) for r in self.rows)}"


def run_generalise(config: GeneraliseConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> GeneraliseResult:
    """The ``generalise`` verb: :func:`sweep` for the model the config names (``data`` is not used)."""
    from lab.core.device import resolve_device
    from lab.pointer import zoo
    from lab.pointer.service import SolveConfig, choose_model, load_model

    solve_config = SolveConfig(task=config.task, model=config.model, checkpoint=config.checkpoint)
    # one model for every size: the shipped one preferred at the smallest size measured (the sweep's start)
    model, checkpoint, _ = choose_model(solve_config, min(config.sizes))
    if model is None or checkpoint is None:
        raise LabInputError(f"there is no pointer model for {config.task} to measure; train one or pass a checkpoint.")
    device = resolve_device(config.device).name
    net = load_model(config.task, model, checkpoint, device)
    label = Path(checkpoint).stem if checkpoint != zoo.UNTRAINED else f"{model}, untrained"
    rows = sweep(net, config.task, config.sizes, config.num, config.seed, label=label, method=config.decode,
                 device=device, hull_rule=config.hull_rule, on_progress=on_progress,
                 distance_prior=config.distance_prior)
    return GeneraliseResult(config, label, rows, zoo.trained_range(checkpoint))
