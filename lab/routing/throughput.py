"""Measured throughput: the early-exit network run for real, inputs leaving the batch as they exit.

:func:`dynamic_predict` runs block ``k`` only on the inputs still running, asks the policy's ``stop``
rule (the same rule the curves replay) which of them stop, and carries the rest on. The static baseline
runs every block and the last classifier on everything. Both are timed on this machine's device over
the same batches; the best of ``repeats`` passes is kept (the least disturbed by other processes).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lab.routing.model import ExitNet
from lab.routing.policies import ExitPolicy


@torch.no_grad()
def dynamic_predict(model: ExitNet, x: torch.Tensor, policy: ExitPolicy, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions (B,) and exit index (B,) of a real early-exit pass over ``x``."""
    b = x.shape[0]
    preds = torch.empty(b, dtype=torch.long)
    where = torch.full((b,), model.n_exits - 1, dtype=torch.long)
    running = torch.arange(b)
    h, state = x, {}
    for k in range(model.n_exits):
        h = model.blocks[k](h)
        feats = model.exit_features(k, h)
        logits = model.classify(k, feats)
        if k == model.n_exits - 1:
            preds[running] = logits.argmax(-1)
            break
        gate = torch.sigmoid(model.gate(k, feats, logits)).numpy() if policy.uses_gates else None
        probs = torch.softmax(logits, -1).numpy()
        stop = torch.from_numpy(np.asarray(policy.stop(k, probs, gate, threshold, state), dtype=bool))
        if stop.any():
            preds[running[stop]] = logits[stop].argmax(-1)
            where[running[stop]] = k
            keep = ~stop
            running, h = running[keep], h[keep]
            state = {key: value[keep.numpy()] for key, value in state.items()}
            if running.numel() == 0:
                break
    return preds, where


def _best_rate(fn, x: np.ndarray, batch: int, repeats: int) -> float:
    xs = [torch.from_numpy(x[i:i + batch]) for i in range(0, len(x), batch)]
    fn(xs[0])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for xb in xs:
            fn(xb)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


@torch.no_grad()
def measure_static(model: ExitNet, x: np.ndarray, batch: int = 256, repeats: int = 5) -> float:
    """Samples per second of the static network (all blocks, last classifier)."""
    model.eval()
    return _best_rate(model.static_forward, x, batch, repeats)


def measure_policy(model: ExitNet, x: np.ndarray, policy: ExitPolicy, threshold: float, batch: int = 256,
                   repeats: int = 5) -> float:
    """Samples per second of :func:`dynamic_predict` with ``policy`` at ``threshold``."""
    model.eval()
    return _best_rate(lambda xb: dynamic_predict(model, xb, policy, threshold), x, batch, repeats)
