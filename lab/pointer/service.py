"""The ``solve`` verb: a pointer model (or a classical solver) on instances, scored against a reference.

:func:`run_solve` is what the CLI, the page, jobs and re-runs call. It takes instances in their own units
(given as ``data``, read from ``config.input``, or seeded random ones from ``n``/``num``/``seed``),
normalises coordinates for the model, decodes, then measures lengths with each instance's own distance
convention (TSPLIB rounding for ``.tsp`` files) and compares with the reference: fast-tsp for TSP (exact
up to 20 nodes), scipy's exact hull and Delaunay labels for the other tasks.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable
from lab.core.progress import ProgressCallback, report
from lab.pointer import metrics, zoo
from lab.pointer.io import Instance, load_instances, random_instance_list
from lab.pointer.solvers import SOLVERS, solve
from lab.pointer.tasks import HULL_RULES, TASKS, convex_hull_label, delaunay_label, is_valid_tour, normalize

log = logging.getLogger(__name__)

MODELS = ("am", "ptrnet")
#: ``model`` values: a model kind, "auto" (the shipped model for the task and size, else the classical
#: method, saying so) or None (the classical method).
MODEL_CHOICES = (*MODELS, "auto", None)
DECODERS = ("greedy", "beam", "sample", "pomo")
#: Instances decoded (and scored) between two progress reports: a stop request lands between groups.
GROUP = 64
#: Mean metrics of a solve, per task, in the order a page shows them (see :meth:`SolveResult.aggregates`).
HEADLINE = {"tsp": ("mean_gap", "mean_length"), "hull": ("accuracy", "area_coverage"),
            "delaunay": ("accuracy", "triangle_coverage")}


@dataclass(frozen=True)
class SolveConfig(LabConfig):
    """What to solve, and how.

    Parameters
    ----------
    task : {"tsp", "hull", "delaunay"}
    model : {"am", "ptrnet", "auto"} or None
        A pointer model; None runs ``solver`` instead (TSP) or the exact scipy label (hull, Delaunay);
        "auto" takes the shipped model for the task and the instances' size, else the classical method.
    checkpoint : str or None
        A checkpoint path, a shipped-zoo name, or ``"untrained"`` (random weights, torch seed 0); None takes
        the shipped checkpoint for (task, model) chosen by the instances' size (``zoo.default_name``).
    decode : {"greedy", "beam", "sample", "pomo"}
        ``sample`` draws from a generator seeded by ``seed``: same seed, same samples.
    solver : str
        Classical TSP solver (``lab.pointer.solvers.SOLVERS``) used when ``model`` is None.
    reference : bool
        TSP: also solve with the reference (fast-tsp) and report gaps (hull and Delaunay always have theirs).
    trace : bool
        Keep the pointer distribution at every decoding step (for the step-through view).
    hull_rule : {"simple", "convex", "index"}
        Hull only: the geometric rule that keeps a model's output valid (``decoding.decode``).
    n, num, seed : int
        ``num`` seeded random instances of ``n`` points, when neither ``input`` nor data is given.
    input : str or None
        A TSPLIB ``.tsp``, ``.csv`` or ``.npz`` file of instances (``lab.pointer.io.load_instances``).
    polish : bool
        TSP: also improve the method's tour by local search (2-opt then Or-opt,
        :func:`lab.pointer.solvers.polish.polish`) and report the polished tour beside the method's own.
    """

    task: str = "tsp"
    model: str | None = "auto"
    checkpoint: str | None = None
    decode: str = "greedy"
    beam_width: int = 5
    num_samples: int = 16
    solver: str = "farthest_insertion"
    reference: bool = False
    trace: bool = False
    device: str = "cpu"
    reference_time_limit: float | None = None
    hull_rule: str = "simple"
    n: int = 20
    num: int = 1
    seed: int = 0
    input: str | None = None
    polish: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("task", TASKS)
        self.check_choice("model", MODEL_CHOICES)
        self.check_choice("decode", DECODERS, what="decoding")
        self.check_choice("solver", SOLVERS)
        self.check_choice("hull_rule", HULL_RULES)
        if self.decode == "pomo" and self.task == "delaunay":
            raise LabInputError("POMO decoding is for the TSP and the hull; use greedy, beam or sample for Delaunay.")
        if self.beam_width < 1 or self.num_samples < 1:
            raise LabInputError("beam width and number of samples must be at least 1.")
        if self.polish and self.task != "tsp":
            raise LabInputError("--polish improves TSP tours; hull and Delaunay outputs have nothing to polish.")
        if self.n < 3 or self.num < 1:
            raise LabInputError(f"random instances need n >= 3 and num >= 1, got n={self.n}, num={self.num}.")


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
    polished: np.ndarray | None = None  # TSP with polish: the method's tour after 2-opt + Or-opt
    polished_length: float | None = None
    polished_gap: float | None = None
    polish_seconds: float = 0.0

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
        if self.polished is not None:  # the method's own tour stays above; the local search's result beside it
            out.update(polished_tour=[int(i) for i in self.polished], polished_length=self.polished_length,
                       polished_gap=self.polished_gap, polish_seconds=self.polish_seconds)
        return out

    def downloads(self, task: str) -> dict[str, tuple[str, str]]:
        """``{label: (text, file name)}``: the output as TSPLIB .tour and CSV (TSP) or CSV (hull, Delaunay)."""
        from lab.pointer.io import output_csv, tour_csv, tour_text

        if task == "tsp":
            files = {"Tour (.tour)": (tour_text(self.output, self.name, self.length), f"{self.name}.tour"),
                     "Tour (CSV)": (tour_csv(self.points, self.output), f"{self.name}_tour.csv")}
            if self.polished is not None:
                files["Polished tour (.tour)"] = (tour_text(self.polished, self.name, self.polished_length),
                                                  f"{self.name}_polished.tour")
            return files
        return {"Output (CSV)": (output_csv(task, self.output), f"{self.name}_{task}.csv")}

    def headline(self, task: str) -> list[tuple[str, str, str]]:
        """``(label, value, help)`` of the numbers a page shows first for this instance."""
        if task == "tsp":
            ref = "-" if self.reference_length is None else f"{self.reference_length:.6g}"
            rows = [("Length", f"{self.length:.6g}", "in the file's own units; TSPLIB files use their distance rule"),
                    ("Reference", ref, "fast-tsp (exact on integer-rounded distances up to 20 points, local search "
                                       "beyond), then 2-opt + Or-opt on the real distances; a method's tour that is "
                                       "shorter still becomes the reference: a gap is never negative"),
                    ("Gap", f"{100 * self.gap:.2f} %" if self.gap is not None else "-", "length / reference - 1")]
            if self.polished is not None:
                gap = "" if self.polished_gap is None else f" ({100 * self.polished_gap:.2f} %)"
                rows.append(("Polished", f"{self.polished_length:.6g}{gap}",
                             f"the tour above after 2-opt + Or-opt local search ({1000 * self.polish_seconds:.0f} "
                             "ms); length, gap and figure stay the method's own"))
        else:
            cov = HEADLINE[task][1]
            rows = [("Exact match", "yes" if self.scores.get("accuracy") else "no", "the exact label, as a set"),
                    (cov.replace("_", " ").capitalize(), f"{100 * self.scores[cov]:.1f} %", "of the exact label's"),
                    ("Output size", f"{len(self.output)} vs {len(self.reference)}", "predicted vs exact")]
        return rows + [("Valid", "yes" if self.valid else "no", "TSP: a permutation; hull: a simple polygon; Delaunay: distinct triangles whose edges never cross"),
                       ("Time", f"{1000 * self.seconds:.0f} ms", f"reference: {1000 * self.reference_seconds:.0f} ms")]


@dataclass
class SolveResult:
    """Instances solved by one method (all of them, or those before a stop request)."""

    config: SolveConfig
    method: str
    instances: list[InstanceResult]
    seconds: float
    note: str = ""
    total: int = 0  # instances asked for (more than ``len(instances)`` after a stop)

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
            if self.config.polish:
                agg["mean_polished_length"] = float(np.mean([r.polished_length for r in self.instances]))
                pgaps = [r.polished_gap for r in self.instances if r.polished_gap is not None]
                agg["mean_polished_gap"] = float(np.mean(pgaps)) if pgaps and len(pgaps) == len(self.instances) else None
        else:
            for k in HEADLINE[task]:
                agg[k] = float(np.mean([r.scores[k] for r in self.instances]))
        model_time = sum(r.seconds for r in self.instances)
        agg["instances_per_second"] = len(self.instances) / model_time if model_time > 0 else None
        return agg

    def summary(self) -> str:
        """The aggregates in words for people: fractions (gaps, accuracies, coverages) in percent."""
        parts = []
        for key, value in self.aggregates().items():
            if not isinstance(value, float):
                continue
            percent = any(word in key for word in ("gap", "accuracy", "coverage", "fraction"))
            parts.append(f"{key.replace('_', ' ')}: " + (f"{100 * value:.2f} %" if percent else f"{value:.4g}"))
        return "  ·  ".join(parts)

    # -- the verb result contract (lab.core.labs) ----------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Aggregates plus counts; only ``seconds`` and ``instances_per_second`` vary between equal runs."""
        return {**self.aggregates(), "instances": len(self.instances), "seconds": self.seconds}

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab pointer solve --json`` document."""
        doc: dict[str, Any] = {"task": self.config.task, "method": self.method,
                               "instances": [r.to_json(self.config.task) for r in self.instances]}
        doc.update(self.aggregates())
        doc["seconds"] = self.seconds
        if self.note:
            doc["note"] = self.note
        return doc

    def artifacts(self) -> dict[str, str]:
        return {"result.json": json.dumps(to_jsonable(self.to_json())), "metrics.csv": rows_csv(self.rows())}

    def title(self) -> str:
        return f"solve {self.config.task}: {self.method} on {len(self.instances)} instance(s)"

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per instance, for tables and the metrics CSV."""
        rows = []
        for i, r in enumerate(self.instances):
            row: dict[str, Any] = {"instance": i, "name": r.name, "n": len(r.points), "valid": bool(r.valid)}
            if self.config.task == "tsp":
                row.update(length=r.length, reference_length=r.reference_length,
                           gap_percent=None if r.gap is None else 100 * r.gap)
                if r.polished is not None:
                    row.update(polished_length=r.polished_length,
                               polished_gap_percent=None if r.polished_gap is None else 100 * r.polished_gap)
            else:
                row.update({k: v for k, v in r.scores.items() if k != "valid"})
            row.update(seconds=r.seconds, reference_seconds=r.reference_seconds)
            rows.append(row)
        return rows


