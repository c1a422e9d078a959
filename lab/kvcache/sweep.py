"""The ``compress`` verb: accuracy, hallucination, GER, retention, accessibility and consensus against the
compression ratio, for several presses on one task, and the cliff of each press.

Each batch is prefilled once (:func:`lab.kvcache.compress.prefill`); every (press, ratio) point then runs
the press's own ``compress`` on the captured layers and reads the question against the compressed cache,
so a point costs a scoring and a read of a few tokens. Progress is reported once per point; a stop keeps
the points done so far (the cliffs of a stopped sweep are over the ratios it reached).
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from typing import Any

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.kvcache.metrics import PointStats, cliff, pearson, susceptibility
from lab.kvcache.presses import DEFAULT_PRESSES, PRESS_NAMES, PRESSES

TASK_NAMES = ("multi_entity", "disambiguation", "coreference", "multi_hop")  # lab.kvcache.tasks.TASKS, without torch
#: Captured prefills are kept between points while they fit in this many bytes; beyond, they are recomputed.
PREFILL_BUDGET = 1_000_000_000
#: The columns of the table (CLI ``results``, CSV download).
COLUMNS = ("press", "ratio", "accuracy", "hallucination_rate", "ger", "retention", "utilization", "accessibility",
           "kept", "samples")


@dataclass(frozen=True)
class CompressConfig(LabConfig):
    """A compression sweep: ``presses`` x ``ratios`` on ``num`` samples of ``task``.

    ``model``: ``shipped`` (the lab's trained model), ``random`` (an untrained 2-layer model, for tests and
    quick looks), a ``.pt`` written by ``dynlab kv train``, or a local Hugging Face causal-LM directory.
    ``question_aware``: compress the context and the question (else the context alone, before the question).
    """

    task: str = "multi_entity"
    presses: tuple[str, ...] = DEFAULT_PRESSES
    ratios: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95)
    num: int = 200
    question_aware: bool = False
    model: str = "shipped"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("task", TASK_NAMES)
        presses = tuple(p.strip() for p in (self.presses.split(",") if isinstance(self.presses, str)
                                             else self.presses) if str(p).strip())
        if not presses:
            raise LabInputError("no press given; choose one or more of " + ", ".join(PRESS_NAMES) + ".")
        for name in presses:
            if name not in PRESSES:
                raise LabInputError(f"unknown press {name!r}; choose from {', '.join(PRESS_NAMES)}.")
        self.normalise("presses", tuple(dict.fromkeys(presses)))
        try:
            ratios = [float(r) for r in (self.ratios.split(",") if isinstance(self.ratios, str) else self.ratios)]
        except (TypeError, ValueError):
            raise LabInputError(f"ratios {self.ratios!r} are not numbers; give e.g. 0,0.5,0.9.") from None
        if not ratios:
            raise LabInputError("no ratio given; give compression ratios in [0, 1), e.g. 0,0.5,0.9.")
        for r in ratios:
            if not 0.0 <= r < 1.0:
                raise LabInputError(f"ratio {r:g} is outside [0, 1); a ratio is the fraction of the cache evicted.")
        self.normalise("ratios", tuple(sorted(set(ratios))))
        if isinstance(self.num, bool) or not isinstance(self.num, int) or not 1 <= self.num <= 100_000:
            raise LabInputError(f"num is {self.num!r}; use a whole number of samples from 1 to 100000.")
        if not isinstance(self.model, str) or not self.model.strip():
            raise LabInputError("model is empty; give shipped, random, a .pt checkpoint or a model directory.")


@dataclass
class CompressResult:
    """The sweep's points (one dict per press and ratio, see :data:`COLUMNS` and
    :meth:`lab.kvcache.metrics.PointStats.summary`) and the uncompressed reference."""

    config: CompressConfig
    model: str
    uncompressed: dict[str, Any]
    points: list[dict[str, Any]]
    layers: int
    heads: int
    context_len: int
    seconds: float
    stopped: bool = False

    def curve(self, press: str, key: str) -> tuple[list[float], list[Any]]:
        """(ratios, values of ``key``) of one press, ascending ratio."""
        rows = [p for p in self.points if p["press"] == press]
        return [p["ratio"] for p in rows], [p[key] for p in rows]

    def presses_done(self) -> list[str]:
        return list(dict.fromkeys(p["press"] for p in self.points))

    def cliffs(self) -> dict[str, float | None]:
        """Per press: the ratio where accuracy falls below half the uncompressed accuracy (None: never)."""
        base = self.uncompressed["accuracy"]
        return {p: cliff(*self.curve(p, "accuracy"), base) for p in self.presses_done()}

    def chance(self) -> float | None:
        """Accuracy of a uniform guess among each prompt's candidate answers, averaged over the prompts (None in
        results saved before it was recorded)."""
        value = self.uncompressed.get("chance")
        return None if value is None else float(value)

    def cliffs_meaningful(self) -> bool:
        """Whether the cliff's line (half the uncompressed accuracy) lies above chance.

        Below it, a model that has not learned the task falls "to half" by guessing: its cliffs mark noise.
        """
        chance = self.chance()
        return chance is None or self.uncompressed["accuracy"] / 2 > chance

    def susceptibility(self) -> dict[str, list[float]]:
        """Per press: d(hallucination rate)/d(ratio) at each swept ratio."""
        return {p: susceptibility(*self.curve(p, "hallucination_rate")) for p in self.presses_done()}

    def ger_hallucination_r(self) -> float | None:
        """Pearson r between GER and hallucination rate over every point of the sweep."""
        return pearson([p["ger"] for p in self.points], [p["hallucination_rate"] for p in self.points])

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uncompressed_accuracy": self.uncompressed["accuracy"],
                               "uncompressed_hallucination_rate": self.uncompressed["hallucination_rate"],
                               "points": len(self.points), "ger_hallucination_r": self.ger_hallucination_r(),
                               "seconds": self.seconds}
        for press, value in self.cliffs().items():
            out[f"cliff_{press}"] = value
        curves: dict[str, list[float]] = {"ratio": []}
        for press in self.presses_done():
            ratios, acc = self.curve(press, "accuracy")
            curves["ratio"] = ratios
            curves[f"accuracy_{press}"] = acc
            curves[f"hallucination_rate_{press}"] = self.curve(press, "hallucination_rate")[1]
            curves[f"ger_{press}"] = self.curve(press, "ger")[1]
        out["curves"] = curves
        if self.stopped:
            out["stopped_early"] = True
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab kv sweep --json`` document (issue 11's contract, plus more keys)."""
        return {"results": self.points, "cliff": self.cliffs(), "seconds": self.seconds,
                "uncompressed": self.uncompressed, "susceptibility": self.susceptibility(),
                "ger_hallucination_r": self.ger_hallucination_r(), "chance": self.chance(),
                "cliffs_meaningful": self.cliffs_meaningful(), "task": self.config.task,
                "question_aware": self.config.question_aware, "model": self.model, "layers": self.layers,
                "heads": self.heads, "context_len": self.context_len, "stopped": self.stopped}

    def table_csv(self) -> str:
        """The points as CSV (one row per press and ratio; per-layer values as ``;``-joined lists)."""
        buf = io.StringIO()
        extra = ("ger_per_layer", "accessibility_per_layer", "consensus")
        writer = csv.writer(buf)
        writer.writerow(COLUMNS + extra)
        for p in self.points:
            writer.writerow([p[c] for c in COLUMNS] + [";".join(f"{v:.6g}" for v in p[e]) for e in extra])
        return buf.getvalue()

    def artifacts(self) -> dict[str, str]:
        return {"sweep.json": json.dumps(self.to_json()), "sweep.csv": self.table_csv()}

    def title(self) -> str:
        c = self.config
        mode = "question-aware" if c.question_aware else "question-agnostic"
        return f"KV compression on {c.task}: {len(c.presses)} presses x {len(c.ratios)} ratios, {c.num} samples, {mode}"


