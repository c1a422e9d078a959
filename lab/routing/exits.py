"""The ``exits`` verb: every exit policy's accuracy-vs-compute curve, exit depths and calibration.

Data flow: a dataset (:mod:`lab.routing.data`) -> a model (the shipped checkpoint, one given, or one
trained here) -> every exit's outputs on the held-out split -> per policy, for every threshold of its
grid: the exit each input takes, accuracy, mean MACs and speed-up -> the JSON contract of
``dynlab routing exits`` and the page's figures (:meth:`ExitsResult.operating_point` recomputes any
threshold instantly, so the page's slider moves every figure without running the model again).

Speed-up is ``static MACs / mean MACs``: the static network is every block and the last classifier
only. ``speedup_at_1pt`` is the largest speed-up on the policy's curve whose accuracy is at most one
point (0.01) below the last exit's; if no threshold qualifies it is 1.0 (run the static network).
``ece`` is the policy's expected calibration error (confidence = max probability at the exit taken) at
that operating point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable
from lab.core.progress import ProgressCallback, report
from lab.routing.calibration import ece, reliability
from lab.routing.data import Dataset, load_dataset
from lab.routing.macs import ExitCosts, exit_costs
from lab.routing.model import Architecture, ExitNet
from lab.routing.policies import POLICIES, ExitOutputs, make_policy

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "assets" / "checkpoints" / "routing"
SHIPPED = {"digits": CHECKPOINTS / "exits_digits.pt"}
ONE_POINT = 0.01


@dataclass(frozen=True)
class ExitsConfig(LabConfig):
    """Which data, which model, which policies; training fields apply when the model is trained here."""

    dataset: str = "digits"  # digits, mnist1d, or a CSV path (an upload's name when data is given)
    policy: str = "all"  # one policy's name, or all
    checkpoint: str = "shipped"  # shipped (train if none ships for the dataset), train, or a .pt path
    steps: int = 800
    width: int = 16
    blocks: int = 4
    pool: int = 2
    batch_size: int = 64
    lr: float = 3e-3
    gate_cost: float = 0.5
    gate_holdout: float = 0.0  # share of the training rows the gates learn from and the exits never see
    measure: bool = False  # also measure throughput on this device (samples_per_s, static and per policy)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("policy", ("all", *POLICIES))
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise LabInputError("dataset is empty; use digits, mnist1d or a .csv file.")
        self.normalise("dataset", self.dataset.strip())
        self.train_config()  # the training fields are checked once, here

    def policies(self) -> list[str]:
        return list(POLICIES) if self.policy == "all" else [self.policy]

    def train_config(self):
        from lab.routing.train import TrainConfig

        return TrainConfig(dataset=self.dataset, width=self.width, blocks=self.blocks, pool=self.pool, steps=self.steps,
                           batch_size=self.batch_size, lr=self.lr, gate_cost=self.gate_cost,
                           gate_holdout=self.gate_holdout, seed=self.seed,
                           device=self.device)


@dataclass
class OperatingPoint:
    """One policy at one threshold: where each input exits and what that costs and buys."""

    policy: str
    threshold: float
    exit_index: np.ndarray  # (N,)
    correct: np.ndarray  # (N,) bool
    confidence: np.ndarray  # (N,) max probability at the exit taken
    accuracy: float
    mean_macs: float
    speedup: float

    def histogram(self, n_exits: int) -> list[int]:
        return np.bincount(self.exit_index, minlength=n_exits).tolist()

    @property
    def ece(self) -> float:
        return ece(self.confidence, self.correct)

    def reliability(self) -> list[dict[str, float]]:
        return reliability(self.confidence, self.correct)


@dataclass
class PolicyCurve:
    name: str
    curve: list[dict[str, float]]
    speedup_at_1pt: float
    threshold_at_1pt: float | None
    ece: float
    throughput: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc = {"curve": self.curve, "speedup_at_1pt": self.speedup_at_1pt, "ece": self.ece,
               "threshold_at_1pt": self.threshold_at_1pt}
        if self.throughput:
            doc["throughput"] = self.throughput
        return doc


@dataclass
class ExitsResult:
    config: ExitsConfig
    dataset: Dataset
    model: ExitNet
    outputs: ExitOutputs
    costs: ExitCosts
    policies: dict[str, PolicyCurve]
    source: str  # where the model came from: a checkpoint path, or "trained here"
    train_curves: dict[str, list[float]] = field(default_factory=dict)
    stopped: bool = False
    static_per_s: float | None = None

    # -- numbers ---------------------------------------------------------------------------------
    @property
    def n_exits(self) -> int:
        return self.outputs.n_exits

    @property
    def exit_accuracy(self) -> list[float]:
        return [float(a) for a in (self.outputs.preds == self.outputs.labels[None]).mean(1)]

    @property
    def last_exit_accuracy(self) -> float:
        return self.exit_accuracy[-1]

    def exit_ece(self) -> list[float]:
        conf, correct = self.outputs.probs.max(-1), self.outputs.preds == self.outputs.labels[None]
        return [ece(conf[k], correct[k]) for k in range(self.n_exits)]

    def operating_point(self, policy: str, threshold: float) -> OperatingPoint:
        return operating_point(self.outputs, self.costs, policy, threshold)

    # -- the verb result contract -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The ``dynlab routing exits --json`` document (plus ``dataset``, ``exits`` and ``macs``)."""
        return {"last_exit_accuracy": self.last_exit_accuracy,
                "policies": {name: p.to_json() for name, p in self.policies.items()},
                "dataset": self.dataset.name, "model": self.source,
                "exits": {"accuracy": self.exit_accuracy, "ece": self.exit_ece()},
                "macs": self.costs.to_json()}

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"last_exit_accuracy": self.last_exit_accuracy}
        for k, acc in enumerate(self.exit_accuracy):
            out[f"exit{k}_accuracy"] = acc
        for name, p in self.policies.items():
            out[f"{name}_speedup_at_1pt"] = p.speedup_at_1pt
            out[f"{name}_ece"] = p.ece
            for key, value in p.throughput.items():
                out[f"{name}_{key}"] = value
        if self.static_per_s is not None:
            out["static_samples_per_s"] = self.static_per_s
        if self.train_curves:
            out["curves"] = {"loss": self.train_curves.get("loss", [])}
        if self.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self) -> dict[str, bytes | str]:
        return {"curves.csv": self.curves_csv(), "result.json": json.dumps(to_jsonable(self.to_json()))}

    def title(self) -> str:
        return f"early exits on {self.dataset.name} ({self.config.policy})"

    def curves_csv(self) -> str:
        lines = ["policy,threshold,accuracy,mean_macs,speedup"]
        for name, p in self.policies.items():
            lines += [f"{name},{r['threshold']:.6g},{r['accuracy']:.6f},{r['mean_macs']:.1f},{r['speedup']:.4f}"
                      for r in p.curve]
        return "\n".join(lines) + "\n"


