"""A shipped checkpoint's learning curve, re-measured from git: every committed version of it, one greedy pass.

Each revision of ``assets/checkpoints/pointer/<name>.pt`` (with its card) that git holds is written to a
temporary folder, loaded through the zoo and decoded greedily on the TSP section's instances of
``benchmarks/pointer.py`` (same seed, same count), against the same cached references; so the points of the
curve are comparable with each other and with that benchmark, whatever references the versions were
first measured against.

Run ``python benchmarks/pointer_history.py --name am_tsp50 --n 50 --num 2000`` (about 10 s per version);
``--refresh-references`` first solves the instances again (see ``benchmarks/pointer.py``). Writes
``benchmarks/results/pointer_history_<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.pointer import log, references, tsp_tour_lengths  # noqa: E402
from lab.pointer.tasks import random_instances  # noqa: E402

FOLDER = "assets/checkpoints/pointer"


def revisions(name: str) -> list[tuple[str, str]]:
    """(commit, ISO date) of every commit that changed ``<name>.pt``, oldest first."""
    out = subprocess.run(["git", "log", "--format=%H %aI", "--", f"{FOLDER}/{name}.pt"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [tuple(line.split(" ", 1)) for line in reversed(out.splitlines()) if line.strip()]


def pomo_steps(card: dict[str, Any]) -> int:
    """POMO steps in all, this run's and those of the runs before it, as the card records them."""
    steps = card.get("training", {}).get("steps_done", card.get("steps_done", {}))
    return int(steps.get("pomo", 0)) if isinstance(steps, dict) else 0


def measure(name: str, commit: str, points: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """Greedy gap of ``name`` as committed in ``commit`` on ``points`` (B, n, 2), against ``ref`` (B,)."""
    from lab.pointer import zoo

    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".pt", ".json"):
            blob = subprocess.run(["git", "show", f"{commit}:{FOLDER}/{name}{suffix}"], cwd=ROOT,
                                  capture_output=True, check=True).stdout
            (Path(tmp) / f"{name}{suffix}").write_bytes(blob)
        net = zoo.load(Path(tmp) / f"{name}.pt")
        card = json.loads((Path(tmp) / f"{name}.json").read_text())
    lengths, seconds = tsp_tour_lengths(net, points, "greedy", "node0")  # the policy's curve
    gaps = lengths / ref - 1
    return {"commit": commit, "pomo_steps": pomo_steps(card), "command": card.get("command"),
            "greedy_mean_gap": float(gaps.mean()), "greedy_gap_sem": float(gaps.std(ddof=1) / np.sqrt(len(gaps))),
            "instances_per_second": len(points) / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="am_tsp50", help="shipped TSP checkpoint (its file stem)")
    parser.add_argument("--n", type=int, default=50, help="nodes per instance (the benchmark's TSP section)")
    parser.add_argument("--num", type=int, default=2000, help="instances (the benchmark's default 2000)")
    parser.add_argument("--seed", type=int, default=1234, help="base seed; instances use seed + n, as the benchmark")
    parser.add_argument("--refresh-references", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from lab.pointer import zoo

    tsp_names = [e.name for e in zoo.available() if e.task == "tsp"]
    if args.name not in tsp_names:
        parser.error(f"--name must be a shipped TSP checkpoint ({', '.join(tsp_names)}), got {args.name!r}")
    points = random_instances(args.n, args.num, args.seed + args.n)
    ref, _ = references(points, args.refresh_references)
    rows = []
    for commit, date in revisions(args.name):
        try:
            row = {"date": date} | measure(args.name, commit, points, ref)
        except subprocess.CalledProcessError:  # a commit that changed the weights but has no card beside them
            log(f"{commit[:8]} {date}: no card in this commit, skipped")
            continue
        log(f"{commit[:8]} {date}: {row['pomo_steps']} POMO steps, greedy {100 * row['greedy_mean_gap']:.3f} %")
        rows.append(row)
    out = ROOT / "benchmarks" / "results" / f"pointer_history_{args.name}.json"
    out.write_text(json.dumps({
        "command": "python benchmarks/pointer_history.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "n": args.n, "num": args.num,
        "seed": args.seed + args.n, "mean_reference_length": float(ref.mean()), "revisions": rows}, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
