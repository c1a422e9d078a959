"""Training the lab's Llama on the four tasks until it answers them uncompressed.

Recipe (chosen because a naive one -- one supervised answer per sequence, full-size contexts from the
start -- stays near chance for many minutes on a CPU):

- **dense supervision**: every training sequence is one context followed by ``questions`` question/answer
  pairs (``ctx q1 a1 q2 a2 ...``); the loss is the cross-entropy of each answer at its question's last token
  (multi-hop: of the middle there, then of the end at the middle, teacher forced: ``q m e``). Evaluation asks
  one question right after the context, the first position the training format also has, and lets the model
  write its own middle (:func:`write_and_answer`);
- **a curriculum**: a task's size (statements per context) starts at 2 and grows by one whenever the model
  answered >= 90 % of that task's training questions over 5 steps at the current size, and at the latest
  linearly to the evaluation size over the first ``curriculum`` fraction of the steps; sizes are drawn from
  the upper half up to the current size;
- **a copy warm-up task of random length** (``copy_min`` to ``copy`` tokens; ``copy`` 0 = none): random
  tokens repeated once, every repeated token supervised. Only induction heads (a previous-token head, then a
  look-up on its output) copy at any length, and that previous-token head is what disambiguation's two-name
  match needs: it brings the first name to the last name's position, in the records and in the question.
  At one fixed length (``copy_min`` 0; the recipe's first form, length 24) the copy is solved by a head
  that looks back a fixed distance instead: the model trained that way copied only at length 24 (<= 0.01
  at 12, 20, 28, 36), had no previous-token head and answered disambiguation by the last name alone (0.2)
  after 8000 steps. Switched to lengths 8-32 at step 8000, it copied at every length within ~1000 steps,
  grew a previous-token head in layer 3 of 4, and disambiguation went 0.2 -> 1.0 in the next ~1000
  (``benchmarks/kvcache_diagnose.py`` measures all three);
- **no answers by elimination**: in a task whose every symbol has its own answer, a sequence asks about at
  most half of the symbols (:func:`asked_count`);
- **practice questions** (``practice``): a task's easier questions (multi-hop: the one-hop ``end of <middle>``
  about the asked chains, in reverse order) interleaved with the evaluated ones; they train the look-up
  that the two-hop question composes. The curriculum counts only the evaluated questions;
- every step takes one batch of every task (the tasks share the vocabulary and the model); a task mastered
  at its evaluation size gets a quarter batch (:func:`task_batch_size`), so the others get the time;
- AdamW, linear warm-up then cosine decay to a tenth, gradient clipping at 1; sdpa attention while training
  (faster), eager attention in the returned model (the same weights).

Resumable: ``state`` names a training-state file (model, optimizer, step, curves; ``weights_only``
loadable) written every ``save_every`` steps and read at the start when it exists. Training data for step
``t`` are drawn from ``default_rng([seed, 7, t, task])``, so a resumed run sees the data it would have seen.
"""

from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.files import atomic_write_bytes, to_jsonable
from lab.core.progress import ProgressCallback, report
from lab.kvcache.model import build_model, checkpoint_payload, config_dict, llama_config
from lab.kvcache.tasks import DISTINCT_ANSWERS, FULL_SIZE, TASKS, generate, make_batches
from lab.kvcache.vocab import WordCodec

EVAL_SEED = 20261201  # held-out samples: make_batches(task, num, EVAL_SEED) never meets a training stream


