"""Adversarial inputs against an early-exit network: the attack surface that exits open (the ``robust`` verb).

Two things an attacker can want from a dynamic network, each attacked with FGSM (Goodfellow et al. 2015,
one signed-gradient step of size epsilon) or PGD (Madry et al. 2018, ``steps`` signed steps of
``2.5 epsilon / steps``, projected back into the epsilon ball and the valid input range after each):

- ``accuracy``: the standard attack, raising the *last* exit's cross-entropy with the true label (what
  one would do to the static network);
- ``slowdown``: DeepSloth (Hong et al. 2021, "A Panda? No, it's a sloth"): push every *early* exit's
  class probabilities toward uniform (lowering the cross-entropy to the uniform distribution, which
  lowers max-probability and raises entropy) and every gate toward "go on" (``log(1 - g_k)``), so that
  inputs stop later and the compute saved by the exits is lost. It never reads the label.

The perturbation is bounded in L-inf in *input units*: grey levels for digit images (pixels 0..16,
clipped to that range after every step; the model sees them standardised), standard deviations of each
feature for feature vectors (no range to clip to). PGD starts at the clean input (no random start), so
that a run is deterministic and PGD with one step is FGSM.

Per objective and epsilon the verb keeps every exit's outputs on the perturbed held-out inputs, so any
policy and threshold is re-evaluated instantly (:meth:`RobustResult.point`): accuracy, mean exit depth,
mean MACs and speed-up, as in :mod:`lab.routing.exits`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.routing.data import Dataset, load_dataset
from lab.routing.exits import ExitsConfig, OperatingPoint, obtain_model, operating_point, policy_curve
from lab.routing.macs import ExitCosts, exit_costs
from lab.routing.model import ExitNet
from lab.routing.policies import POLICIES, ExitOutputs, make_policy

ATTACKS = ("fgsm", "pgd")
OBJECTIVES = ("accuracy", "slowdown")
#: The default largest epsilon: 4 of 16 grey levels for digits (a quarter of the range, like MNIST's 0.25);
#: one standard deviation for feature vectors.
MAX_EPSILON = {"image": 4.0, "vector": 1.0}


@dataclass(frozen=True)
class InputScale:
    """How attack units map to the model's input: ``model_input = a * x + b``; valid x in ``[lo, hi]``."""

    a: float
    b: float
    lo: float | None
    hi: float | None
    units: str

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * x + self.b


def input_scale(ds: Dataset) -> tuple[InputScale, np.ndarray]:
    """The attack's units for ``ds`` and its held-out inputs in them: (scale, x (N, ...) float32).

    Images are attacked in raw pixel values (the digits' 0..16): the dataset standardises them with one
    mean and scale for all pixels, which is recovered here from the raw and standardised test images
    (a linear map sends the smallest pixel to the smallest value). Vectors are attacked as the model
    sees them, in standard deviations of each feature.
    """
    if ds.kind == "image":
        raw, x = ds.raw_test.astype(np.float64), ds.x_test.astype(np.float64)
        a = (x.max() - x.min()) / max(raw.max() - raw.min(), 1e-12)
        b = x.min() - a * raw.min()
        lo, hi = (0.0, 16.0) if ds.name == "digits" else (float(raw.min()), float(raw.max()))
        units = "grey levels (pixels 0..16)" if ds.name == "digits" else "raw pixel values"
        return InputScale(float(a), float(b), lo, hi, units), ds.raw_test.astype(np.float32)
    return InputScale(1.0, 0.0, None, None, "standard deviations of each feature"), ds.x_test


def objective_loss(model: ExitNet, x: torch.Tensor, y: torch.Tensor, objective: str) -> torch.Tensor:
    """(N,) the loss an attack raises, for model inputs ``x`` (N, ...) with labels ``y`` (N,).

    ``accuracy``: the last exit's cross-entropy. ``slowdown``: minus the early exits' mean cross-entropy
    to the uniform distribution, minus the mean of ``softplus(gate logit) = -log(1 - g_k)``.
    """
    logits, gates = model(x, attached=True)  # (E, N, C), (E-1, N); gates keep their gradient to x
    if objective == "accuracy":
        return F.cross_entropy(logits[-1], y, reduction="none")
    if objective != "slowdown":
        raise LabInputError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    if logits.shape[0] < 2:
        return x.new_zeros(x.shape[0])  # one exit: nothing to slow down
    to_uniform = -torch.log_softmax(logits[:-1], dim=-1).mean(-1)  # (E-1, N): CE(uniform, p_k)
    return -to_uniform.mean(0) - F.softplus(gates).mean(0)