def operating_point(outputs: ExitOutputs, costs: ExitCosts, policy: str, threshold: float) -> OperatingPoint:
    pol = make_policy(policy)
    idx = pol.exit_index(outputs, float(threshold))
    n = np.arange(len(idx))
    preds = outputs.preds[idx, n]
    correct = preds == outputs.labels
    macs = costs.cumulative(with_gates=pol.uses_gates)[idx]
    mean_macs = float(macs.mean())
    return OperatingPoint(policy, float(threshold), idx, correct, outputs.probs.max(-1)[idx, n],
                          float(correct.mean()), mean_macs, float(costs.baseline / mean_macs))


def policy_curve(outputs: ExitOutputs, costs: ExitCosts, policy: str, last_accuracy: float) -> PolicyCurve:
    """Every threshold of the policy's grid, and its best speed-up within one point of the last exit."""
    pol = make_policy(policy)
    points = [operating_point(outputs, costs, policy, t) for t in pol.thresholds(outputs.n_exits)]
    curve = [{"threshold": p.threshold, "accuracy": p.accuracy, "mean_macs": p.mean_macs, "speedup": p.speedup}
             for p in points]
    ok = [p for p in points if p.accuracy >= last_accuracy - ONE_POINT - 1e-12]
    if ok:
        best = max(ok, key=lambda p: (p.speedup, -p.threshold))
        return PolicyCurve(policy, curve, best.speedup, best.threshold, best.ece)
    return PolicyCurve(policy, curve, 1.0, None, ece(outputs.probs[-1].max(-1), outputs.preds[-1] == outputs.labels))