def load(source: str, device: str = "cpu") -> Any:
    """The :class:`~lab.kvcache.model.LoadedModel` of a config's ``model`` (``random``: seed 0, 2 layers)."""
    from lab.kvcache.model import load_model, random_model

    if source == "random":
        loaded = random_model(seed=0)
        loaded.model.to(device)
        return loaded
    return load_model(source, device=device)


def run_compress(config: CompressConfig, on_progress: ProgressCallback | None = None, data: Any = None
                 ) -> CompressResult:
    """Sweep ``config.presses`` x ``config.ratios`` on ``config.num`` samples (see the module docstring)."""
    import torch

    from lab.core.device import resolve_device
    from lab.kvcache.compress import compress_prefill, prefill
    from lab.kvcache.tasks import make_batches

    start = time.perf_counter()
    loaded = load(config.model, resolve_device(config.device).name)
    model = loaded.model
    batches = make_batches(config.task, config.num, config.seed, loaded.codec)
    needs_attention = any(PRESSES[p].needs_eager for p in config.presses)
    kept: dict[int, Any] = {}

    def captured(i: int) -> Any:
        if i in kept:
            return kept[i]
        b = batches[i]
        pre = prefill(model, b.context, b.question, question_aware=config.question_aware, attentions=needs_attention,
                      steps=b.steps)
        if sum(p.nbytes() for p in kept.values()) + pre.nbytes() <= PREFILL_BUDGET:
            kept[i] = pre
        return pre

    def point(press: str | None, ratio: float) -> dict[str, Any]:
        stats = PointStats()
        for i, b in enumerate(batches):
            c = compress_prefill(model, captured(i), press, ratio, seed=config.seed)
            stats.add(c.keep_context, c.attention, c.logits, b.answer, b.candidates, b.relevant)
        return stats.summary()

    with torch.inference_mode():
        uncompressed = point(None, 0.0)
        # (B, C) candidates per batch: a uniform guess among a prompt's C candidates is right 1/C of the time
        uncompressed["chance"] = float(sum(len(b) / b.candidates.shape[1] for b in batches) / config.num)
        points: list[dict[str, Any]] = []
        total, stopped = len(config.presses) * len(config.ratios), False
        for press in config.presses:
            for ratio in config.ratios:
                row = {"press": press, "ratio": ratio, **point(press, ratio)}
                points.append(row)
                shown = {k: row[k] for k in ("ratio", "accuracy", "hallucination_rate", "ger")}
                if report(on_progress, len(points), total, shown):
                    stopped = True
                    break
            if stopped:
                break
    cfg = model.config
    return CompressResult(config, loaded.name, uncompressed, points, int(cfg.num_hidden_layers),
                          int(cfg.num_attention_heads), int(batches[0].context.shape[1]),
                          time.perf_counter() - start, stopped)


__all__ = ["CompressConfig", "CompressResult", "run_compress", "load", "COLUMNS", "TASK_NAMES"]
