"""Training the pointer models: supervised Ptr-Net, and the attention model by imitation then POMO.

- Ptr-Net (Vinyals et al. 2015), all three tasks: teacher-forced cross-entropy on the exact labels
  (hull, Delaunay) or reference tours (TSP); each batch draws one n in [n_min, n_max].
- Attention model (Kool et al. 2019), TSP: first *imitation* of fast-tsp reference tours (cross-entropy
  from a random start and direction, on a random one of the 8 square symmetries), because on a CPU
  reinforcement learning alone would take days; then ``pomo_steps`` of REINFORCE with the POMO shared
  baseline (Kwon et al. 2020): n sampled rollouts per instance, one from every start node, each
  rewarded by how much shorter it is than their mean. The losses themselves are in :mod:`lab.pointer.losses`.

Training reports through a progress callback (return True to stop: the partial model is returned),
can resume from a checkpoint (with its optimizer state when one was saved beside it:
:mod:`lab.pointer.resume`), saves checkpoints with a card (:mod:`lab.core.checkpoints`) every
``save_seconds`` when ``checkpoint_path`` is set, and measures its card metrics on a seeded held-out
set (:func:`evaluate`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lab.core.checkpoints import load_checkpoint, save_checkpoint, state_dict_bytes
from lab.core.config import LabConfig, check_choice
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable
from lab.core.progress import ProgressCallback, report
from lab.core.seeding import seed_everything
from lab.pointer import tasks
from lab.pointer.decoding import METHODS as DECODERS
from lab.pointer.frames import reading_order, reorder
from lab.pointer.generalisation import METRICS, measure
from lab.pointer.losses import imitation_loss, pomo_loss, supervised_loss
from lab.pointer.models import MODELS, build_model
from lab.pointer.models.data import (
    TourPool,
    label_sequence,
    pad_sequences,
    random_start,
    random_symmetry,
)
from lab.pointer.models.ptrnet import INPUT_ORDERS, SORTED_TASKS
from lab.pointer.resume import (
    cosine,
    load_optimizer_state,
    phase_progress,
    save_optimizer_state,
    warmup_factor,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig(LabConfig):
    """What to train and how. Validated on creation (bad user values raise :class:`LabInputError`).

    ``layers`` None means 1 for the Ptr-Net (LSTM layers) and 2 for the attention model (encoder layers);
    ``eval_ns`` empty means ``(n_max,)``; ``eval_methods`` empty means greedy (+ pomo for the attention
    model). ``init_checkpoint`` continues training from a checkpoint of the same architecture;
    ``checkpoint_path`` saves one (with its card) every ``save_seconds`` and at the end.
    """

    task: str = "hull"
    model: str = "ptrnet"  # "ptrnet" or "am"
    n_min: int = 5
    n_max: int = 20
    hidden: int = 128
    layers: int | None = None  # LSTM layers (ptrnet) or encoder layers (am)
    input_order: str = "given"  # Ptr-Net hull, Delaunay: "x" reads the points sorted by x (see PointerNetwork)
    steps: int = 200  # supervised (ptrnet) or imitation (am) steps
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    pomo_steps: int = 0  # REINFORCE steps after imitation (am only)
    pomo_batch: int = 32  # instances per POMO step (x n rollouts each)
    pomo_lr: float = 1e-4
    pomo_lr_final: float | None = None  # cosine from pomo_lr to this over the POMO steps; None = constant
    pomo_imitation: float = 0.0  # weight of self-imitation: each POMO step also imitates its shortest sampled tour
    pomo_warmup: int = 0  # ramp the POMO rate up over these steps when its optimizer starts empty
    heads: int = 8
    pool_per_size: int = 2000  # TSP instances with reference tours, per n
    eval_ns: tuple[int, ...] = ()  # held-out sizes for the card; default (n_max,)
    eval_num: int = 200
    eval_methods: tuple[str, ...] = ()  # decoders measured for the card; default greedy (+ pomo for am)
    eval_seed: int = 1234
    save_seconds: float = 300.0
    time_limit_s: float = 0.0  # stop (and save) after this many seconds; 0 = no limit
    grad_clip: float = 1.0
    checkpoint_path: str | None = None
    init_checkpoint: str | None = None  # resume from this checkpoint (same architecture)
    extra_card: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("task", tasks.TASKS)
        self.check_choice("model", MODELS)
        if self.model == "am" and self.task != "tsp":
            raise LabInputError("the attention model solves only the TSP; use the Ptr-Net for hull and Delaunay.")
        if self.layers is None:
            self.normalise("layers", 1 if self.model == "ptrnet" else 2)
        self.check_choice("input_order", INPUT_ORDERS)
        if self.input_order != "given" and (self.model != "ptrnet" or self.task not in SORTED_TASKS):
            raise LabInputError("input order 'x' is for the Ptr-Net on the hull and Delaunay; use 'given' for this "
                                "model and task.")
        if not 3 <= int(self.n_min) <= int(self.n_max) <= 200:
            raise LabInputError(f"need 3 <= n_min <= n_max <= 200, got n_min={self.n_min}, n_max={self.n_max}.")
        if not 8 <= int(self.hidden) <= 1024 or not 1 <= int(self.layers) <= 12:
            raise LabInputError("hidden must be in [8, 1024] and layers in [1, 12].")
        if self.model == "am" and int(self.hidden) % int(self.heads):
            raise LabInputError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads}).")
        if int(self.steps) < 0 or int(self.pomo_steps) < 0 or int(self.steps) + int(self.pomo_steps) < 1:
            raise LabInputError("steps and pomo_steps must be >= 0, and at least one step in total.")
        if self.pomo_steps and self.model != "am":
            raise LabInputError("POMO fine-tuning is for the attention model; set pomo_steps to 0 for the Ptr-Net.")
        if not 0 <= int(self.pomo_warmup) <= 100_000:
            raise LabInputError(f"pomo_warmup is {self.pomo_warmup}; use a step count in [0, 100000] (0 = off).")
        if not 0 <= float(self.pomo_imitation) <= 100:
            raise LabInputError(f"pomo_imitation is {self.pomo_imitation}; use a weight in [0, 100] (0 = off).")
        if not 1 <= int(self.batch_size) <= 4096 or not 1 <= int(self.pomo_batch) <= 4096:
            raise LabInputError("batch sizes must be in [1, 4096].")
        final = self.pomo_lr if self.pomo_lr_final is None else self.pomo_lr_final
        if not (0 < float(self.lr) < 1 and 0 < float(self.pomo_lr) < 1 and 0 < float(final) <= float(self.pomo_lr)):
            raise LabInputError("learning rates must be in (0, 1), and pomo_lr_final at most pomo_lr.")
        self.normalise("eval_ns", tuple(int(n) for n in (self.eval_ns or (self.n_max,))))
        self.normalise("eval_methods", tuple(self.eval_methods or (("greedy", "pomo") if self.model == "am"
                                                                   else ("greedy",))))
        for method in self.eval_methods:
            check_choice("evaluation decoding", method, DECODERS)
        if any(n < 3 for n in self.eval_ns) or int(self.eval_num) < 1:
            raise LabInputError("evaluation sizes must be >= 3 and eval_num >= 1.")

    def architecture(self) -> dict:
        if self.model == "ptrnet":
            arch = {"model": "ptrnet", "task": self.task, "hidden": int(self.hidden), "layers": int(self.layers)}
            return arch if self.input_order == "given" else {**arch, "input_order": self.input_order}
        return {"model": "am", "task": "tsp", "hidden": int(self.hidden), "layers": int(self.layers),
                "heads": int(self.heads), "ff": 4 * int(self.hidden), "clip": 10.0}


@dataclass
class TrainResult:
    """A trained model (complete, or as far as it got before a stop) with its curves and card.

    ``scores`` are the held-out measurements (:func:`evaluate`), the card's ``metrics``.
    """

    model: torch.nn.Module
    config: TrainConfig
    curves: dict[str, list[float]]
    scores: dict[str, float]
    card: dict[str, Any] = field(default_factory=dict)

    # -- the verb result contract (lab.core.labs) ----------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Held-out scores, the last loss and the curves; only ``instances_per_s_*`` are timings."""
        loss = self.curves.get("loss", [])
        return {**self.scores, "final_loss": loss[-1] if loss else None, "curves": self.curves}

    def checkpoint_bytes(self) -> bytes:
        return state_dict_bytes(self.model.state_dict())

    def artifacts(self) -> dict[str, bytes | str]:
        """``model.pt`` (state_dict) and ``model.json`` (its card): together a checkpoint ``zoo.load`` reads."""
        return {"model.pt": self.checkpoint_bytes(), "model.json": json.dumps(to_jsonable(self.card))}

    def title(self) -> str:
        c = self.config
        return f"train {c.model} {c.task} n={c.n_min}..{c.n_max}"

    def to_json(self) -> dict[str, Any]:
        return {"task": self.config.task, "model": self.config.model, "metrics": self.metrics()}