def load_model(path: str | Path, ds: Dataset) -> ExitNet:
    """An :class:`ExitNet` checkpoint whose card matches ``ds`` (kind, input shape, classes)."""
    from lab.core.checkpoints import load_checkpoint

    path = Path(path)
    state, card = load_checkpoint(path, {"model": "exitnet"})
    arch = Architecture.from_dict(card["architecture"])
    if arch.kind != ds.kind or arch.input_shape != ds.input_shape or arch.n_classes != ds.n_classes:
        raise LabInputError(f"{path.name} was trained on inputs {list(arch.input_shape)} with {arch.n_classes} classes, "
                            f"but {ds.name} has inputs {list(ds.input_shape)} and {ds.n_classes} classes; "
                            "choose a matching checkpoint or train one.")
    model = ExitNet(arch)
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise LabInputError(f"{path.name} does not hold an ExitNet matching its card; re-train it with dynlab.") from None
    return model.eval()


@dataclass
class ObtainedModel:
    """A model for a verb, where it came from, and its training (when trained here)."""

    model: ExitNet
    source: str  # a checkpoint path, or "trained here"
    curves: dict[str, list[float]]
    stopped: bool
    total: int  # progress steps of the whole verb: training (if any) plus ``after``


def obtain_model(config: ExitsConfig, ds: Dataset, data: Any = None, on_progress: ProgressCallback | None = None,
                 after: int = 0) -> ObtainedModel:
    """The model ``config.checkpoint`` names: the shipped one (trained here when none ships for ``ds``), a .pt
    path, or ``train``: trained here, reporting steps out of ``config.steps + after`` (the verb's later work)."""
    from lab.routing.train import train_exitnet

    path = None
    if config.checkpoint == "shipped":
        path = SHIPPED.get(ds.name) if data is None else None
        path = path if path is not None and path.exists() else None
    elif config.checkpoint != "train":
        path = Path(config.checkpoint)
    if path is not None:
        source = str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        return ObtainedModel(load_model(path, ds), source, {}, False, after)
    total = config.steps + after
    trained = train_exitnet(ds, config.train_config(), on_progress, progress_total=total)
    return ObtainedModel(trained.model, "trained here", trained.curves, trained.stopped, total)


def run_exits(config: ExitsConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> ExitsResult:
    """The ``exits`` verb (see the module docstring). ``data``: an uploaded CSV's bytes, named by ``dataset``."""
    from lab.routing.train import exit_outputs

    ds = load_dataset(config.dataset, data)
    names = config.policies()
    got = obtain_model(config, ds, data, on_progress, after=len(names))
    model, source, train_curves, stopped, total = got.model, got.source, got.curves, got.stopped, got.total
    probs, gates = exit_outputs(model, ds.x_test)
    outputs = ExitOutputs(probs, gates, ds.y_test)
    costs = exit_costs(model)
    last = float((outputs.preds[-1] == outputs.labels).mean())
    policies: dict[str, PolicyCurve] = {}
    done = total - len(names)
    for name in names:
        policies[name] = policy_curve(outputs, costs, name, last)
        done += 1
        if not stopped and report(on_progress, done, total, {"speedup_at_1pt": policies[name].speedup_at_1pt}):
            stopped = True  # the curves are cheap: finish them, skip the throughput measurement
    static_per_s = None
    if config.measure and not stopped:
        from lab.routing.throughput import measure_policy, measure_static

        static_per_s = measure_static(model, ds.x_test)
        for name, p in policies.items():
            pol = make_policy(name)
            if pol.runnable and p.threshold_at_1pt is not None:
                per_s = measure_policy(model, ds.x_test, pol, p.threshold_at_1pt)
                p.throughput = {"samples_per_s": per_s, "measured_speedup_per_s": per_s / static_per_s}
    return ExitsResult(config, ds, model, outputs, costs, policies, source, train_curves, stopped, static_per_s)