def rows_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """A list of flat dicts as CSV text (header from the first row)."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# -- which model -------------------------------------------------------------------------------------
def choose_model(config: SolveConfig, n: int | None) -> tuple[str | None, str | None, str]:
    """``(model kind, checkpoint, note)`` that solve ``config`` on instances of ``n`` points (None: any n).

    Without a checkpoint the shipped one is chosen by the instances' size (``zoo.default_name``), so a
    50-node file gets the TSP50 model. ``model="auto"`` falls back to the classical method (kind None)
    when nothing is shipped, and says so in ``note``.
    """
    model, checkpoint, task = config.model, config.checkpoint, config.task
    if model is None:
        return None, None, ""
    if checkpoint is not None:
        return (zoo.card_model(checkpoint) if model == "auto" else model), checkpoint, ""
    name = zoo.default_name(task, None if model == "auto" else model, n=n)
    if name is not None:
        entry = next(e for e in zoo.available() if e.name == name)
        return entry.model, str(entry.path), ""
    if model == "auto":
        return None, None, (f"no trained checkpoint for {task} yet; used the classical baseline instead "
                            "(pass --model to insist on a model).")
    raise LabInputError(f"there is no trained {model} checkpoint for {task} yet; train one with "
                        f"`dynlab pointer train --task {task} --model {model}` or pass --checkpoint PATH.")


def load_model(task: str, model: str, checkpoint: str, device: str = "cpu"):
    """The model of a checkpoint (cached while the file is unchanged), or an untrained one."""
    if checkpoint == zoo.UNTRAINED:
        return zoo.untrained(task, model, device)
    return zoo.load_cached(checkpoint, task=task, model=model, device=device)


def _model_output(task: str, sequence: list[int]) -> np.ndarray:
    if task == "delaunay":
        return metrics.triangles_from_sequence(sequence)
    return np.asarray(sequence, dtype=np.int64)


def _reference(inst: Instance, config: SolveConfig) -> tuple[np.ndarray | None, float | None, float]:
    task = config.task
    start = time.perf_counter()
    if task == "hull":
        ref = convex_hull_label(inst.points)
    elif task == "delaunay":
        ref = delaunay_label(inst.points)
    elif config.reference:
        from lab.pointer.solvers.polish import polish

        # fast-tsp is exact on integer distances (a float instance is scaled and rounded), so on the real
        # distances its tour can be a hair long; a local-search pass on the real distances removes that.
        dist = inst.distance_matrix()
        ref = polish(dist, solve("reference", dist, time_limit=config.reference_time_limit))
    else:
        return None, None, 0.0
    seconds = time.perf_counter() - start
    return ref, (inst.tour_length(ref) if task == "tsp" else None), seconds


def _score(result: InstanceResult, task: str, inst: Instance) -> None:
    if task == "tsp":
        result.valid = is_valid_tour(result.output, inst.n)
        result.length = inst.tour_length(result.output)
        if result.valid and result.reference_length is not None and result.length < result.reference_length:
            # Shorter than the reference: then it is the best tour known, and the reference (gap 0).
            result.reference, result.reference_length = np.asarray(result.output).copy(), result.length
        result.gap = metrics.gap(result.length, result.reference_length)
    elif task == "hull":
        result.scores = metrics.hull_scores(inst.points, result.output, result.reference)
        result.valid = bool(result.scores["valid"])
    else:
        result.scores = metrics.delaunay_scores(inst.points, result.output, result.reference)
        result.valid = metrics.delaunay_valid(inst.points, result.output, inst.n)


def _polish(result: InstanceResult, inst: Instance) -> None:
    """Local search on the method's tour, measured with the instance's own distances."""
    from lab.pointer.solvers.polish import polish

    t0 = time.perf_counter()
    result.polished = polish(inst.distance_matrix(), result.output)
    result.polish_seconds = time.perf_counter() - t0
    result.polished_length = inst.tour_length(result.polished)
    result.polished_gap = metrics.gap(result.polished_length, result.reference_length)


def _solve_group(instances: list[Instance], config: SolveConfig, model: str | None, checkpoint: str | None,
                 seed: int) -> list[InstanceResult]:
    """Solve instances that share n: one decoding batch for a model, one by one for a classical method."""
    from lab.core.device import resolve_device

    task = config.task
    outputs: list[Any] = []
    per_instance = 0.0
    if model is not None:
        from lab.pointer.decoding import decode

        device = resolve_device(config.device).name
        net = load_model(task, model, checkpoint, device)
        pts01 = normalize(np.stack([inst.points for inst in instances]))[0]  # (b, n, 2)
        t0 = time.perf_counter()
        outputs = decode(net, pts01, task, config.decode, beam_width=config.beam_width,
                         num_samples=config.num_samples, trace=config.trace, device=device, seed=seed,
                         hull_rule=config.hull_rule)
        per_instance = (time.perf_counter() - t0) / len(instances)
    results = []
    for j, inst in enumerate(instances):
        ref, ref_len, ref_sec = _reference(inst, config)
        if model is not None:
            seq = [int(s) for s in outputs[j].sequence]
            output, attention, sec = _model_output(task, seq), outputs[j].attention, per_instance
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
        if config.polish:
            _polish(res, inst)
        results.append(res)
    return results


def config_instances(config: SolveConfig) -> list[Instance]:
    """The instances a config names: its ``input`` file, else ``num`` seeded random ones of ``n`` points."""
    if config.input:
        return load_instances(config.input, task=config.task)
    return random_instance_list(config.n, config.num, config.seed)


def run_solve(config: SolveConfig, on_progress: ProgressCallback | None = None,
              data: Sequence[Instance] | None = None) -> SolveResult:
    """Run the configured method on every instance and score it (the ``solve`` verb).

    Parameters
    ----------
    config : SolveConfig
    on_progress : callable, optional
        Called after every group of up to :data:`GROUP` instances of one size; ``True`` stops, and the
        result holds the instances solved so far.
    data : list of Instance, optional
        Instances in memory (an upload); else :func:`config_instances`. Any sizes: instances of equal n
        are decoded together, each size with the checkpoint chosen for it (:func:`choose_model`).
    """
    instances = list(data) if data is not None else config_instances(config)
    if not instances:
        raise LabInputError("there are no instances to solve; give a file or --n/--num.")
    start = time.perf_counter()
    by_n: dict[int, list[int]] = {}
    for i, inst in enumerate(instances):
        by_n.setdefault(inst.n, []).append(i)
    chosen = {n: choose_model(config, n) for n in by_n}  # before any work: a missing model fails fast
    results: dict[int, InstanceResult] = {}
    groups = [(n, idx[lo: lo + GROUP]) for n, idx in by_n.items() for lo in range(0, len(idx), GROUP)]
    for g, (n, idx) in enumerate(groups):
        model, checkpoint, _ = chosen[n]
        solved = _solve_group([instances[i] for i in idx], config, model, checkpoint, config.seed + g)
        results.update(zip(idx, solved, strict=True))
        if report(on_progress, len(results), len(instances), {"instances": float(len(results))}):
            break
    kinds = {model for model, _, _ in chosen.values()}
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind is not None:
        method = f"{kind} ({config.decode})"
    else:
        method = SOLVERS[config.solver].label if config.task == "tsp" else "scipy (exact)"
    note = " ".join(dict.fromkeys(note for _, _, note in chosen.values() if note))
    return SolveResult(config=config, method=method, instances=[results[i] for i in sorted(results)],
                       seconds=time.perf_counter() - start, note=note, total=len(instances))


# -- what the page offers -------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodOption:
    """One entry of the page's method picker; ``key`` is its stable URL value."""

    key: str
    label: str
    kind: str  # "model", "untrained", "trained" (a run's checkpoint), "solver" or "exact"
    model: str | None = None
    checkpoint: str | None = None
    solver: str = "farthest_insertion"

    def fields(self) -> dict[str, Any]:
        """The :class:`SolveConfig` fields that pick this method."""
        return {"model": self.model, "checkpoint": self.checkpoint, "solver": self.solver}