# ----------------------------------------------------------------------------- evaluation
def evaluate(model: torch.nn.Module, task: str, n: int, num: int, seed: int, methods: tuple[str, ...] = ("greedy",),
             device: str = "cpu") -> dict[str, float]:
    """Metrics of ``model`` on ``random_instances(n, num, seed)`` (:func:`lab.pointer.generalisation.measure`).

    Keys ``<metric>_<method>_n<n>``: TSP ``gap`` (a fraction, ``mean(length / reference - 1)``); hull
    accuracy and area coverage; Delaunay accuracy and triangle coverage (in [0, 1]); and
    ``instances_per_s_<method>_n<n>``.
    """
    out: dict[str, float] = {}
    for method in methods:
        found = measure(model, task, n, num, seed, method, device=device)
        tag = f"{method}_n{n}"
        out[f"instances_per_s_{tag}"] = found["instances_per_second"]
        out.update({f"{key}_{tag}": found[key] for key in METRICS[task]})
    return out


# ----------------------------------------------------------------------------- training loop
def _card(config: TrainConfig, model, steps_done: dict, curves: dict, metrics: dict, seconds: float,
          evaluations: list[dict] | None = None) -> dict:
    return {
        "architecture": model.architecture(),
        "task": config.task,
        "trained_n": [int(config.n_min), int(config.n_max)],
        "training": {**{k: v for k, v in config.to_dict().items() if k not in ("extra_card", "checkpoint_path")},
                     "steps_done": steps_done, "seconds": round(seconds, 1),
                     "final_loss": (curves["loss"][-1] if curves["loss"] else None),
                     "evaluations": evaluations or []},
        "metrics": metrics,
        "evaluation": {"instances": "tasks.random_instances(n, eval_num, eval_seed)", "eval_num": int(config.eval_num),
                       "eval_seed": int(config.eval_seed), "eval_ns": list(config.eval_ns),
                       "methods": list(config.eval_methods),
                       "reference": "tasks.tsp_reference (fast-tsp; exact for n <= 20)" if config.task == "tsp" else
                       "scipy exact labels"},
        **config.extra_card,
    }