def perturb(model: ExitNet, x: torch.Tensor, y: torch.Tensor, scale: InputScale, epsilon: float, objective: str,
            steps: int = 1) -> torch.Tensor:
    """PGD with ``steps`` signed steps of ``min(epsilon, 2.5 epsilon / steps)``; ``steps = 1`` is FGSM.

    ``x`` (N, ...) in attack units; returns the perturbed inputs (N, ...) with ``|x' - x| <= epsilon``
    everywhere and, where the scale has a range, ``lo <= x' <= hi``.
    """
    if epsilon <= 0:
        return x.clone()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # only the input's gradient is needed
    try:
        alpha = min(epsilon, 2.5 * epsilon / steps)
        lo, hi = x - epsilon, x + epsilon
        if scale.lo is not None:
            lo, hi = lo.clamp(min=scale.lo), hi.clamp(max=scale.hi)
        adv = x.clone()
        for _ in range(steps):
            adv.requires_grad_(True)
            loss = objective_loss(model, scale.to_model(adv), y, objective).sum()  # sum: each input its own gradient
            (grad,) = torch.autograd.grad(loss, adv)
            adv = torch.max(torch.min(adv.detach() + alpha * grad.sign(), hi), lo)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return adv.detach()


@torch.no_grad()
def outputs_on(model: ExitNet, x: torch.Tensor, scale: InputScale, labels: np.ndarray) -> ExitOutputs:
    logits, gates = model(scale.to_model(x))
    return ExitOutputs(torch.softmax(logits.double(), -1).numpy(), torch.sigmoid(gates.double()).numpy(), labels)