@dataclass(frozen=True)
class TrainConfig(LabConfig):
    """Train the KV-cache lab's Llama on generated tasks (dense answers, a size curriculum)."""

    tasks: tuple[str, ...] = TASKS
    layers: int = 4
    heads: int = 4
    hidden: int = 128
    steps: int = 4000
    batch_size: int = 32  # sequences per task per step
    questions: int = 16  # supervised question/answer pairs per training sequence (at most one per symbol)
    lr: float = 2e-3
    warmup: int = 100
    curriculum: float = 0.4  # fraction of the steps by which contexts have grown to the evaluation size
    copy: int = 32  # (longest) length of the random sequence of the copy task trained alongside (0 = none)
    copy_min: int = 8  # > 0: each step draws the copy length in [copy_min, copy] (induction heads, see above); 0 = fixed
    practice: bool = True  # interleave the tasks' practice questions (Sample.practice) with the evaluated ones
    eval_num: int = 200  # held-out samples per task for the final accuracy
    eval_every: int = 0  # steps between quick held-out checks (100 samples per task) in the curves; 0 = none
    state: str = ""  # a training-state file to resume from and save to ('' = none)
    save_every: int = 200
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        if not tasks:
            raise LabInputError("tasks is empty; name at least one of " + ", ".join(TASKS) + ".")
        for task in tasks:
            if task not in TASKS:
                raise LabInputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}.")
        self.normalise("tasks", tasks)
        for name, lo in (("layers", 1), ("heads", 1), ("hidden", 4), ("steps", 0), ("batch_size", 1),
                         ("questions", 1), ("warmup", 0), ("eval_num", 1), ("save_every", 1), ("eval_every", 0),
                         ("copy", 0), ("copy_min", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise LabInputError(f"{name.replace('_', ' ')} is {value!r}; use an integer of at least {lo}.")
        if self.hidden % self.heads:
            raise LabInputError(f"hidden {self.hidden} is not a multiple of heads {self.heads}; choose a multiple.")
        if self.copy and self.copy_min and not 2 <= self.copy_min <= self.copy:
            raise LabInputError(f"copy min is {self.copy_min} with copy {self.copy}; use 0 (one fixed length) or a "
                                f"length in [2, {self.copy}].")
        if not isinstance(self.practice, bool):
            raise LabInputError(f"practice is {self.practice!r}; use true or false.")
        if not self.lr > 0:
            raise LabInputError(f"lr is {self.lr}; use a positive learning rate.")
        if not 0 <= self.curriculum <= 1:
            raise LabInputError(f"curriculum is {self.curriculum}; use a fraction of the steps in [0, 1].")


def training_batch(task: str, batch_size: int, size: int, questions: int, rng: np.random.Generator,
                   codec: WordCodec, practice: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``batch_size`` sequences ``ctx q1 a1 q2 a2 ...`` of one size.

    Each sequence asks :func:`asked_count` questions. A question whose answer comes after written tokens
    (:attr:`~lab.kvcache.tasks.Query.written`, multi-hop's middle) is followed by them and then its answer,
    each predicted by the token before it (teacher forcing). With ``practice``, each evaluated question is
    followed by a practice question about one of the asked symbols, in reverse order (mostly another symbol
    than the question before it).

    Returns ids (B, L) long, the positions that predict (B, P) long (each question's last token, then its
    written tokens), their targets (B, P) and which of them belong to evaluated questions, not practice
    (B, P) bool.
    """
    rows, where, answers, real = [], [], [], []
    for _ in range(batch_size):
        sample = generate(task, rng, size)
        asked = [(q, True) for q in sample.queries[: asked_count(task, len(sample.queries), questions)]]
        if practice and sample.practice:  # practice[i] is about the symbol of queries[i]
            extra = sample.practice[: len(asked)][::-1]
            asked = [pair for both in zip(asked, [(q, False) for q in extra], strict=True) for pair in both]
        ids, _ = codec.encode(sample.context)
        pos, ans = [], []
        flags = []
        for q, evaluated in asked:
            ids += codec.encode(q.question, first=False)[0]
            for word in [*q.written, q.answer]:
                pos.append(len(ids) - 1)
                ans.append(codec.answer_id(word))
                ids.append(ans[-1])
                flags.append(evaluated)
        rows.append(ids)
        where.append(pos)
        answers.append(ans)
        real.append(flags)
    return torch.tensor(rows), torch.tensor(where), torch.tensor(answers), torch.tensor(real)


def asked_count(task: str, symbols: int, questions: int) -> int:
    """How many questions a training sequence of ``task`` with ``symbols`` queryable symbols asks: up to
    ``questions``, and for a task whose every symbol has its own answer (:data:`DISTINCT_ANSWERS`:
    disambiguation's values, multi-hop's ends) at most half of the symbols.

    Asked about every symbol, the last answers follow by elimination (the one value not yet given): a shortcut
    the evaluation (one question after the context) does not have, which inflated the training accuracy of
    those two tasks (0.6-0.8 while held-out accuracy stayed at 0.1-0.2) and so moved their curriculum on.
    """
    if task in DISTINCT_ANSWERS:
        return min(questions, max(1, symbols // 2))
    return min(questions, symbols)


def answer_logits(model: Any, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Logits (B, Q, V) at ``positions`` (B, Q) of ``ids`` (B, L), without the head at every other position."""
    hidden = model.model(input_ids=ids).last_hidden_state  # (B, L, H)
    picked = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))
    return model.lm_head(picked)


def curriculum_top(task: str, step: int, config: TrainConfig, level: int) -> int:
    """The largest context size of ``task`` at ``step``: the earned ``level`` or the linear ramp, the larger."""
    full = FULL_SIZE[task]
    ramp = config.curriculum * config.steps
    top = full if ramp <= 0 else int(round(2 + (full - 2) * min(1.0, step / ramp)))
    return min(full, max(top, level))


def task_batch_size(task: str, config: TrainConfig, levels: list[int], accs: list[float]) -> int:
    """A task's sequences this step: a quarter of ``batch_size`` once it is mastered, else all of them.

    Mastered: at the evaluation size, >= 99 % of its training questions right over the last 50 steps. The
    freed time goes to the tasks still being learned; the quarter batch keeps the mastered one from being
    forgotten (its accuracy keeps being measured, and a drop brings the full batch back).
    """
    mastered = (len(accs) >= 50 and levels and levels[-1] >= FULL_SIZE[task] and float(np.mean(accs[-50:])) >= 0.99)
    return max(1, config.batch_size // 4) if mastered else config.batch_size


def copy_loss(model: Any, length: int, batch_size: int, rng: np.random.Generator, vocab: int) -> torch.Tensor:
    """Cross-entropy of predicting the second copy of ``length`` random tokens (``<bos> s s``), every token."""
    seq = torch.from_numpy(rng.integers(2, vocab, (batch_size, length)))
    ids = torch.cat([torch.ones(batch_size, 1, dtype=torch.long), seq, seq], 1).to(model.device)
    logits = model(input_ids=ids).logits[:, length + 1:-1]  # (B, length - 1, V): predicts seq[1:]
    return F.cross_entropy(logits.flatten(0, 1), seq[:, 1:].flatten().to(model.device))


def copy_length(rng: np.random.Generator, longest: int, shortest: int) -> int:
    """One step's copy-task length: uniform in ``[shortest, longest]``, or ``longest`` when ``shortest`` is 0
    (the meaning of ``TrainConfig.copy`` / ``copy_min``)."""
    return int(rng.integers(shortest, longest + 1)) if shortest else int(longest)


def learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    frac = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


@torch.no_grad()
def write_and_answer(model: Any, ids: torch.Tensor, steps: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy: write ``steps`` tokens after ``ids`` (B, L), then read the answer's logits.

    Returns the written tokens (B, steps) and the logits (B, V) at the last token (the answer position).
    """
    def last(ids: torch.Tensor) -> torch.Tensor:  # (B, V): the logits at the last position
        return answer_logits(model, ids, torch.full((ids.shape[0], 1), ids.shape[1] - 1, device=ids.device))[:, 0]

    written = ids[:, :0]
    for _ in range(steps):
        token = last(ids).argmax(-1, keepdim=True)  # (B, 1)
        written, ids = torch.cat([written, token], 1), torch.cat([ids, token], 1)
    return written, last(ids)


@torch.no_grad()
def accuracy(model: Any, codec: WordCodec, task: str, num: int, seed: int = EVAL_SEED,
             batch_size: int = 250) -> float:
    """Uncompressed accuracy on ``num`` held-out samples: the answer, after the model's own written tokens
    (:func:`write_and_answer`), is right."""
    model.eval()
    correct = 0
    for batch in make_batches(task, num, seed, codec, batch_size):
        ids = torch.cat([batch.context, batch.question], 1).to(model.device)
        _, logits = write_and_answer(model, ids, batch.steps)
        correct += int((logits.argmax(-1).cpu() == batch.answer).sum())
    return correct / num


@dataclass
class TrainResult:
    model: Any
    codec: WordCodec
    config: TrainConfig
    curves: dict[str, list[float]]
    scores: dict[str, float]
    steps_done: int = 0
    stopped: bool = False
    seconds: float = 0.0
    card: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        curves = {k: v for k, v in self.curves.items() if k != "seconds"}  # timings are not reproducible
        out: dict[str, Any] = {**self.scores, "steps_done": self.steps_done, "train_seconds": self.seconds,
                               "curves": curves}
        if self.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self) -> dict[str, bytes | str]:
        buffer = io.BytesIO()
        torch.save(checkpoint_payload(self.model, self.codec), buffer)
        return {"kv_llama.pt": buffer.getvalue(), "kv_llama.json": json.dumps(to_jsonable(self.card), indent=2)}

    def title(self) -> str:
        return f"train the KV-cache Llama ({self.steps_done} steps)"

    def to_json(self) -> dict[str, Any]:
        return {"metrics": {k: v for k, v in self.metrics().items() if k != "curves"}, "card": self.card}


def _load_state(path: Path, config: TrainConfig, model: Any, opt: torch.optim.Optimizer) -> tuple[int, dict]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("arch") != config_dict(model.config):
        raise LabInputError(f"{path.name} is the training state of a different model; use another --state file.")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return int(state["step"]), {k: list(v) for k, v in state["curves"].items()}


def _save_state(path: Path, step: int, model: Any, opt: torch.optim.Optimizer, curves: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"step": step, "arch": config_dict(model.config), "model": model.state_dict(),
                "optimizer": opt.state_dict(), "curves": curves}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def reset_levels(path: Path, tasks: list[str]) -> None:
    """Restart the earned curriculum level of ``tasks`` at 2 in the training state ``path`` (the size ramp
    still applies: :func:`curriculum_top`)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for task in tasks:
        if task not in TASKS:
            raise LabInputError(f"unknown task {task!r}; choose from {', '.join(TASKS)}.")
        levels = state["curves"].get(f"level_{task}") or [2]
        levels[-1] = 2  # the last step's level: the next step starts from it (and must earn the next ones)
        state["curves"][f"level_{task}"] = levels
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def run_train(config: TrainConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> TrainResult:
    """The ``train`` verb: train (or resume), then measure held-out accuracy per task; a stop keeps the model."""
    codec = WordCodec()
    torch.manual_seed(config.seed)
    model = build_model(llama_config(len(codec), config.layers, config.heads, config.hidden), attn="sdpa")
    device = torch.device("cpu" if config.device in ("auto", "cpu") else config.device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01, betas=(0.9, 0.98))
    state = Path(config.state).expanduser() if config.state else None
    step, curves = 0, {"loss": [], "train_accuracy": [], "seconds": []}
    if state is not None and state.exists():
        step, curves = _load_state(state, config, model, opt)
    start, stopped = time.perf_counter(), False
    model.train()
    while step < config.steps:
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, config)
        loss, hits, count, tick = 0.0, 0, 0, time.perf_counter()
        for task in config.tasks:
            rng = np.random.default_rng([config.seed, 7, step, TASKS.index(task)])
            levels = curves.setdefault(f"level_{task}", [])
            top = curriculum_top(task, step, config, levels[-1] if levels else 2)
            size = int(rng.integers(max(2, top // 2), top + 1))
            batch = task_batch_size(task, config, levels, curves.get(f"train_accuracy_{task}", []))
            ids, pos, ans, real = training_batch(task, batch, size, config.questions, rng, codec, config.practice)
            logits = answer_logits(model, ids.to(device), pos.to(device))
            task_loss = F.cross_entropy(logits.flatten(0, 1), ans.flatten().to(device))
            (task_loss / len(config.tasks)).backward()
            loss += float(task_loss.detach()) / len(config.tasks)
            right = logits.argmax(-1).cpu() == ans  # (B, Q)
            task_hits = int(right[real].sum())  # evaluated questions only: practice is easier
            hits, count = hits + task_hits, count + int(real.sum())
            accs = curves.setdefault(f"train_accuracy_{task}", [])
            accs.append(task_hits / int(real.sum()))
            levels.append(top)
            if len(levels) >= 5 and len(set(levels[-5:])) == 1 and np.mean(accs[-5:]) >= 0.9:
                levels[-1] = min(FULL_SIZE[task], top + 1)  # earned: the next step may draw one more
        if config.copy:
            rng = np.random.default_rng([config.seed, 7, step, 99])
            aux = copy_loss(model, copy_length(rng, config.copy, config.copy_min), config.batch_size, rng, len(codec))
            (aux / len(config.tasks)).backward()
            curves.setdefault("copy_loss", []).append(float(aux.detach()))
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        curves["loss"].append(loss)
        curves["train_accuracy"].append(hits / count)
        curves["seconds"].append(time.perf_counter() - tick)
        shown = {"loss": loss, "train_accuracy": hits / count}
        if config.eval_every and step % config.eval_every == 0:
            for task in config.tasks:
                shown[f"held_out_{task}"] = accuracy(model, codec, task, 100, seed=EVAL_SEED + 1)
                curves.setdefault(f"held_out_{task}", []).append(shown[f"held_out_{task}"])
            model.train()
        if state is not None and (step % config.save_every == 0 or step == config.steps):
            _save_state(state, step, model, opt, curves)
        if report(on_progress, step, config.steps, shown):
            stopped = True
            break
    seconds = time.perf_counter() - start
    if state is not None and stopped:
        _save_state(state, step, model, opt, curves)
    model.config._attn_implementation = "eager"
    model.eval()
    scores = {f"accuracy_{task}": accuracy(model, codec, task, config.eval_num) for task in config.tasks}
    scores["accuracy_mean"] = float(np.mean(list(scores.values())))
    card = make_card(model, config, step, scores, stopped, seconds)
    return TrainResult(model.cpu(), codec, config, curves, scores, step, stopped, seconds, card)


def make_card(model: Any, config: TrainConfig, steps_done: int, scores: dict[str, float], stopped: bool,
              seconds: float) -> dict[str, Any]:
    """The checkpoint card: architecture, how it was trained, held-out accuracy per task (uncompressed)."""
    return {"architecture": {"model": "llama", **config_dict(model.config)}, "train_config": config.to_dict(),
            "seed": config.seed, "steps_done": steps_done, "stopped_early": stopped, "train_seconds": round(seconds, 1),
            "metrics": {**scores, "eval_num_per_task": config.eval_num, "eval_seed": EVAL_SEED},
            "parameters": int(sum(p.numel() for p in model.parameters()))}
