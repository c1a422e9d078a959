"""A candidate TSP checkpoint against the shipped one, paired, one greedy pass: does a continued run ship?

Both models decode the same instances greedily, so the difference per instance cancels the instances'
own spread and its standard error is small (about 0.02 points on 2000 TSP50 instances, where either
model's own gap has about 0.05). Two sets:

* the benchmark's TSP section (``benchmarks/pointer.py``: seed 1234 + n, 2000 instances) against its
  cached references: the gap difference in points, on the figures the README reports;
* an independent set (``--independent-seed``, 4000 instances by default) that no decision has looked
  at: the mean relative length difference (no reference needed; both tours are measured against each other).

Choosing a candidate by the first set alone would fit the choice to the held-out figures; a candidate
ships when it is shorter on the independent set by at least two paired standard errors (``"ships"`` in
the output), and its benchmark figures are then measured as usual.

``--start`` is where both greedy passes start (``lab.pointer.decoding.decode``): ``learned`` (default)
lets each model's start head choose (node 0 for a model without one), which judges a new start head
against the shipped model; ``node0`` compares the two policies alone, which is how a continued policy run
(whose checkpoint has no head yet: training drops it) is judged against a shipped model with a head.

Run ``python benchmarks/pointer_compare.py /tmp/run/am_tsp50.pt --base am_tsp50`` (about 30 s at n = 50 on an idle 2-core CPU; 90 s beside a training run).
Appends to ``benchmarks/results/pointer_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.pointer import log, references, tsp_tour_lengths  # noqa: E402
from lab.pointer.tasks import random_instances  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "pointer_compare.json"


def greedy_lengths(net: Any, points: np.ndarray, start: str = "learned") -> np.ndarray:
    """Closed tour lengths (B,) of one greedy pass of ``net`` over ``points`` (B, n, 2) from ``start``."""
    return tsp_tour_lengths(net, points, "greedy", start)[0]


def paired(base: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Mean of ``candidate - base`` (B,) and its standard error; negative = the candidate is better."""
    d = np.asarray(candidate, dtype=float) - np.asarray(base, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError("a paired comparison needs at least two instances, one value each")
    return {"mean": float(d.mean()), "sem": float(d.std(ddof=1) / np.sqrt(len(d))), "num": len(d)}


def compare(base: Any, candidate: Any, n: int, num: int, seed: int, independent_num: int,
            independent_seed: int, start: str = "learned") -> dict[str, Any]:
    """The two paired comparisons of the module docstring, as fractions (gaps) and relative lengths."""
    bench_points = random_instances(n, num, seed + n)
    ref, _ = references(bench_points, False)
    base_gap = greedy_lengths(base, bench_points, start) / ref - 1
    cand_gap = greedy_lengths(candidate, bench_points, start) / ref - 1
    free_points = random_instances(n, independent_num, independent_seed)
    base_len = greedy_lengths(base, free_points, start)
    relative = paired(np.zeros(independent_num), greedy_lengths(candidate, free_points, start) / base_len - 1)
    return {"n": n, "start": start,
            "benchmark": {"seed": seed + n, "base_gap": float(base_gap.mean()), "candidate_gap": float(cand_gap.mean()),
                          "difference": paired(base_gap, cand_gap)},
            "independent": {"seed": independent_seed, "relative_length": relative},
            "ships": bool(relative["mean"] < -2 * relative["sem"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", help="the candidate checkpoint (.pt with its card beside it)")
    parser.add_argument("--base", default="am_tsp50", help="shipped checkpoint name or path (default am_tsp50)")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--num", type=int, default=2000, help="benchmark instances (its default 2000)")
    parser.add_argument("--seed", type=int, default=1234, help="benchmark base seed; instances use seed + n")
    parser.add_argument("--independent-num", type=int, default=4000)
    parser.add_argument("--independent-seed", type=int, default=777)
    parser.add_argument("--start", choices=("learned", "node0"), default="learned",
                        help="where both greedy passes start (module docstring); node0 judges the policies alone")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.independent_seed in (args.seed, args.seed + args.n):
        parser.error("--independent-seed must differ from the benchmark's seed")
    import torch

    torch.set_num_threads(args.threads)
    from lab.pointer import zoo

    base, candidate = zoo.load(args.base), zoo.load(args.candidate)
    row = {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "base": str(args.base),
           "candidate": str(args.candidate), "candidate_command": getattr(candidate, "card", {}).get("command")}
    row |= compare(base, candidate, args.n, args.num, args.seed, args.independent_num, args.independent_seed,
                   args.start)
    b, r = row["benchmark"], row["independent"]["relative_length"]
    log(f"benchmark ({args.num}): base {100 * b['base_gap']:.3f} %, candidate {100 * b['candidate_gap']:.3f} % "
        f"(paired {100 * b['difference']['mean']:+.3f} +- {100 * b['difference']['sem']:.3f} points)")
    log(f"independent ({args.independent_num}, seed {args.independent_seed}): candidate tours "
        f"{100 * r['mean']:+.3f} +- {100 * r['sem']:.3f} % vs base; ships: {row['ships']}")
    rows = json.loads(RESULTS.read_text())["comparisons"] if RESULTS.exists() else []
    RESULTS.write_text(json.dumps({"command": "python benchmarks/pointer_compare.py CANDIDATE [--base NAME]",
                                   "comparisons": rows + [row]}, indent=2) + "\n")
    log(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
