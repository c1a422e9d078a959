"""Solve a batch of instances with a pointer model (or a classical solver) and score it against a reference.

The one entry point the CLI and the page share: :func:`solve_instances` takes instances in their own
units and a :class:`SolveConfig`, normalises coordinates for the model, decodes, then measures
lengths with each instance's own distance convention (TSPLIB rounding for ``.tsp`` files) and
compares with the reference: fast-tsp for TSP (exact up to 20 nodes), scipy's exact hull and
Delaunay labels for the other tasks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.errors import LabInputError
from lab.pointer import metrics
from lab.pointer.io import Instance
from lab.pointer.solvers import SOLVERS, solve
from lab.pointer.tasks import HULL_RULES, TASKS, convex_hull_label, delaunay_label, is_valid_tour, normalize

MODELS = ("am", "ptrnet")
DECODERS = ("greedy", "beam", "sample", "pomo")
#: Model kind used when none is named, per task.
DEFAULT_MODEL = {"tsp": "am", "hull": "ptrnet", "delaunay": "ptrnet"}


@dataclass
class SolveConfig:
    """What to run.

    Parameters
    ----------
    task : {"tsp", "hull", "delaunay"}
    model : {"am", "ptrnet"} or None
        A pointer model; None runs ``solver`` instead (TSP) or the exact scipy label (hull, Delaunay).
    checkpoint : str or None
        A checkpoint path or shipped-zoo name; None takes the shipped checkpoint for (task, model).
    decode : {"greedy", "beam", "sample", "pomo"}
    solver : str
        Classical TSP solver (``lab.pointer.solvers.SOLVERS``) used when ``model`` is None.
    reference : bool
        Compute the reference (TSP) and gaps.
    trace : bool
        Keep the pointer distribution at every decoding step (for the step-through view).
    hull_rule : {"simple", "convex", "index"}
        Hull only: the geometric rule that keeps a model's output valid (``decoding.decode``).
    """

    task: str = "tsp"
    model: str | None = None
    checkpoint: str | None = None
    decode: str = "greedy"
    beam_width: int = 5
    num_samples: int = 16
    solver: str = "farthest_insertion"
    reference: bool = True
    trace: bool = False
    device: str = "cpu"
    reference_time_limit: float | None = None
    hull_rule: str = "simple"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise LabInputError(f"unknown task {self.task!r}; choose one of {', '.join(TASKS)}.")
        if self.model is not None and self.model not in MODELS:
            raise LabInputError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")
        if self.decode not in DECODERS:
            raise LabInputError(f"unknown decoding {self.decode!r}; choose one of {', '.join(DECODERS)}.")
        if self.decode == "pomo" and self.task == "delaunay":
            raise LabInputError("POMO decoding is for the TSP and the hull; use greedy, beam or sample for Delaunay.")
        if self.solver not in SOLVERS:
            raise LabInputError(f"unknown solver {self.solver!r}; choose one of {', '.join(SOLVERS)}.")
        if self.beam_width < 1 or self.num_samples < 1:
            raise LabInputError("beam width and number of samples must be at least 1.")
        if self.hull_rule not in HULL_RULES:
            raise LabInputError(f"unknown hull rule {self.hull_rule!r}; choose one of {', '.join(HULL_RULES)}.")


@dataclass
class InstanceResult:
    """One instance: the method's output next to the reference, in the instance's own units.

    ``output`` is a tour (n,) for TSP, hull indices (h,) for hull, triangles (T, 3) for Delaunay.
    ``attention`` is (steps, m) — the pointer distribution per decoding step (m = n, or n + 1 with EOS).
    """

    name: str
    points: np.ndarray
    distance: str
    output: np.ndarray
    reference: np.ndarray | None
    length: float | None = None
    reference_length: float | None = None
    gap: float | None = None
    valid: bool = True
    scores: dict[str, float] = field(default_factory=dict)
    attention: np.ndarray | None = None
    sequence: list[int] = field(default_factory=list)
    seconds: float = 0.0
    reference_seconds: float = 0.0

    def to_json(self, task: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "n": int(len(self.points)), "valid": bool(self.valid)}
        if task == "tsp":
            out.update(tour=[int(i) for i in self.output], length=self.length,
                       reference_length=self.reference_length, gap=self.gap)
        elif task == "hull":
            out.update(hull=[int(i) for i in self.output])
        else:
            out.update(triangles=np.asarray(self.output).astype(int).tolist())
        if task != "tsp":
            out.update({k: v for k, v in self.scores.items() if k != "valid"})
        return out


@dataclass
class SolveResult:
    config: SolveConfig
    method: str
    instances: list[InstanceResult]
    seconds: float
    note: str = ""

    def aggregates(self) -> dict[str, float | None]:
        """Means over instances: length/gap (TSP) or accuracy and coverage (hull, Delaunay)."""
        task = self.config.task
        agg: dict[str, float | None] = {"valid_fraction": float(np.mean([r.valid for r in self.instances]))}
        if task == "tsp":
            agg["mean_length"] = float(np.mean([r.length for r in self.instances]))
            gaps = [r.gap for r in self.instances if r.gap is not None]
            agg["mean_gap"] = float(np.mean(gaps)) if gaps and len(gaps) == len(self.instances) else None
            refs = [r.reference_length for r in self.instances if r.reference_length is not None]
            agg["mean_reference_length"] = float(np.mean(refs)) if refs else None
        else:
            keys = ("accuracy", "area_coverage") if task == "hull" else ("accuracy", "triangle_coverage")
            for k in keys:
                agg[k] = float(np.mean([r.scores[k] for r in self.instances]))
        model_time = sum(r.seconds for r in self.instances)
        agg["instances_per_second"] = len(self.instances) / model_time if model_time > 0 else None
        return agg

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab pointer solve --json`` document."""
        doc: dict[str, Any] = {"task": self.config.task, "method": self.method,
                               "instances": [r.to_json(self.config.task) for r in self.instances]}
        doc.update(self.aggregates())
        doc["seconds"] = self.seconds
        if self.note:
            doc["note"] = self.note
        return doc