def method_options(task: str, extra: Sequence[MethodOption] = ()) -> list[MethodOption]:
    """``extra`` (models trained here) first, then shipped checkpoints, an untrained Ptr-Net, classical methods."""
    options: list[MethodOption] = list(extra)
    for entry in zoo.available():
        if entry.task == task:
            label = f"{entry.name} ({'attention model' if entry.model == 'am' else 'Ptr-Net'}, shipped)"
            options.append(MethodOption(f"zoo:{entry.name}", label, "model", entry.model, str(entry.path)))
    options.append(MethodOption("untrained:ptrnet", "Ptr-Net, untrained (random weights)", "untrained", "ptrnet",
                                zoo.UNTRAINED))
    if task == "tsp":
        for name in ("farthest_insertion", "two_opt", "christofides", "nearest_neighbour", "reference", "held_karp"):
            options.append(MethodOption(f"solver:{name}", f"classical: {SOLVERS[name].label}", "solver", solver=name))
    else:
        options.append(MethodOption("exact", "classical: scipy (exact labels)", "exact"))
    return options


def trained_option(run_id: str, checkpoint: str, config: Mapping[str, Any]) -> MethodOption:
    """A model trained on the page, offered by its run's checkpoint (``artifacts/model.pt``)."""
    label = f"trained here: {config.get('model')} {config.get('task')} n={config.get('n_min')}..{config.get('n_max')} " \
            f"(run {run_id})"
    return MethodOption(f"run:{run_id}", label, "trained", str(config.get("model")), checkpoint)


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
        if run.verb == "train" and run.config.get("task") == task:
            found.append(trained_option(run_id, str(run.artifact_path("model.pt")), run.config))
    return found


def default_method(options: Sequence[MethodOption]) -> MethodOption:
    """The first shipped model, else the first classical method (never the untrained one)."""
    for kind in ("model", "solver", "exact"):
        for opt in options:
            if opt.kind == kind:
                return opt
    return options[0]
