"""Train the routing lab's shipped early-exit checkpoint and write its card with measured metrics.

    .venv/bin/python scripts/train_routing.py                       # the shipped digits model (about 2 min)
    .venv/bin/python scripts/train_routing.py --steps 3000 --seed 1 --out /tmp/exits.pt

The card (``<out>.json``) records the command, the seed, the training config, every exit's held-out
accuracy, the MACs counted from the layers, and each policy's speed-up at <= 1 point of accuracy loss
and ECE on the fixed held-out split (``lab.routing.data.SPLIT_SEED``). Single-threaded by default.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from lab.routing.train import TrainConfig

    d = TrainConfig.default
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--width", type=int, default=d("width"))
    p.add_argument("--blocks", type=int, default=d("blocks"))
    p.add_argument("--pool", type=int, default=d("pool"))
    p.add_argument("--steps", type=int, default=d("steps"))
    p.add_argument("--batch-size", type=int, default=d("batch_size"))
    p.add_argument("--lr", type=float, default=d("lr"))
    p.add_argument("--gate-cost", type=float, default=d("gate_cost"))
    p.add_argument("--gate-holdout", type=float, default=d("gate_holdout"))
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "assets" / "checkpoints" / "routing" / "exits_digits.pt"))
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    wall = time.perf_counter()
    from lab.core.checkpoints import save_checkpoint
    from lab.core.progress import TextProgress
    from lab.routing.data import load_dataset
    from lab.routing.exits import ExitsConfig, run_exits
    from lab.routing.train import make_card, score, train_exitnet

    config = TrainConfig(dataset=args.dataset, width=args.width, blocks=args.blocks, pool=args.pool, steps=args.steps,
                         batch_size=args.batch_size, lr=args.lr, gate_cost=args.gate_cost,
                         gate_holdout=args.gate_holdout, seed=args.seed)
    ds = load_dataset(args.dataset)
    trained = train_exitnet(ds, config, TextProgress("train"))
    card = make_card(trained.model, ds, config, trained, score(trained.model, ds))
    rel = Path(args.out).resolve()
    rel = rel.relative_to(ROOT) if rel.is_relative_to(ROOT) else rel
    card["command"] = "python scripts/train_routing.py " + shlex.join(
        [a if a != args.out else str(rel) for a in (argv if argv is not None else sys.argv[1:])])
    card["train_seconds"] = round(trained.seconds, 1)
    card["threads"] = args.threads
    save_checkpoint(args.out, trained.model.state_dict(), card)
    # measured with the checkpoint as it ships: the same code path as `dynlab routing exits --checkpoint`
    start = time.perf_counter()
    result = run_exits(ExitsConfig(dataset=args.dataset, checkpoint=str(args.out), measure=True))
    card["metrics"]["policies"] = {
        name: {"speedup_at_1pt": pc.speedup_at_1pt, "threshold_at_1pt": pc.threshold_at_1pt, "ece": pc.ece,
               **pc.throughput} for name, pc in result.policies.items()}
    card["metrics"]["exit_ece"] = result.exit_ece()
    card["metrics"]["static_samples_per_s"] = result.static_per_s
    card["metrics"]["note"] = ("speed-up = static-network MACs / mean MACs on the held-out split; samples_per_s "
                               f"measured on this machine's CPU with {args.threads} thread(s), best of 5 passes")
    card["wall_seconds"] = round(time.perf_counter() - wall, 1)  # data, training, and the measurements above
    save_checkpoint(args.out, trained.model.state_dict(), card)
    print(f"wrote {args.out}: exit accuracy {card['metrics']['exit_accuracy']}, "
          f"measured in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