# -- models ----------------------------------------------------------------------------------------
def find_checkpoint(task: str, model: str | None = None):
    """The preferred shipped zoo entry for ``task`` (and ``model`` if given), or None when there is none yet."""
    try:
        from lab.pointer import zoo
    except ImportError:
        return None
    name = zoo.default_name(task, model) if hasattr(zoo, "default_name") else None
    for entry in zoo.available():
        if (name is not None and entry.name == name) or (
                name is None and entry.task == task and (model is None or entry.model == model)):
            return entry
    return None


def load_model(task: str, model: str, checkpoint: str | None = None, device: str = "cpu"):
    """Load a pointer model: the given checkpoint (path or zoo name) or the shipped one for (task, model)."""
    try:
        from lab.pointer import zoo
    except ImportError:
        raise LabInputError(f"the pointer models are not installed yet, so there is no {model} checkpoint for "
                            f"{task}; run without --model to use a classical solver.") from None
    if checkpoint is None:
        entry = find_checkpoint(task, model)
        if entry is None:
            raise LabInputError(f"there is no trained {model} checkpoint for {task} yet; train one with "
                                f"`dynlab pointer train --task {task} --model {model}` or pass --checkpoint PATH.")
        checkpoint = str(entry.path)
    net = zoo.load(checkpoint, task=task, model=model)
    return net.to(device) if hasattr(net, "to") else net


def _decode_group(net: Any, points01: np.ndarray, config: SolveConfig) -> list[Any]:
    from lab.pointer.decoding import decode

    return decode(net, points01, config.task, config.decode, beam_width=config.beam_width,
                  num_samples=config.num_samples, trace=config.trace, device=config.device,
                  hull_rule=config.hull_rule)


