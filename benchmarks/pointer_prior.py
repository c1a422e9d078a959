"""Choosing the attention models' distance prior on validation instances, apart from the benchmark's.

For each shipped attention model (or ``--models``), each n in ``--sizes`` and each alpha in ``--alphas``: the
gap of ``--decode`` (greedy, the default; or pomo: every start x the 8 symmetric copies) on
``random_instances(n, count, 99 + n)`` (the benchmark's held-out sets use seed 1234 + n), against fresh
fast-tsp references. The README's alpha (10) is the one that did well across sizes and models here; its
held-out figures come from ``benchmarks/pointer.py`` (generalisation) and ``benchmarks/pointer_tsplib.py``.

Run ``python benchmarks/pointer_prior.py`` (about 5 minutes on one core); prints one line per model and n
and writes ``benchmarks/results/pointer_prior.json`` (``pointer_prior_pomo.json`` with ``--decode pomo``:
``--decode pomo --models am_tsp50 am_tsp50_imitation --sizes 100 200 500 --counts 60 40 8 --alphas 0 5 10``
took 92 minutes on one niced core beside other work).
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

from lab.pointer import zoo  # noqa: E402
from lab.pointer.decoding import decode  # noqa: E402
from lab.pointer.tasks import random_instances, tour_length, tsp_reference  # noqa: E402

VALIDATION_SEED = 99


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 500])
    parser.add_argument("--counts", type=int, nargs="+", default=[60, 40, 16], help="instances per size")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0, 2, 5, 10, 20])
    parser.add_argument("--decode", choices=["greedy", "pomo"], default="greedy")
    parser.add_argument("--models", nargs="+", help="shipped attention models (default: all of them)")
    args = parser.parse_args(argv)
    if len(args.sizes) != len(args.counts):
        parser.error("--sizes and --counts need one value per size each")
    import torch

    torch.set_num_threads(1)
    models = args.models or [e.name for e in zoo.available() if e.model == "am"]
    rows = []
    for n, count in zip(args.sizes, args.counts, strict=True):
        points = random_instances(n, count, VALIDATION_SEED + n)
        ref = np.array([tour_length(p, tsp_reference(p)) for p in points])
        for name in models:
            net = zoo.load(name)
            gaps = {}
            for alpha in args.alphas:
                outs = decode(net, points, "tsp", args.decode, distance_prior=alpha)
                lengths = np.array([tour_length(p, o.sequence) for p, o in zip(points, outs, strict=True)])
                gaps[f"{alpha:g}"] = float((lengths / ref - 1).mean())
            rows.append({"model": name, "n": n, "num": count, "decode": args.decode, "gaps": gaps})
            print(f"{name} n={n}: " + ", ".join(f"alpha {a}: {100 * g:.2f} %" for a, g in gaps.items()), flush=True)
    out = ROOT / "benchmarks" / "results" / ("pointer_prior.json" if args.decode == "greedy" else
                                             f"pointer_prior_{args.decode}.json")
    out.write_text(json.dumps({
        "command": "python benchmarks/pointer_prior.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "seed": f"{VALIDATION_SEED} + n",
        "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