def _measure(model, config: TrainConfig, device: str | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for n in config.eval_ns:
        out.update(evaluate(model, config.task, n, int(config.eval_num), int(config.eval_seed), config.eval_methods,
                            device or config.device))
    return out


def learning_rate(config: TrainConfig, phase: str, phase_step: int, t_start: float, warmup: bool = False) -> float:
    """The rate of step ``phase_step`` (from 1) of ``phase``: a cosine decay, by steps or by the time limit.

    Supervised: ``lr`` to ``lr / 10`` (coarse first, then fine). POMO: ``pomo_lr`` to ``pomo_lr_final`` when
    set, else constant; with ``warmup`` (an empty optimizer, not one resumed), ramped up linearly over the
    first ``pomo_warmup`` steps. A run stopped by its time limit still ends on the low rate.
    """
    if phase == "supervised":
        frac = phase_progress(phase_step, int(config.steps), t_start, float(config.time_limit_s))
        return cosine(float(config.lr), 0.1 * float(config.lr), frac)
    lr = float(config.pomo_lr)
    if config.pomo_lr_final is not None:
        frac = phase_progress(phase_step, int(config.pomo_steps), t_start, float(config.time_limit_s))
        lr = cosine(lr, float(config.pomo_lr_final), frac)
    return lr * (warmup_factor(phase_step, int(config.pomo_warmup)) if warmup else 1.0)


def run_train(config: TrainConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> TrainResult:
    """Train (or continue training, ``config.init_checkpoint``) a pointer model: the ``train`` verb.

    ``on_progress`` is called after every step; ``True`` stops, and the model so far is measured and
    returned. Training data is generated from the seed (``data`` is not used).
    """
    from lab.core.device import resolve_device

    rng = seed_everything(int(config.seed))
    device = resolve_device(config.device).name
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(int(config.seed))  # POMO sampling happens on the device
    model = build_model(config.architecture()).to(dev)
    done = {"supervised": 0, "pomo": 0}
    resumed: dict[str, Any] | None = None  # the continued run's optimizer state, for the phase it was in
    resumed_phase = "supervised" if int(config.steps) else "pomo"
    if config.init_checkpoint is not None:
        state, card = load_checkpoint(config.init_checkpoint, expected_architecture=config.architecture())
        if any(k.startswith("start.") for k in state):
            # the start head scores the encoder's embeddings, which this run changes: it would be stale
            log.warning("dropping the checkpoint's start head; fit it again after training "
                        "(scripts/train_start_head.py)")
            state = {k: v for k, v in state.items() if not k.startswith("start.")}
        model.load_state_dict(state)
        done.update(card.get("training", {}).get("steps_done", {}))
        resumed = load_optimizer_state(config.init_checkpoint, resumed_phase, done)
        # a different stream of batches than the run being continued
        rng = np.random.default_rng([int(config.seed), int(done["supervised"]), int(done["pomo"])])
    pool = None
    if config.task == "tsp" and config.steps:
        pool = TourPool(list(range(config.n_min, config.n_max + 1)), int(config.pool_per_size), int(config.seed))
    curves: dict[str, list[float]] = {"loss": []}
    t_start = last_save = time.time()
    total = int(config.steps) + int(config.pomo_steps)
    metrics: dict[str, float] = {}
    evaluations: list[dict] = []
    phase = resumed_phase  # of the last step taken; save() tags the optimizer state with it

    def save() -> None:
        nonlocal metrics
        if config.checkpoint_path:
            save_optimizer_state(config.checkpoint_path, opt, phase, done)
            metrics = _measure(model, config, device)
            # every measurement of this run, so a card shows how the metric moved with training
            evaluations.append({"steps_done": dict(done), "seconds": round(time.time() - t_start, 1), **metrics})
            card = _card(config, model, dict(done), curves, metrics, time.time() - t_start, evaluations)
            save_checkpoint(config.checkpoint_path, model.state_dict(), card)

    def fresh_optimizer(lr: float, for_phase: str) -> torch.optim.Optimizer:
        nonlocal resumed
        new = torch.optim.Adam(model.parameters(), lr=lr)
        if resumed is not None and for_phase == resumed_phase:
            try:
                new.load_state_dict(resumed)  # Adam's moments as the continued run left them
            except (ValueError, KeyError, RuntimeError):
                log.warning("ignoring an optimizer state that does not fit this model")
                resumed = None
        return new

    opt = fresh_optimizer(float(config.lr), "supervised")
    warm_up = False
    stopped = False
    for step in range(1, total + 1):
        model.train()
        n = int(rng.integers(config.n_min, config.n_max + 1))
        if step <= config.steps:
            if pool is not None:
                pts_np, tours_np = pool.batch(n, int(config.batch_size), rng)
                pts, tours = torch.from_numpy(pts_np), torch.from_numpy(tours_np)
                if config.model == "am":
                    loss = imitation_loss(model, random_symmetry(pts, rng).to(dev), random_start(tours, rng).to(dev))
                else:
                    loss = supervised_loss(model, "tsp", pts.to(dev), tours.to(dev))
            else:
                pts_np = rng.random((int(config.batch_size), n, 2)).astype(np.float32)
                order = reading_order(model, torch.from_numpy(pts_np))  # the frame the decoders give this model
                if order is not None:
                    pts_np = reorder(torch.from_numpy(pts_np), order).numpy()
                targets = pad_sequences([label_sequence(config.task, p) for p in pts_np])
                loss = supervised_loss(model, config.task, torch.from_numpy(pts_np).to(dev), targets.to(dev))
            phase = "supervised"
        else:
            if step == config.steps + 1:
                opt = fresh_optimizer(float(config.pomo_lr), "pomo")
                # an empty POMO optimizer eases in over pomo_warmup steps (lab.pointer.resume explains why)
                warm_up = not (resumed is not None and resumed_phase == "pomo")
            pts = torch.from_numpy(rng.random((int(config.pomo_batch), n, 2)).astype(np.float32)).to(dev)
            loss, mean_len = pomo_loss(model, pts, gen, float(config.pomo_imitation), rng)
            curves.setdefault("pomo_tour_length", []).append(mean_len)
            phase = "pomo"
        phase_step = step if phase == "supervised" else step - int(config.steps)
        lr = learning_rate(config, phase, phase_step, t_start, warmup=phase == "pomo" and warm_up)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float(config.grad_clip))
        opt.step()
        done[phase] += 1
        curves["loss"].append(loss.item())
        elapsed = time.time() - t_start
        live = {"loss": curves["loss"][-1]}  # one quantity per chart: the sampled n is not a curve
        if phase == "pomo":
            live["pomo_tour_length"] = curves["pomo_tour_length"][-1]
        if report(on_progress, step, total, live):
            stopped = True
        if config.time_limit_s and elapsed > config.time_limit_s:
            stopped = True
        if stopped:
            break
        if config.checkpoint_path and time.time() - last_save > config.save_seconds:
            save()
            last_save = time.time()
    model.eval()
    if config.checkpoint_path:
        save()
    else:
        metrics = _measure(model, config, device)
    card = _card(config, model, dict(done), curves, metrics, time.time() - t_start, evaluations)
    return TrainResult(model=model, config=config, curves=curves, scores=metrics, card=card)
