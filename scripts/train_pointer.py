"""Train (or resume, or re-measure) a shipped pointer checkpoint; the exact command goes into its card.

Examples (the commands behind the shipped checkpoints are recorded in each ``.json`` card):

    python scripts/train_pointer.py --task hull --model ptrnet --n-min 5 --n-max 50 --steps 20000 \
        --out assets/checkpoints/pointer/ptrnet_hull.pt --eval-ns 50 --eval-num 500
    python scripts/train_pointer.py --evaluate-only --out assets/checkpoints/pointer/ptrnet_hull.pt \
        --task hull --model ptrnet --eval-ns 50 --eval-num 1000

Each save also writes the optimizer's state beside the checkpoint (``name.optim``); a run continued with
``--init`` from that checkpoint picks it up, so a long run split over sessions trains on as one.

Runs single-threaded by default (``--threads``) so it can share a small machine. ``kill <pid>`` (SIGTERM)
or Ctrl-C stops a run after its current step and saves it, like ``--minutes``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    from lab.pointer.train import TrainConfig

    default = TrainConfig.default  # every default is the config's own
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=["hull", "delaunay", "tsp"])
    p.add_argument("--model", default=default("model"), choices=["ptrnet", "am"])
    p.add_argument("--n-min", type=int, default=default("n_min"))
    p.add_argument("--n-max", type=int, default=default("n_max"))
    p.add_argument("--hidden", type=int, default=default("hidden"))
    p.add_argument("--layers", type=int, default=default("layers"), help="default: 1 (ptrnet), 2 (am)")
    p.add_argument("--input-order", choices=("given", "x"), default=default("input_order"),
                   help="Ptr-Net hull and Delaunay: read the points as given, or sorted by x (Order Matters)")
    p.add_argument("--steps", type=int, default=default("steps"), help="supervised / imitation steps")
    p.add_argument("--pomo-steps", type=int, default=default("pomo_steps"),
                   help="POMO REINFORCE steps after imitation (am)")
    p.add_argument("--pomo-imitation", type=float, default=default("pomo_imitation"),
                   help="weight of self-imitation in POMO: also imitate each instance's shortest sampled tour "
                        "(0 = plain POMO)")
    p.add_argument("--pomo-warmup", type=int, default=default("pomo_warmup"),
                   help="ramp the POMO rate up linearly over this many steps when its Adam state starts empty "
                        "(a continued run finds the state in the .optim file beside --init when it matches)")
    p.add_argument("--pomo-batch", type=int, default=default("pomo_batch"))
    p.add_argument("--pomo-lr", type=float, default=default("pomo_lr"))
    p.add_argument("--pomo-lr-final", type=float, default=default("pomo_lr_final"),
                   help="cosine-decay the POMO learning rate to this (by steps, or by --minutes); default: constant")
    p.add_argument("--batch-size", type=int, default=default("batch_size"))
    p.add_argument("--lr", type=float, default=default("lr"))
    p.add_argument("--seed", type=int, default=default("seed"))
    p.add_argument("--pool-per-size", type=int, default=default("pool_per_size"),
                   help="TSP instances with reference tours per n")
    p.add_argument("--eval-ns", type=int, nargs="+", default=None)
    p.add_argument("--eval-num", type=int, default=default("eval_num"))
    p.add_argument("--eval-seed", type=int, default=default("eval_seed"))
    p.add_argument("--eval-methods", nargs="+", default=None, choices=["greedy", "beam", "sample", "pomo"],
                   help="decoders measured for the card (default: greedy, plus pomo for am)")
    p.add_argument("--save-seconds", type=float, default=default("save_seconds"))
    p.add_argument("--minutes", type=float, default=0.0, help="stop (and save) after this wall time; 0 = no limit")
    p.add_argument("--init", default=None, help="resume from this checkpoint (.pt with its .json card)")
    p.add_argument("--out", required=True, help="checkpoint path (.pt); the card is written beside it")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default=default("device"), help="cpu (default) or cuda: train and measure there")
    p.add_argument("--evaluate-only", action="store_true", help="re-measure --out on the held-out set, update its card")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    torch.set_num_threads(args.threads)
    from lab.core.checkpoints import load_checkpoint, save_checkpoint
    from lab.pointer.train import TrainConfig, _measure, run_train

    command = "python scripts/train_pointer.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    history = []
    if args.init and not args.evaluate_only:
        from lab.core.checkpoints import read_card

        prev = read_card(args.init)
        history = prev.get("history", []) + [{"command": prev.get("command"), "seed": prev.get("seed"),
                                               "steps_done": prev.get("training", {}).get("steps_done")}]
    config = TrainConfig(
        task=args.task, model=args.model, n_min=args.n_min, n_max=args.n_max, hidden=args.hidden, layers=args.layers,
        input_order=args.input_order,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, pomo_steps=args.pomo_steps,
        pomo_batch=args.pomo_batch, pomo_lr=args.pomo_lr, pomo_lr_final=args.pomo_lr_final, pool_per_size=args.pool_per_size,
        pomo_imitation=args.pomo_imitation, pomo_warmup=args.pomo_warmup,
        eval_ns=tuple(args.eval_ns or ()), eval_num=args.eval_num, eval_seed=args.eval_seed,
        eval_methods=tuple(args.eval_methods or ()),
        save_seconds=args.save_seconds, time_limit_s=60 * args.minutes, checkpoint_path=args.out, device=args.device,
        init_checkpoint=None if args.evaluate_only else args.init,
        extra_card={"script": "scripts/train_pointer.py", "command": command, "seed": args.seed,
                    "history": history, "torch": torch.__version__},
    )
    if args.evaluate_only:
        from lab.pointer.models import build_model

        state, card = load_checkpoint(args.out, expected_architecture=config.architecture())
        model = build_model(card["architecture"]).to(args.device)
        model.load_state_dict(state)
        t0 = time.time()
        metrics = _measure(model, config)
        card.setdefault("measurements", []).append(
            {"command": command, "eval_num": args.eval_num, "eval_seed": args.eval_seed,
             "methods": list(config.eval_methods),
             "eval_ns": list(config.eval_ns), "seconds": round(time.time() - t0, 1), "metrics": metrics})
        save_checkpoint(args.out, state, card)
        print(metrics)
        return 0
    # SIGTERM / Ctrl-C end the run the way its time limit does: after the current step, saved and measured.
    stop = {"asked": False}

    def ask_to_stop(signum, frame) -> None:
        print(f"{time.strftime('%H:%M:%S')} signal {signum}: stopping after this step, then saving", flush=True)
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)

    def progress(step: int, total: int, m) -> bool:
        if step % 50 == 0 or step == total:
            extra = f" tour {m['pomo_tour_length']:.4f}" if "pomo_tour_length" in m else ""
            print(f"{time.strftime('%H:%M:%S')} step {step}/{total} loss {m['loss']:.4f}{extra}", flush=True)
        return stop["asked"]

    result = run_train(config, on_progress=progress)
    print("final metrics", result.scores, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
