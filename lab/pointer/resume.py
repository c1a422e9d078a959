"""Continuing a training run where it stopped: the optimizer's state beside the checkpoint, and the rate.

A checkpoint (``name.pt`` + ``name.json``) holds the weights; a run continued from it with a fresh Adam
starts with empty moment estimates, and Adam's bias correction then makes its first updates about
``lr`` in every weight at once -- far larger than the steady state's, where noisy gradients average
out. Seen on ``am_tsp50`` (issue 15's notes): a POMO continuation restarted with a fresh Adam at lr 3e-5
went from 2.73 to 2.96 % greedy gap on its 200 held-out instances within its first 1,200 steps, one
restarted at 1e-5 held 2.73 % there (and drifted up later, to 2.96 % at 5,000 steps, so the rate is not
the whole story). Two standard remedies, used by :func:`lab.pointer.train.run_train`; their effect on
that model's long runs is not measured yet:

- the optimizer's state is saved beside the checkpoint (``name.optim``, not a ``.pt`` so the zoo never
  offers it as a model) with the step counts it belongs to, and is loaded when a run continues from that
  checkpoint and the counts still match;
- where no matching state exists, ``pomo_warmup`` ramps the POMO rate linearly from 0 over its first
  steps, so the moment estimates fill before the updates are full size.

The state file is read with ``torch.load(weights_only=True)``, like every checkpoint.
"""

from __future__ import annotations

import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from lab.core.files import atomic_write_bytes

log = logging.getLogger(__name__)

SUFFIX = ".optim"


def optimizer_path(checkpoint: str | Path) -> Path:
    """Where the optimizer state of ``checkpoint`` (a ``.pt`` path) lives: the same stem, ``.optim``."""
    return Path(checkpoint).with_suffix(SUFFIX)


def save_optimizer_state(checkpoint: str | Path, optimizer: torch.optim.Optimizer, phase: str,
                         steps_done: dict[str, int]) -> Path:
    """Write ``optimizer``'s state beside ``checkpoint``, tagged with the phase and step counts it belongs to."""
    buffer = io.BytesIO()
    torch.save({"phase": phase, "steps_done": {k: int(v) for k, v in steps_done.items()},
                "optimizer": optimizer.state_dict()}, buffer)
    return atomic_write_bytes(optimizer_path(checkpoint), buffer.getvalue())


def load_optimizer_state(checkpoint: str | Path, phase: str, steps_done: dict[str, int]) -> dict[str, Any] | None:
    """The saved optimizer state of ``checkpoint`` if it belongs to ``phase`` at ``steps_done``, else None.

    None (with a log line) for a missing, unreadable or stale file: the run then starts a fresh optimizer,
    as it would have without the file.
    """
    path = optimizer_path(checkpoint)
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a half-written or foreign file: train on with a fresh optimizer
        log.warning("ignoring the optimizer state %s (%s)", path, type(err).__name__)
        return None
    want = {k: int(v) for k, v in steps_done.items()}
    if not isinstance(saved, dict) or saved.get("phase") != phase or saved.get("steps_done") != want:
        log.warning("ignoring the optimizer state %s: it belongs to another phase or step count", path)
        return None
    return saved["optimizer"]


def phase_progress(step: int, steps: int, t_start: float, time_limit_s: float) -> float:
    """Fraction of a phase done: by steps, or by wall time if the run's time limit comes first."""
    frac = (step - 1) / max(1, steps - 1)
    if time_limit_s:
        frac = max(frac, (time.time() - t_start) / float(time_limit_s))
    return min(1.0, frac)


def cosine(start: float, end: float, frac: float) -> float:
    """A cosine decay from ``start`` (``frac`` = 0) to ``end`` (``frac`` = 1)."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * frac))


def warmup_factor(phase_step: int, warmup_steps: int) -> float:
    """Linear warm-up: step 1 of ``warmup_steps`` runs at ``1 / warmup_steps`` of the rate, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, phase_step / float(warmup_steps))
