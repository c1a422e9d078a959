"""Does a model's start head shorten its greedy tours at each size? Paired against node 0, no references.

For each n, ``--num`` instances of seed ``9000 + n`` are decoded greedily twice by the same model: from the
node its start head chooses (``start="learned"``) and from node 0 (``start="node0"``, the policy alone).
The mean relative length difference per instance and its standard error say whether the head helps there
(negative = shorter with the head). The instance seeds are not the benchmark's nor ``pointer_compare``'s.

Run: ``python benchmarks/pointer_start_head.py --checkpoint am_tsp50 --sizes 30 50 100 200 500`` (about
3 minutes on 2 cores); appends to ``benchmarks/results/pointer_start_head.json``.
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

RESULTS = ROOT / "benchmarks" / "results" / "pointer_start_head.json"
SEED_BASE = 9000


def head_against_node0(net, sizes: list[int], num: int) -> list[dict]:
    """One row per n: the paired relative length of the head's greedy tours against node 0's."""
    from lab.pointer.tasks import random_instances

    rows = []
    for n in sizes:
        points = random_instances(n, num, SEED_BASE + n)
        node0 = tsp_tour_lengths(net, points, "greedy", "node0")[0]
        learned = tsp_tour_lengths(net, points, "greedy", "learned")[0]
        rows.append({"n": n, "num": num, "seed": SEED_BASE + n,
                     "relative_length": paired(np.zeros(num), learned / node0 - 1)})
        r = rows[-1]["relative_length"]
        log(f"n = {n}: head vs node 0 {100 * r['mean']:+.3f} +- {100 * r['sem']:.3f} % ({num} instances)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="am_tsp50", help="a shipped name or a .pt with a start head")
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 50, 100, 200, 500])
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    from lab.pointer import zoo

    torch.set_num_threads(args.threads)
    net = zoo.load(args.checkpoint, model="am")
    if getattr(net, "start", None) is None:
        parser.error(f"{args.checkpoint} has no start head; fit one with scripts/train_start_head.py")
    run = {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "checkpoint": str(args.checkpoint),
           "command": "python benchmarks/pointer_start_head.py " + " ".join(argv or sys.argv[1:]),
           "rows": head_against_node0(net, args.sizes, args.num)}
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else []
    RESULTS.write_text(json.dumps({"runs": runs + [run]}, indent=2) + "\n")
    log(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