def _model_output(task: str, sequence: list[int], n: int) -> np.ndarray:
    if task == "delaunay":
        return metrics.triangles_from_sequence(sequence)
    return np.asarray(sequence, dtype=np.int64)


# -- the service ------------------------------------------------------------------------------------
def _reference(inst: Instance, task: str, config: SolveConfig) -> tuple[np.ndarray | None, float | None, float]:
    start = time.perf_counter()
    if task == "hull":
        ref = convex_hull_label(inst.points)
    elif task == "delaunay":
        ref = delaunay_label(inst.points)
    elif config.reference:
        ref = solve("reference", inst.distance_matrix(), time_limit=config.reference_time_limit)
    else:
        return None, None, 0.0
    seconds = time.perf_counter() - start
    return ref, (inst.tour_length(ref) if task == "tsp" else None), seconds


def _score(result: InstanceResult, task: str, inst: Instance) -> None:
    if task == "tsp":
        result.valid = is_valid_tour(result.output, inst.n)
        result.length = inst.tour_length(result.output)
        result.gap = metrics.gap(result.length, result.reference_length)
    elif task == "hull":
        result.scores = metrics.hull_scores(inst.points, result.output, result.reference)
        result.valid = bool(result.scores["valid"])
    else:
        result.scores = metrics.delaunay_scores(inst.points, result.output, result.reference)
        out = np.asarray(result.output)
        result.valid = bool(out.size and out.min() >= 0 and out.max() < inst.n)


def solve_instances(instances: list[Instance], config: SolveConfig, net: Any = None,
                    method: str | None = None) -> SolveResult:
    """Run the configured method on every instance and score it.

    Parameters
    ----------
    instances : list of Instance
        Any sizes; instances of equal n are decoded as one batch.
    config : SolveConfig
    net : torch.nn.Module, optional
        An already loaded model (the page caches it); otherwise loaded from ``config``.
    method : str, optional
        A label for the output; default from the config.
    """
    if not instances:
        raise LabInputError("there are no instances to solve; give a file or --n/--num.")
    task = config.task
    start = time.perf_counter()
    if config.model is not None and net is None:
        net = load_model(task, config.model, config.checkpoint, config.device)
    results: list[InstanceResult | None] = [None] * len(instances)
    by_n: dict[int, list[int]] = {}
    for i, inst in enumerate(instances):
        by_n.setdefault(inst.n, []).append(i)
    for n, idx in by_n.items():
        outputs: list[Any] = []
        per_instance = 0.0
        if net is not None:
            pts01 = normalize(np.stack([instances[i].points for i in idx]))[0]  # (b, n, 2)
            t0 = time.perf_counter()
            outputs = _decode_group(net, pts01, config)
            per_instance = (time.perf_counter() - t0) / len(idx)
        for j, i in enumerate(idx):
            inst = instances[i]
            ref, ref_len, ref_sec = _reference(inst, task, config)
            if net is not None:
                out = outputs[j]
                seq = [int(s) for s in out.sequence]
                output, attention, sec = _model_output(task, seq, n), out.attention, per_instance
            else:
                t0 = time.perf_counter()
                if task == "tsp":
                    output = solve(config.solver, inst.distance_matrix())
                else:
                    output = ref if ref is not None else np.zeros(0, dtype=np.int64)
                sec, attention = time.perf_counter() - t0, None
                seq = np.asarray(output).reshape(-1).astype(int).tolist()
            res = InstanceResult(name=inst.name, points=inst.points, distance=inst.distance, output=output,
                                 reference=ref, reference_length=ref_len, attention=attention, sequence=seq,
                                 seconds=sec, reference_seconds=ref_sec)
            _score(res, task, inst)
            results[i] = res
    done = [r for r in results if r is not None]
    if method is None:
        if config.model is not None:
            method = f"{config.model} ({config.decode})"
        else:
            method = SOLVERS[config.solver].label if task == "tsp" else "scipy (exact)"
    return SolveResult(config=config, method=method, instances=done, seconds=time.perf_counter() - start)


