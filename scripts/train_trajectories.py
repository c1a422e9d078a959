"""Train the trajectories lab's shipped checkpoints, on simulated scenes only (any real scene is unseen data).

    .venv/bin/python scripts/train_trajectories.py            # all three, a few CPU minutes each
    .venv/bin/python scripts/train_trajectories.py --only nri --minutes 3

Writes ``assets/checkpoints/trajectories/{group,seq,springs_nri}.pt`` and a JSON card beside each: the
architecture, the training config (with its seed), the command, the steps done and metrics measured on
held-out simulator seeds. Weights are stored as float16 (the checkpoints stay a few hundred KB).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.core.checkpoints import save_checkpoint  # noqa: E402
from lab.trajectories.models import architecture  # noqa: E402
from lab.trajectories.nri import EdgesConfig, run_edges  # noqa: E402
from lab.trajectories.train import TrainConfig, run_train  # noqa: E402
from lab.trajectories.zoo import SHIPPED  # noqa: E402

SEEDS = {"group": 11, "seq": 12, "nri": 13}


def half(state: dict) -> dict:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def progress(label: str):
    t0 = time.perf_counter()

    def report(step: int, total: int, metrics: dict) -> bool:
        if step % 250 == 0:
            shown = " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            print(f"{label} {step}/{total} {time.perf_counter() - t0:.0f}s {shown}", flush=True)
        return False

    return report


def train_predictor(name: str, minutes: float, steps: int, device: str) -> None:
    config = TrainConfig(model=name, scenes=12, agents=20, frames=300, steps=steps, minutes=minutes, batch=16,
                         eval_every=250, seed=SEEDS[name], device=device)
    result = run_train(config, progress(name))
    card = {"architecture": architecture(result.model), "dtype": "float16",
            "trained": {"script": "scripts/train_trajectories.py", "command": " ".join(sys.argv),
                        "config": config.to_dict(), "seed": config.seed, "steps": result.steps_done,
                        "windows": result.windows, "seconds": round(result.seconds, 1), "device": device,
                        "platform": platform.platform(terse=True), "torch": torch.__version__,
                        "data": "simulated crowd scenes only (lab.trajectories.simulate, seeds "
                                f"{config.seed}..{config.seed + config.scenes - 1})"},
            "metrics": {"held_out": {"what": f"one crowd scene, seed {config.seed + config.scenes}, windows every "
                                             "4 steps, K = 20", **result.val}, "curves": result.curves}}
    save_checkpoint(SHIPPED[name], half(result.model.state_dict()), card)
    print(name, "saved", result.steps_done, "steps", result.val, flush=True)


def train_nri(minutes: float, steps: int, device: str) -> None:
    # windows within one graph epoch for training (the simulator's switch period is known), and the
    # encoder given each window's least-squares linear coupling per pair (no labels; see nri.SpringsNRI)
    config = EdgesConfig(train_steps=steps, minutes=minutes, seed=SEEDS["nri"], device=device, within_epoch=True,
                         pair_fit=True)
    result = run_edges(config, progress("nri"))
    model = result.model
    card = {"architecture": {"model": "springs_nri", "window": model.window, "hidden": model.hidden,
                             "edge_types": model.edge_types, "projections": model.projections,
                             "pair_fit": model.pair_fit}, "dtype": "float16",
            "trained": {"script": "scripts/train_trajectories.py", "command": " ".join(sys.argv),
                        "config": config.to_dict(), "seed": config.seed, "steps": result.steps_done,
                        "seconds": round(result.seconds, 1), "device": device, "torch": torch.__version__,
                        "data": "simulated dynamic springs only"},
            "metrics": {"edge_accuracy": result.accuracy, "per_scene": result.per_scene,
                        "what": f"{config.test_scenes} held-out springs scenes (seeds 10000 + {config.seed}...), "
                                "every frame and pair, up to a permutation of edge types"}}
    save_checkpoint(SHIPPED["nri"], half(model.state_dict()), card)
    print("nri saved", result.steps_done, "steps, edge accuracy", result.accuracy, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("group", "seq", "nri"), action="append")
    parser.add_argument("--minutes", type=float, default=4.0, help="per model (default 4)")
    parser.add_argument("--steps", type=int, default=8000, help="per model, at most (default 8000)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or ("group", "seq", "nri"):
        if name == "nri":
            train_nri(args.minutes, args.steps, args.device)
        else:
            train_predictor(name, args.minutes, args.steps, args.device)


if __name__ == "__main__":
    main()
