"""Train the KV-cache lab's shipped Llama and write its card with measured uncompressed accuracy per task.

    nice -n 5 .venv/bin/python scripts/train_kvcache.py                 # the shipped model (resumable)
    .venv/bin/python scripts/train_kvcache.py --steps 40 --out /tmp/kv.pt --state /tmp/kv_state.pt

Training state (model, optimizer, step, curves) is saved every ``--save-every`` steps to ``--state``; running
the same command again continues from it (a larger ``--steps`` trains further). The checkpoint ``--out``
(weights, config and vocabulary; ``torch.load(weights_only=True)``) and its card ``<out>.json`` are written
at the end: the command, the seed, the wall time of this invocation and of all steps, the threads, and the
accuracy per task on ``--eval-num`` held-out samples per task (``lab.kvcache.train.EVAL_SEED``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from lab.kvcache.train import TrainConfig

    d = TrainConfig.default
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("layers", "heads", "hidden", "steps", "batch_size", "questions", "warmup", "save_every",
                 "eval_every", "copy", "copy_min", "seed"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=d(name))
    p.add_argument("--lr", type=float, default=d("lr"))
    p.add_argument("--curriculum", type=float, default=d("curriculum"))
    p.add_argument("--no-practice", dest="practice", action="store_false",
                   help="train without the tasks' practice questions (multi-hop: one-hop questions)")
    p.add_argument("--reset-levels", default="",
                   help="comma-separated tasks whose earned curriculum level in --state restarts at 2 (recorded in the "
                        "card's commands)")
    p.add_argument("--eval-num", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--minutes", type=float, default=None,
                   help="stop after this many minutes (state saved; the checkpoint is written with what it has)")
    p.add_argument("--state", default=str(ROOT / "runs" / "kvcache_train_state.pt"))
    p.add_argument("--out", default=str(ROOT / "assets" / "checkpoints" / "kvcache" / "kv_llama.pt"))
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from lab.core.files import atomic_write_bytes, atomic_write_json, to_jsonable
    from lab.core.progress import TextProgress
    from lab.kvcache.model import checkpoint_payload
    from lab.kvcache.train import run_train

    config = TrainConfig(layers=args.layers, heads=args.heads, hidden=args.hidden, steps=args.steps,
                         batch_size=args.batch_size, questions=args.questions, warmup=args.warmup,
                         save_every=args.save_every, eval_every=args.eval_every, seed=args.seed, lr=args.lr,
                         curriculum=args.curriculum, copy=args.copy, copy_min=args.copy_min, practice=args.practice, eval_num=args.eval_num,
                         state=args.state)
    start = time.perf_counter()
    command = "python scripts/train_kvcache.py " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    # every invocation that trained on this state, so the card says how the model came about
    history_path = Path(args.state).with_suffix(".commands.json")
    history = json.loads(history_path.read_text()) if history_path.exists() else []
    history.append(command)
    atomic_write_json(history_path, history)
    if args.reset_levels and Path(args.state).exists():
        from lab.kvcache.train import reset_levels

        reset_levels(Path(args.state), [t for t in args.reset_levels.split(",") if t])
    bar = TextProgress("train", every=60.0)

    def progress(step: int, total: int, metrics: dict) -> bool:
        bar(step, total, metrics)
        return args.minutes is not None and time.perf_counter() - start > 60 * args.minutes

    result = run_train(config, progress)
    card = dict(result.card)
    card["command"] = command
    card["commands"] = history
    card["threads"] = args.threads
    card["wall_seconds_this_invocation"] = round(time.perf_counter() - start, 1)
    card["train_seconds_all_steps"] = round(sum(result.curves.get("seconds", [])), 1) or None
    card["curves_every_50"] = {k: v[::50] for k, v in result.curves.items() if k != "seconds"}
    card["metrics"]["note"] = ("accuracy: the argmax at the answer position equals the answer (after the tokens the "
                               "model writes first: multi-hop's middle, greedily), uncompressed, "
                               f"{args.eval_num} held-out samples per task")
    buffer = __import__("io").BytesIO()
    torch.save(checkpoint_payload(result.model, result.codec), buffer)
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    atomic_write_json(Path(args.out).with_suffix(".json"), to_jsonable(card))
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v:.4f}" for k, v in result.scores.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