# -- what the page offers -------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodOption:
    """One entry of the page's method picker; ``key`` is its stable URL value."""

    key: str
    label: str
    kind: str  # "model", "untrained", "solver" or "exact"
    model: str | None = None
    checkpoint: str | None = None
    solver: str = "farthest_insertion"


def method_options(task: str) -> list[MethodOption]:
    """Shipped checkpoints for ``task`` first, then an untrained Ptr-Net, then classical methods."""
    options: list[MethodOption] = []
    try:
        from lab.pointer import zoo

        entries = [e for e in zoo.available() if e.task == task]
    except ImportError:
        entries = []
    for entry in entries:
        label = f"{entry.name} ({'attention model' if entry.model == 'am' else 'Ptr-Net'}, shipped)"
        options.append(MethodOption(f"zoo:{entry.name}", label, "model", entry.model, str(entry.path)))
    options.append(MethodOption("untrained:ptrnet", "Ptr-Net, untrained (random weights)", "untrained", "ptrnet"))
    if task == "tsp":
        for name in ("farthest_insertion", "two_opt", "christofides", "nearest_neighbour", "reference", "held_karp"):
            options.append(MethodOption(f"solver:{name}", f"classical: {SOLVERS[name].label}", "solver", solver=name))
    else:
        options.append(MethodOption("exact", "classical: scipy (exact labels)", "exact"))
    return options


def default_method(options: list[MethodOption]) -> MethodOption:
    """The first shipped model, else the first classical method (never the untrained one)."""
    for kind in ("model", "solver", "exact"):
        for opt in options:
            if opt.kind == kind:
                return opt
    return options[0]


def result_rows(result: SolveResult) -> list[dict[str, Any]]:
    """One flat row per instance, for tables and the metrics CSV."""
    rows = []
    for i, r in enumerate(result.instances):
        row: dict[str, Any] = {"instance": i, "name": r.name, "n": len(r.points), "valid": bool(r.valid)}
        if result.config.task == "tsp":
            row.update(length=r.length, reference_length=r.reference_length,
                       gap_percent=None if r.gap is None else 100 * r.gap)
        else:
            row.update({k: v for k, v in r.scores.items() if k != "valid"})
        row.update(seconds=r.seconds, reference_seconds=r.reference_seconds)
        rows.append(row)
    return rows


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """A list of flat dicts as CSV text (header from the first row)."""
    import csv
    import io

    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def rerun(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Re-run a saved pointer run from its config dict (the run store's re-runner).

    A training config (it has ``steps`` and ``n_min``) trains again with the same seed; a solve config
    (``task``, ``n``, ``num``, ``seed`` and :class:`SolveConfig` fields) solves the same random instances again.
    Returns ``(metrics, artifacts)``.
    """
    if "steps" in config and "n_min" in config:
        from dataclasses import fields as dc_fields

        from lab.pointer.train import TrainConfig, train_job

        names = {f.name for f in dc_fields(TrainConfig)}
        kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in config.items() if k in names}
        kwargs["checkpoint_path"] = None  # never overwrite the original's checkpoint
        out = train_job(TrainConfig(**kwargs))(None)
        return out.metrics, out.artifacts
    from dataclasses import fields as dc_fields

    from lab.pointer.io import random_instance_list

    try:
        n, num, seed = int(config["n"]), int(config.get("num", 1)), int(config.get("seed", 0))
    except (KeyError, TypeError, ValueError):
        raise LabInputError("this pointer run has no n/num/seed to re-create its instances; it cannot be re-run.") from None
    names = {f.name for f in dc_fields(SolveConfig)}
    solve_config = SolveConfig(**{k: v for k, v in config.items() if k in names})
    result = solve_instances(random_instance_list(n, num, seed), solve_config)
    import json

    from lab.core.files import to_jsonable

    return result.aggregates(), {"result.json": json.dumps(to_jsonable(result.to_json()))}
