"""The ``solve`` verb: a pointer model (or a classical solver) on instances, scored against a reference.

:func:`run_solve` is what the CLI, the page, jobs and re-runs call. It takes instances in their own units
(given as ``data``, read from ``config.input``, or seeded random ones from ``n``/``num``/``seed``),
normalises coordinates for the model, decodes, then measures lengths with each instance's own distance
convention (TSPLIB rounding for ``.tsp`` files) and compares with the reference: fast-tsp for TSP (exact
up to 20 nodes), scipy's exact hull and Delaunay labels for the other tasks.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.pointer import metrics, zoo
from lab.pointer.io import Instance, load_instances, random_instance_list
from lab.pointer.results import InstanceResult, SolveResult
from lab.pointer.solvers import SOLVERS, solve
from lab.pointer.tasks import (
    HULL_RULES,
    START_RULES,
    TASKS,
    convex_hull_label,
    delaunay_label,
    is_valid_tour,
    normalize,
    rotate_to_zero,
)

log = logging.getLogger(__name__)

MODELS = ("am", "ptrnet")
#: ``model`` values: a model kind, "auto" (the shipped model for the task and size, else the classical
#: method, saying so) or None (the classical method).
MODEL_CHOICES = (*MODELS, "auto", None)
DECODERS = ("greedy", "beam", "sample", "pomo")
#: Instances decoded (and scored) between two progress reports: a stop request lands between groups.
GROUP = 64


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
    distance_prior : float
        Attention model only: the decoding-time distance prior (``decoding.decode``); 0 is the network alone.
    start : {"learned", "node0"}
        TSP, greedy / beam / sample: start at the node the model's start head chooses (node 0 for a model
        without one), or at node 0 (``decoding.decode``). The reported tour starts at node 0 either way.
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
    distance_prior: float = 0.0
    start: str = "learned"

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
        check_distance_prior(self.distance_prior, self.task if self.model is not None else "")
        self.check_choice("start", START_RULES)
        if self.n < 3 or self.num < 1:
            raise LabInputError(f"random instances need n >= 3 and num >= 1, got n={self.n}, num={self.num}.")


def check_distance_prior(alpha: float, task: str) -> None:
    """Raise :class:`LabInputError` unless ``alpha`` is a usable distance prior for ``task``.

    Any finite ``alpha >= 0``; a non-zero one only for the TSP (the attention model's tours; pass ``task=""``
    where no model decodes, so that only 0 passes).
    """
    if not (math.isfinite(alpha) and alpha >= 0):
        raise LabInputError(f"the distance prior must be a number >= 0 (0 = off), got {alpha}.")
    if alpha and task != "tsp":
        raise LabInputError("the distance prior steers the attention model's TSP tours; set it to 0 here.")


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
    """The answer in the decoded sequence: triangles (Delaunay), the hull, or the tour from node 0 (TSP).

    A rollout may start at the node a start head chose; the tour is the same cycle, written from node 0
    as every TSP answer of the lab is (the decoding order stays in ``InstanceResult.sequence``).
    """
    if task == "delaunay":
        return metrics.triangles_from_sequence(sequence)
    if task == "tsp":
        return rotate_to_zero(np.asarray(sequence, dtype=np.int64))
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
                         hull_rule=config.hull_rule, distance_prior=config.distance_prior, start=config.start)
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
