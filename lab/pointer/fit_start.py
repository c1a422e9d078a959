"""The ``fit-start`` verb: give a trained attention model a start head, as a saved run.

The head (:mod:`lab.pointer.start_head`) is fitted with the policy frozen, so it can follow any policy
training: a model trained on the page, a checkpoint of the zoo, one a user brings. The run's
``model.pt`` / ``model.json`` are a checkpoint like any other (the page offers it as a Method;
``dynlab pointer solve --checkpoint`` reads it), and its card carries a ``start_head`` section: the
settings, the loss per epoch and the validation (how much longer the chosen start's greedy tour is than
the best start's, against node 0's). ``scripts/train_start_head.py`` writes the shipped heads with the
same :func:`fit_start_head`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import torch

from lab.core.checkpoints import state_dict_bytes
from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable
from lab.core.progress import ProgressCallback
from lab.pointer.start_head import StartHeadConfig, StartHeadResult, train_start_head, with_start_head


@dataclass(frozen=True)
class FitStartConfig(LabConfig):
    """Fit a start head onto an attention model's checkpoint.

    Parameters
    ----------
    checkpoint : str
        A shipped attention model's name (``am_tsp20``) or the path of an attention model's ``.pt``
        (with its ``.json`` card). A head it has already is replaced.
    n : int
        Size of the fitting and validation instances; 0 (default): the largest size the policy was
        trained on (its card's ``trained_n``).
    instances, val_instances, epochs, batch_size, lr, tau, seed
        As in :class:`~lab.pointer.start_head.StartHeadConfig` (the shipped heads used 64,000 instances;
        4,000 take about a minute at n = 50 on two cores). ``seed`` also seeds the head's initial weights.
    device : str
    """

    checkpoint: str = "am_tsp20"
    n: int = 0
    instances: int = 4_000
    val_instances: int = 500
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    tau: float = 0.01
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not str(self.checkpoint).strip():
            raise LabInputError("name the attention model to fit a start head to (a shipped name or a .pt path).")
        self.head_config(int(self.n) or 50)  # the same checks as the head's own config

    def head_config(self, n: int) -> StartHeadConfig:
        """The :class:`StartHeadConfig` of this run at ``n`` points."""
        return StartHeadConfig(n=n, instances=self.instances, val_instances=self.val_instances, epochs=self.epochs,
                               batch_size=self.batch_size, lr=self.lr, tau=self.tau, seed=self.seed)


@dataclass
class FitStartResult:
    """The model with its fitted head, its card, and what the fit measured."""

    config: FitStartConfig
    model: torch.nn.Module
    card: dict[str, Any]
    fit: StartHeadResult
    source: str = ""

    # -- the verb result contract (lab.core.labs) ----------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Validation excess over the best start (node 0, average start, the head's), the card's held-out
        ``metrics`` re-measured with the head, and the loss curve."""
        val = self.fit.stats.get("validation", {})
        out: dict[str, Any] = {
            "n": self.fit.stats.get("n"), "epochs_done": self.fit.stats.get("epochs_done"),
            "train_instances": self.fit.stats.get("train_instances"),
            "excess_node0_pct": val.get("node0", {}).get("mean_pct"),
            "excess_mean_start_pct": val.get("mean_over_starts_pct"),
            "excess_head_pct": val.get("learned", {}).get("mean_pct"),
            "fit_seconds": self.fit.stats.get("seconds"),
        }
        out.update(self.card.get("metrics", {}))
        return {**out, "curves": {"loss": list(self.fit.curve)}}

    def artifacts(self) -> dict[str, bytes | str]:
        """``model.pt`` (state_dict) and ``model.json`` (its card): a checkpoint ``zoo.load`` reads."""
        return {"model.pt": state_dict_bytes(self.model.state_dict()), "model.json": json.dumps(to_jsonable(self.card))}

    def title(self) -> str:
        return f"start head for {self.source} (n = {self.fit.stats.get('n')})"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "start_head": self.card.get("start_head", {})}


def fit_start_head(policy: torch.nn.Module, config: StartHeadConfig, on_progress: ProgressCallback | None = None,
                   command: str = "", script: str = "") -> tuple[torch.nn.Module, dict[str, Any], StartHeadResult]:
    """A copy of ``policy`` (an attention model with its ``.card``) with a fitted start head, and its card.

    The card is the policy's with ``architecture.start_head``, its held-out ``metrics`` measured again
    (the greedy pass now starts where the head says; the previous ones are kept as ``metrics_node0``) and
    a ``start_head`` section: ``command`` / ``script`` when given, the settings, the loss per epoch and
    the validation.
    """
    from lab.pointer.train import evaluate

    card = dict(getattr(policy, "card", {}))
    device = str(next(policy.parameters()).device)
    model = with_start_head(policy).to(device)  # the copy is built on the CPU
    result = train_start_head(model, config, on_progress)
    evaluation = card.get("evaluation", {})
    metrics: dict[str, float] = {}
    t0 = time.time()
    for size in evaluation.get("eval_ns", [config.n]):
        metrics.update(evaluate(model.eval(), "tsp", int(size), int(evaluation.get("eval_num", 200)),
                                int(evaluation.get("eval_seed", 1234)), tuple(evaluation.get("methods", ["greedy"])),
                                device=device))
    about = {"script": script, "command": command} if command else {}
    card_out = {**card, "architecture": model.architecture(), "metrics": metrics,
                "metrics_node0": card.get("metrics_node0", card.get("metrics", {})),
                "start_head": {**about, "seed": int(config.seed), "config": config.to_dict(),
                               "loss_per_epoch": result.curve, "measure_seconds": round(time.time() - t0, 1),
                               **result.stats}}
    return model, card_out, result


def run_fit_start(config: FitStartConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> FitStartResult:
    """The ``fit-start`` verb: load the attention model, fit its head (``data`` is not used)."""
    from lab.core.device import resolve_device
    from lab.pointer import zoo
    from lab.pointer.methods import checkpoint_name

    path = zoo.resolve(config.checkpoint)
    policy = zoo.load(path, model="am")  # one sentence if it is no attention model or no checkpoint at all
    n = int(config.n) or int(max(policy.card.get("trained_n") or [50]))
    policy = policy.to(resolve_device(config.device).name)
    with torch.random.fork_rng(devices=[]):  # the head's initial weights follow the seed, nothing else moves
        torch.manual_seed(int(config.seed))
        model, card, fit = fit_start_head(policy, config.head_config(n), on_progress)
    source = checkpoint_name(str(config.checkpoint))
    card["start_head"]["source"] = source
    return FitStartResult(config, model.cpu(), card, fit, source)


__all__ = ["FitStartConfig", "FitStartResult", "fit_start_head", "run_fit_start"]
