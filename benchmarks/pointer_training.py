"""Pointer lab training speed: seconds per training step of the shipped architectures on this machine.

    .venv/bin/python benchmarks/pointer_training.py              # about 2 minutes on 2 quiet cores
    .venv/bin/python benchmarks/pointer_training.py --threads 1

Writes ``benchmarks/results/pointer_training.json``. What it answers: how many POMO fine-tuning steps
(REINFORCE with the shared baseline, n rollouts per instance) and imitation steps an hour of CPU buys,
which decides what training a session can afford (issue 3). For comparison it also times the POMO
step the way it was computed before the shared-encoding rollouts (every rollout a separate row, the
node keys and values copied n times).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.core.files import atomic_write_json  # noqa: E402
from lab.pointer.decoding import _rollout  # noqa: E402
from lab.pointer.frames import tour_lengths  # noqa: E402
from lab.pointer.losses import imitation_loss, pomo_loss  # noqa: E402
from lab.pointer.models import AttentionModel  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "pointer_training.json"


def pomo_loss_row_per_rollout(model: AttentionModel, points: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The POMO loss computed one row per rollout (keys/values copied n times): the old way, for timing."""
    B, n, _ = points.shape
    state = model.init_state(points).select(torch.arange(B).repeat_interleave(n))
    start = torch.arange(n).repeat(B)
    tours, logp, _ = _rollout(model, state, "tsp", n, B * n, start,
                              lambda lp: torch.multinomial(lp.exp(), 1, generator=gen)[:, 0])
    length = tour_lengths(points.repeat_interleave(n, dim=0), tours).view(B, n)
    advantage = length.mean(dim=1, keepdim=True) - length
    return -(advantage.detach() * logp.view(B, n)).mean()


def time_steps(loss_fn, model: torch.nn.Module, repeats: int, warmup: int = 2) -> float:
    """Median seconds of one optimiser step (forward, backward, Adam)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-12)  # a real step that barely moves the weights
    times = []
    for i in range(warmup + repeats):
        t = time.perf_counter()
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    model = AttentionModel(hidden=128, layers=3)  # the shipped am_tsp20 / am_tsp50 architecture
    model.train()
    rows = []
    for n, batch in [(20, 32), (20, 64), (50, 16)]:
        pts = torch.from_numpy(rng.random((batch, n, 2)).astype(np.float32))
        shared = time_steps(lambda p=pts: pomo_loss(model, p, gen)[0], model, args.repeats)
        separate = time_steps(lambda p=pts: pomo_loss_row_per_rollout(model, p, gen), model, args.repeats)
        rows.append({"kind": "pomo", "n": n, "batch": batch, "rollouts": batch * n,
                     "seconds_per_step": round(shared, 4), "seconds_per_step_row_per_rollout": round(separate, 4),
                     "speedup": round(separate / shared, 2), "steps_per_hour": int(3600 / shared)})
        print(json.dumps(rows[-1]), flush=True)
    for n, batch in [(20, 128), (50, 128)]:
        pts = torch.from_numpy(rng.random((batch, n, 2)).astype(np.float32))
        tours = torch.from_numpy(np.stack([rng.permutation(n) for _ in range(batch)]))
        sec = time_steps(lambda p=pts, t=tours: imitation_loss(model, p, t), model, args.repeats)
        rows.append({"kind": "imitation", "n": n, "batch": batch, "seconds_per_step": round(sec, 4),
                     "steps_per_hour": int(3600 / sec)})
        print(json.dumps(rows[-1]), flush=True)
    results = {"command": "python benchmarks/pointer_training.py " + " ".join(argv or sys.argv[1:]),
               "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
                           "torch": torch.__version__},
               "model": {"hidden": 128, "layers": 3, "heads": 8, "ff": 512}, "steps": rows}
    atomic_write_json(OUT, results)
    return results


if __name__ == "__main__":
    main()