@dataclass(frozen=True)
class RobustConfig(LabConfig):
    """Which model, which attack, which epsilons; the policy and threshold the summary reports."""

    dataset: str = "digits"
    checkpoint: str = "shipped"  # shipped, train, or a .pt path (as in the exits verb)
    attack: str = "pgd"  # fgsm or pgd
    pgd_steps: int = 10
    objectives: tuple[str, ...] = OBJECTIVES
    max_epsilon: float | None = None  # in input units (grey levels for digits); None: 4 for images, 1 for vectors
    n_epsilons: int = 9  # an even grid from 0 to max_epsilon
    policy: str = "all"
    threshold: float | None = None  # None: each policy's clean operating point at <= 1 point (else its default)
    steps: int = 800  # training, when the model is trained here
    width: int = 16
    blocks: int = 4
    pool: int = 2
    gate_cost: float = 0.5
    gate_holdout: float = 0.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("attack", ATTACKS)
        self.check_choice("policy", ("all", *POLICIES))
        self.normalise("objectives", tuple(self.objectives))
        if not self.objectives or any(o not in OBJECTIVES for o in self.objectives):
            raise LabInputError(f"objectives {list(self.objectives)}: choose from {', '.join(OBJECTIVES)}.")
        for name, lo in (("pgd_steps", 1), ("n_epsilons", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise LabInputError(f"{name} is {value!r}; use an integer of at least {lo}.")
        if self.pgd_steps > 200 or self.n_epsilons > 41:
            raise LabInputError("use at most 200 PGD steps and 41 epsilons.")
        if self.max_epsilon is not None and not self.max_epsilon > 0:
            raise LabInputError(f"max epsilon is {self.max_epsilon}; use a positive number (in input units).")
        if self.threshold is not None and self.policy == "all":
            raise LabInputError("a threshold needs one policy (--policy NAME); with all, each uses its own.")
        self.exits_config()  # the model's fields are checked there

    def exits_config(self) -> ExitsConfig:
        return ExitsConfig(dataset=self.dataset, checkpoint=self.checkpoint, steps=self.steps, width=self.width,
                           blocks=self.blocks, pool=self.pool, gate_cost=self.gate_cost,
                           gate_holdout=self.gate_holdout, seed=self.seed, device=self.device)

    def epsilons(self, kind: str) -> list[float]:
        top = self.max_epsilon if self.max_epsilon is not None else MAX_EPSILON[kind]
        return [float(e) for e in np.round(np.linspace(0.0, top, self.n_epsilons), 6)]

    @property
    def attack_steps(self) -> int:
        return 1 if self.attack == "fgsm" else self.pgd_steps


@dataclass
class RobustResult:
    """Every exit's outputs on clean and perturbed held-out inputs, per objective and epsilon."""

    config: RobustConfig
    dataset: Dataset
    model: ExitNet
    source: str
    scale: InputScale
    costs: ExitCosts
    clean_x: np.ndarray  # (N, ...) held-out inputs in attack units
    clean: ExitOutputs
    epsilons: list[float]
    adversarial: dict[str, list[ExitOutputs]]  # objective -> one per epsilon done
    perturbed: dict[str, list[np.ndarray]]  # objective -> (N, ...) inputs in attack units, one per epsilon done
    thresholds: dict[str, float]  # policy -> the threshold the summary reports
    stopped: bool = False
    curves: dict[str, list[float]] = field(default_factory=dict)

    @property
    def n_exits(self) -> int:
        return self.clean.n_exits

    def outputs(self, objective: str, i: int) -> ExitOutputs:
        return self.adversarial[objective][i]

    def point(self, objective: str | None, i: int, policy: str, threshold: float) -> OperatingPoint:
        """The policy at ``threshold`` on the inputs of epsilon number ``i`` (clean when ``objective`` is None)."""
        out = self.clean if objective is None else self.outputs(objective, i)
        return operating_point(out, self.costs, policy, threshold)

    def series(self, objective: str, policy: str, threshold: float) -> dict[str, list[float]]:
        """Per epsilon done: accuracy, mean exit (0-based), mean MACs, speed-up, and the last exit's accuracy."""
        rows: dict[str, list[float]] = {"epsilon": [], "accuracy": [], "mean_exit": [], "mean_macs": [], "speedup": [],
                                        "last_exit_accuracy": []}
        for i, out in enumerate(self.adversarial.get(objective, [])):
            op = operating_point(out, self.costs, policy, threshold)
            rows["epsilon"].append(self.epsilons[i])
            rows["accuracy"].append(op.accuracy)
            rows["mean_exit"].append(float(op.exit_index.mean()))
            rows["mean_macs"].append(op.mean_macs)
            rows["speedup"].append(op.speedup)
            rows["last_exit_accuracy"].append(float((out.preds[-1] == out.labels).mean()))
        return rows

    def to_json(self) -> dict[str, Any]:
        """``{"epsilons", "epsilon_units", "attack", "steps", "objectives": {OBJ: {POLICY: {"threshold", "epsilon",
        "accuracy", "mean_exit", "mean_macs", "speedup", "last_exit_accuracy"}}}, "linf"}`` plus the model."""
        doc: dict[str, Any] = {"dataset": self.dataset.name, "model": self.source, "attack": self.config.attack,
                               "steps": self.config.attack_steps, "epsilons": self.epsilons,
                               "epsilon_units": self.scale.units, "objectives": {}, "linf": {}}
        for obj, inputs in self.perturbed.items():
            doc["objectives"][obj] = {name: {"threshold": t, **self.series(obj, name, t)}
                                      for name, t in self.thresholds.items()}
            doc["linf"][obj] = [float(np.abs(x - self.clean_x).max()) for x in inputs]
        return doc

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for obj in self.adversarial:
            for name, t in self.thresholds.items():
                s = self.series(obj, name, t)
                if s["epsilon"]:
                    out[f"{obj}_{name}_accuracy_at_max_eps"] = s["accuracy"][-1]
                    out[f"{obj}_{name}_mean_exit_at_max_eps"] = s["mean_exit"][-1]
                    out[f"{obj}_{name}_speedup_at_max_eps"] = s["speedup"][-1]
        for name, t in self.thresholds.items():
            op = self.point(None, 0, name, t)
            out[f"clean_{name}_accuracy"], out[f"clean_{name}_mean_exit"] = op.accuracy, float(op.exit_index.mean())
        if self.curves:
            out["curves"] = {"loss": self.curves.get("loss", [])}
        if self.stopped:
            out["stopped_early"] = True
        return out

    def title(self) -> str:
        return f"{self.config.attack} attacks on early exits ({self.dataset.name})"


def clean_thresholds(config: RobustConfig, clean: ExitOutputs, costs: ExitCosts) -> dict[str, float]:
    """The threshold of every reported policy: the config's, else its clean <= 1 point operating point."""
    names = list(POLICIES) if config.policy == "all" else [config.policy]
    if config.threshold is not None:
        return {names[0]: float(config.threshold)}
    last = float((clean.preds[-1] == clean.labels).mean())
    out = {}
    for name in names:
        at = policy_curve(clean, costs, name, last).threshold_at_1pt
        out[name] = float(at if at is not None else make_policy(name).default_threshold(clean.n_exits))
    return out


def run_robust(config: RobustConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> RobustResult:
    """The ``robust`` verb: attack the held-out inputs at every epsilon, for every objective."""
    ds = load_dataset(config.dataset, data)
    epsilons = config.epsilons(ds.kind)
    got = obtain_model(config.exits_config(), ds, data, on_progress, after=len(config.objectives) * len(epsilons))
    model = got.model.eval()
    scale, x_np = input_scale(ds)
    x, y = torch.from_numpy(x_np), torch.from_numpy(ds.y_test)
    costs = exit_costs(model)
    clean = outputs_on(model, x, scale, ds.y_test)
    adversarial: dict[str, list[ExitOutputs]] = {o: [] for o in config.objectives}
    perturbed: dict[str, list[np.ndarray]] = {o: [] for o in config.objectives}
    stopped, done = got.stopped, got.total - len(config.objectives) * len(epsilons)
    for obj in config.objectives:
        for eps in epsilons:
            if stopped:
                break
            adv = perturb(model, x, y, scale, eps, obj, config.attack_steps)
            adversarial[obj].append(outputs_on(model, adv, scale, ds.y_test))
            perturbed[obj].append(adv.numpy())
            done += 1
            if report(on_progress, done, got.total, {"epsilon": eps}):
                stopped = True
    return RobustResult(config, ds, model, got.source, scale, costs, x_np, clean, epsilons, adversarial, perturbed,
                        clean_thresholds(config, clean, costs), stopped, got.curves)
