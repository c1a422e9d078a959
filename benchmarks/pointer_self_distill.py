"""Does distilling POMO's best greedy start back into the policy shorten its single greedy pass?

A measured lever for TSP50 greedy (issue 15), kept because its answer was no. Each step draws ``--batch``
uniform instances, rolls the current policy out greedily from every start (``all_starts``), and teaches the
shortest of those tours by cross-entropy from ``--starts`` random starts, in either direction (the loss is
``-log(p(tour) + p(reversed tour))``, so the model may keep its own direction). The policy's greedy pass from
node 0 is measured every ``--every`` steps, paired against the starting weights on ``--num`` instances of
seed ``--seed`` (no references needed: both tours are measured against each other).

Run: ``python benchmarks/pointer_self_distill.py --steps 400`` (about 11 minutes on 2 cores); appends to
``benchmarks/results/pointer_self_distill.json``. Nothing is saved as a checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.pointer import log, tsp_tour_lengths  # noqa: E402
from benchmarks.pointer_compare import paired  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pointer_self_distill.json"


def either_direction_loss(model, points, tours):
    """Mean over rows of ``-log(p(tour) + p(reversed))`` per step: points (B, n, 2), tours (B, n) from their start."""
    import torch

    from lab.pointer.losses import step_log_probs

    reverse = torch.cat([tours[:, :1], tours[:, 1:].flip(1)], dim=1)
    both = torch.stack([step_log_probs(model, points, t).sum(dim=1) for t in (tours, reverse)], dim=1)  # (B, 2)
    return -torch.logsumexp(both, dim=1).mean() / (points.shape[1] - 1)


def best_greedy_tours(model, points):
    """The shortest of the n greedy rollouts (one per start) of each instance: (B, n, 2) -> (B, n)."""
    import torch

    from lab.pointer.frames import tour_lengths

    B, n, _ = points.shape
    with torch.no_grad():
        tours, _ = model.all_starts(points, lambda lp: lp.argmax(dim=-1))  # (B, n, n)
        lengths = tour_lengths(points.repeat_interleave(n, dim=0), tours.view(B * n, n)).view(B, n)
    return tours[torch.arange(B), lengths.argmin(dim=1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="am_tsp50")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--starts", type=int, default=4, help="random starts each best tour is taught from")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from lab.pointer import zoo
    from lab.pointer.tasks import random_instances

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = zoo.load(args.checkpoint, model="am")
    val = random_instances(args.n, args.num, args.seed)
    base = tsp_tour_lengths(model, val, "greedy", "node0")[0]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    t0, checks = time.time(), []
    for step in range(1, args.steps + 1):
        model.train()
        pts = torch.from_numpy(rng.random((args.batch, args.n, 2)).astype(np.float32))
        best = best_greedy_tours(model.eval(), pts).repeat_interleave(args.starts, dim=0)  # (B*starts, n)
        shift = torch.as_tensor(rng.integers(0, args.n, len(best)))
        best = best.gather(1, (torch.arange(args.n)[None, :] + shift[:, None]) % args.n)  # random starts
        loss = either_direction_loss(model.train(), pts.repeat_interleave(args.starts, dim=0), best)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.every == 0 or step == args.steps:
            now = tsp_tour_lengths(model, val, "greedy", "node0")[0]
            row = {"step": step, "seconds": round(time.time() - t0), "loss": loss.item(),
                   "relative_length": paired(np.zeros(len(val)), now / base - 1)}
            checks.append(row)
            r = row["relative_length"]
            log(f"step {step}: greedy tours {100 * r['mean']:+.3f} +- {100 * r['sem']:.3f} % vs the start")
    rows = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    run = {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
           "command": "python benchmarks/pointer_self_distill.py " + " ".join(argv or sys.argv[1:]),
           "settings": vars(args), "checks": checks}
    RESULTS.write_text(json.dumps({"runs": rows + [run]}, indent=2) + "\n")
    log(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
