"""Are the pointer benchmark's cached TSP references as good as a much longer search? A sample, checked.

For each size, ``--sample`` of the benchmark's instances (``random_instances(n, num, seed + n)``, as
``benchmarks/pointer.py`` draws them) are solved again by fast-tsp with ``--seconds`` of search, and the
cached reference lengths are compared with the new ones: how many cached tours are longer, by how much.

Run ``python benchmarks/pointer_reference_check.py --n 50 100 --num 2000 200 --sample 150 40 --seconds 1``
on an idle CPU (about 190 s). Prints one line per size and writes
``benchmarks/results/pointer_reference_check.json``.
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

from benchmarks.pointer import references  # noqa: E402
from lab.pointer.tasks import random_instances, tour_length, tsp_reference  # noqa: E402


def check(n: int, num: int, sample: int, seconds: float, seed: int) -> dict:
    """Compare ``sample`` cached references at size ``n`` with a ``seconds``-long search each."""
    points = random_instances(n, num, seed + n)
    cached, _ = references(points)
    picked = np.random.default_rng(0).choice(num, size=min(sample, num), replace=False)
    longer = np.array([tour_length(points[i], tsp_reference(points[i], time_limit=seconds)) for i in picked])
    excess = cached[picked] / longer - 1  # > 0: the cached reference is longer than the long search's tour
    return {"n": n, "num": num, "sample": int(len(picked)), "seconds": seconds,
            "cached_longer": int((excess > 1e-9).sum()), "max_excess": float(excess.max()),
            "mean_excess": float(excess.mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--num", type=int, nargs="+", default=[2000, 200], help="instances per size, as benchmarked")
    parser.add_argument("--sample", type=int, nargs="+", default=[150, 40], help="instances checked per size")
    parser.add_argument("--seconds", type=float, default=1.0, help="search time of the check, per instance")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    if not len(args.n) == len(args.num) == len(args.sample):
        parser.error("--n, --num and --sample need one value per size each")
    rows = []
    for n, num, sample in zip(args.n, args.num, args.sample, strict=True):
        rows.append(check(n, num, sample, args.seconds, args.seed))
        r = rows[-1]
        print(f"n={n}: {r['cached_longer']} of {r['sample']} cached references longer than a {args.seconds:g} s "
              f"search (max {100 * r['max_excess']:.3f} %, mean {100 * r['mean_excess']:.4f} %)", flush=True)
    out = ROOT / "benchmarks" / "results" / "pointer_reference_check.json"
    out.write_text(json.dumps({
        "command": "python benchmarks/pointer_reference_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
