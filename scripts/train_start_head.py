"""Fit the start head of a trained attention model (lab.pointer.start_head); the policy stays as it is.

Example (the command behind the shipped head is in the checkpoint's card, ``start_head.command``):

    python scripts/train_start_head.py --checkpoint assets/checkpoints/pointer/am_tsp50.pt \
        --out /tmp/am_tsp50.pt --seed 41 --instances 64000 --threads 2

Writes ``--out`` (weights + card: the input card with ``architecture.start_head`` set, a ``start_head``
section with the command, seed, settings and measurements, and the card's held-out ``metrics`` measured
again, as the greedy pass now starts where the head says; the previous ones are kept as
``metrics_node0``) and copies the optimizer state beside the input (``.optim``) so a later policy run can
continue from ``--out`` (that run drops the head: fit it again after).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    from lab.pointer.start_head import StartHeadConfig

    default = StartHeadConfig.default
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="an attention model's .pt (with its .json card) or zoo name")
    p.add_argument("--out", required=True, help="where to write the checkpoint with the head (may be --checkpoint)")
    p.add_argument("--n", type=int, default=None, help="instance size (default: the card's largest trained n)")
    p.add_argument("--instances", type=int, default=default("instances"))
    p.add_argument("--val-instances", type=int, default=default("val_instances"))
    p.add_argument("--epochs", type=int, default=default("epochs"))
    p.add_argument("--batch-size", type=int, default=default("batch_size"))
    p.add_argument("--lr", type=float, default=default("lr"))
    p.add_argument("--tau", type=float, default=default("tau"))
    p.add_argument("--seed", type=int, default=default("seed"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: roll out and fit there")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    torch.set_num_threads(args.threads)
    from lab.core.checkpoints import save_checkpoint
    from lab.pointer import zoo
    from lab.pointer.fit_start import fit_start_head
    from lab.pointer.start_head import StartHeadConfig

    command = "python scripts/train_start_head.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    source = zoo.resolve(args.checkpoint)
    policy = zoo.load(source, model="am").to(args.device)
    n = args.n or int(max(policy.card.get("trained_n") or [50]))
    config = StartHeadConfig(n=n, instances=args.instances, val_instances=args.val_instances, epochs=args.epochs,
                             batch_size=args.batch_size, lr=args.lr, tau=args.tau, seed=args.seed)

    def progress(step: int, total: int, m) -> bool:
        if "loss" in m or step % 8000 == 0:
            print(f"{time.strftime('%H:%M:%S')} {step}/{total}" + (f" loss {m['loss']:.4f}" if "loss" in m else ""),
                  flush=True)
        return False

    model, card, result = fit_start_head(policy, config, progress, command=command,
                                         script="scripts/train_start_head.py")
    print("validation", result.stats["validation"], flush=True)
    save_checkpoint(args.out, model.state_dict(), card)
    optim = Path(source).with_suffix(".optim")
    if optim.exists() and Path(args.out).with_suffix(".optim").resolve() != optim.resolve():
        shutil.copyfile(optim, Path(args.out).with_suffix(".optim"))
    print("card metrics", card["metrics"], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
