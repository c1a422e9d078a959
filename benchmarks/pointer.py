"""Pointer lab benchmark: quality and speed of the shipped checkpoints against exact/reference solutions.

Run ``nice -n 10 .venv/bin/python benchmarks/pointer.py`` (full; about an hour of one CPU core) or
``--quick`` (a few minutes). Writes ``benchmarks/results/pointer.json`` with every sample size, seed and
the command, so each number in the README can be traced back.

Measured (issue #3):
* TSP20 / TSP50: mean gap to the reference (fast-tsp; exact for n <= 20) with greedy and POMO x8, for
  each shipped TSP model, plus the classical baselines;
* hull n=50: accuracy and area coverage; Delaunay n=5 and 10: accuracy and triangle coverage;
* instances per second for greedy decoding;
* generalisation: the metric vs n, well past each model's training range.
Instances are seeded uniform points in the unit square (seed 1234 + n unless ``--seed``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lab.pointer import metrics as pm  # noqa: E402
from lab.pointer.solvers import closed_length, solve  # noqa: E402
from lab.pointer.tasks import convex_hull_label, delaunay_label, distance_matrix, random_instances  # noqa: E402

SECTIONS = ("tsp20", "tsp50", "hull50", "delaunay5", "delaunay10", "generalisation")
TARGETS = {
    "tsp20_pomo_gap": 0.003, "tsp20_greedy_gap": 0.01, "tsp50_pomo_gap": 0.015,
    "hull50_accuracy": 0.65, "hull50_area_coverage": 0.995,
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


CACHE = ROOT / "benchmarks" / "results" / "pointer_reference_cache.npz"


def references(points: np.ndarray) -> np.ndarray:
    """Reference tour lengths (B,) for a batch (B, n, 2), cached on disk by the instances' content."""
    import hashlib

    key = "r" + hashlib.sha1(np.ascontiguousarray(points).tobytes()).hexdigest()[:16]
    cache = dict(np.load(CACHE)) if CACHE.exists() else {}
    if key in cache:
        return cache[key]
    lengths = np.empty(len(points))
    for i, p in enumerate(points):
        d = distance_matrix(p)
        lengths[i] = closed_length(d, solve("reference", d))
        if (i + 1) % 500 == 0:
            log(f"  reference {i + 1}/{len(points)} (n={points.shape[1]})")
    cache[key] = lengths
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, **cache)
    return lengths


def shipped_models() -> list[Any]:
    try:
        from lab.pointer import zoo
    except ImportError:
        return []
    return list(zoo.available())


def load(entry: Any) -> Any:
    from lab.pointer import zoo

    return zoo.load(str(entry.path), task=entry.task, model=entry.model)


def decode_batch(net: Any, points: np.ndarray, task: str, method: str) -> tuple[list[list[int]], float]:
    from lab.pointer.decoding import decode

    start = time.perf_counter()
    outs = decode(net, points, task, method)
    return [o.sequence for o in outs], time.perf_counter() - start


def tsp_section(entries: list[Any], n: int, num: int, seed: int, baselines: list[str], base_num: int,
                pomo_num: int) -> dict:
    pts = random_instances(n, num, seed)
    t0 = time.perf_counter()
    ref = references(pts)
    out: dict[str, Any] = {"n": n, "num": num, "seed": seed, "reference": "fast-tsp" + (" (exact)" if n <= 20 else ""),
                           "reference_seconds_per_instance": (time.perf_counter() - t0) / num,
                           "mean_reference_length": float(ref.mean()), "models": {}, "baselines": {}}
    log(f"TSP{n}: {num} reference tours in {time.perf_counter() - t0:.0f} s")
    for entry in entries:
        net = load(entry)
        res: dict[str, Any] = {"checkpoint": entry.name}
        for method in ("greedy", "pomo"):
            k = num if method == "greedy" else min(num, pomo_num)  # POMO x8 costs n x 8 rollouts per instance
            tours, seconds = decode_batch(net, pts[:k], "tsp", method)
            lengths = np.array([closed_length(distance_matrix(p), np.asarray(t))
                                for p, t in zip(pts[:k], tours, strict=True)])
            gaps = lengths / ref[:k] - 1
            res[method] = {"num": k, "mean_gap": float(gaps.mean()), "median_gap": float(np.median(gaps)),
                           "optimal_fraction": float((gaps < 1e-6).mean()), "instances_per_second": k / seconds}
            log(f"TSP{n} {entry.name} {method}: gap {100 * gaps.mean():.3f} % on {k}  ({k / seconds:.1f} inst/s)")
        out["models"][entry.name] = res
    sub = pts[:base_num]
    for name in baselines:
        t0 = time.perf_counter()
        lengths = np.array([closed_length(distance_matrix(p), solve(name, distance_matrix(p))) for p in sub])
        out["baselines"][name] = {"mean_gap": float((lengths / ref[:base_num] - 1).mean()), "num": int(len(sub)),
                                  "seconds_per_instance": (time.perf_counter() - t0) / len(sub)}
        log(f"TSP{n} {name}: gap {100 * out['baselines'][name]['mean_gap']:.2f} % on {len(sub)}")
    return out


def label_section(entries: list[Any], task: str, n: int, num: int, seed: int) -> dict:
    pts = random_instances(n, num, seed)
    labels = [convex_hull_label(p) if task == "hull" else delaunay_label(p) for p in pts]
    out: dict[str, Any] = {"n": n, "num": num, "seed": seed, "models": {}}
    for entry in entries:
        net = load(entry)
        seqs, seconds = decode_batch(net, pts, task, "greedy")
        scores = [pm.hull_scores(p, s, lab) if task == "hull" else pm.delaunay_scores(p, s, lab)
                  for p, s, lab in zip(pts, seqs, labels, strict=True)]
        agg = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        agg["instances_per_second"] = num / seconds
        out["models"][entry.name] = {"checkpoint": entry.name, "greedy": agg}
        log(f"{task} n={n} {entry.name}: {agg}")
    return out


def generalisation(entries: list[Any], num: int, seed: int, quick: bool) -> list[dict]:
    """Metric vs n for every shipped model (greedy): gap for TSP, accuracy/coverage otherwise."""
    grids = {"hull": [5, 10, 20, 50, 100, 200], "delaunay": [5, 7, 10, 15, 20], "tsp": [5, 10, 20, 50, 100]}
    rows: list[dict] = []
    ref_cache: dict[int, np.ndarray] = {}
    for entry in entries:
        net = load(entry)
        for n in grids[entry.task][: 4 if quick else None]:
            pts = random_instances(n, num, seed + n)
            seqs, seconds = decode_batch(net, pts, entry.task, "greedy")
            row: dict[str, Any] = {"label": entry.name, "task": entry.task, "n": n, "num": num,
                                   "instances_per_second": num / seconds}
            if entry.task == "tsp":
                if n not in ref_cache:
                    ref_cache[n] = references(pts)
                lengths = np.array([closed_length(distance_matrix(p), np.asarray(s)) for p, s in zip(pts, seqs, strict=True)])
                row["gap"] = float((lengths / ref_cache[n] - 1).mean())
            else:
                fn = pm.hull_scores if entry.task == "hull" else pm.delaunay_scores
                scores = [fn(p, s) for p, s in zip(pts, seqs, strict=True)]
                for k in scores[0]:
                    row[k] = float(np.mean([s[k] for s in scores]))
            rows.append(row)
            log(f"generalisation {entry.name} n={n}: { {k: v for k, v in row.items() if isinstance(v, float)} }")
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small samples (minutes): 200 TSP, 500 hull/Delaunay")
    parser.add_argument("--tsp-num", type=int, default=None, help="TSP instances per size (default 2000; quick 200)")
    parser.add_argument("--label-num", type=int, default=None, help="hull/Delaunay instances (default 10000; quick 500)")
    parser.add_argument("--gen-num", type=int, default=None, help="instances per n in the generalisation sweep")
    parser.add_argument("--pomo-num", type=int, default=None, help="TSP20 instances for POMO x8 (default 500; quick 50)")
    parser.add_argument("--pomo-num50", type=int, default=None, help="TSP50 instances for POMO x8 (default 200; quick 20)")
    parser.add_argument("--baseline-num", type=int, default=None, help="instances for the classical baselines")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--only", nargs="+", choices=SECTIONS,
                        help="measure only these sections and keep the others from the existing results file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "pointer.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    tsp_num = args.tsp_num or (200 if args.quick else 2000)
    label_num = args.label_num or (500 if args.quick else 10000)
    gen_num = args.gen_num or (50 if args.quick else 200)
    base_num = args.baseline_num or (50 if args.quick else 200)
    pomo_num = args.pomo_num or (50 if args.quick else 500)
    pomo_num50 = args.pomo_num50 or (20 if args.quick else 200)
    entries = shipped_models()
    log(f"shipped checkpoints: {[e.name for e in entries] or 'none'}")
    start = time.perf_counter()
    results: dict[str, Any] = {
        "command": "python benchmarks/pointer.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": {"platform": platform.platform(terse=True), "processor": platform.processor(),
                    "torch_threads": args.threads},
        "sample_sizes": {"tsp": tsp_num, "tsp20_pomo": pomo_num, "tsp50_pomo": pomo_num50, "hull_delaunay": label_num,
                         "generalisation_per_n": gen_num, "baselines": base_num},
        "targets": TARGETS, "checkpoints": [e.name for e in entries],
    }
    out = Path(args.out)
    if args.only and out.exists():  # keep the sections not re-measured this time
        results = {**json.loads(out.read_text()), **{k: v for k, v in results.items() if k != "sample_sizes"}}
        results.setdefault("sample_sizes", {}).update({"updated_sections": args.only})
    want = set(args.only or SECTIONS)
    stamp = {"command": results["command"], "date_utc": results["date_utc"]}
    tsp_models = [e for e in entries if e.task == "tsp"]
    baselines = ["nearest_neighbour", "farthest_insertion", "two_opt", "christofides"]
    if "tsp20" in want:
        results["tsp20"] = stamp | tsp_section(tsp_models, 20, tsp_num, args.seed + 20, baselines, base_num,
                                             pomo_num)
    if "tsp50" in want:
        results["tsp50"] = stamp | tsp_section(tsp_models, 50, tsp_num, args.seed + 50, baselines, base_num,
                                             pomo_num50)
    if "hull50" in want:
        results["hull50"] = stamp | label_section([e for e in entries if e.task == "hull"], "hull", 50, label_num,
                                          args.seed + 50)
    dl = [e for e in entries if e.task == "delaunay"]
    if "delaunay5" in want:
        results["delaunay5"] = stamp | label_section(dl, "delaunay", 5, label_num, args.seed + 5)
    if "delaunay10" in want:
        results["delaunay10"] = stamp | label_section(dl, "delaunay", 10, label_num, args.seed + 10)
    if "generalisation" in want:
        results["generalisation"] = generalisation(entries, gen_num, args.seed, args.quick)
        results["generalisation_meta"] = stamp | {"num_per_n": gen_num, "seed": "seed + n", "decoding": "greedy"}
    results["targets_met"] = targets_met(results)
    results["seconds"] = time.perf_counter() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {out} in {results['seconds']:.0f} s; targets: {results['targets_met']}")
    return results


def targets_met(results: dict) -> dict[str, Any]:
    """Each target against the best shipped model that measures it (None when none exists)."""
    def best(section: dict | None, method: str, key: str, lower: bool) -> float | None:
        if not section:
            return None
        vals = [m[method][key] for m in section["models"].values() if method in m]
        return (min(vals) if lower else max(vals)) if vals else None

    measured = {
        "tsp20_pomo_gap": best(results.get("tsp20"), "pomo", "mean_gap", True),
        "tsp20_greedy_gap": best(results.get("tsp20"), "greedy", "mean_gap", True),
        "tsp50_pomo_gap": best(results.get("tsp50"), "pomo", "mean_gap", True),
        "hull50_accuracy": best(results.get("hull50"), "greedy", "accuracy", False),
        "hull50_area_coverage": best(results.get("hull50"), "greedy", "area_coverage", False),
    }
    out: dict[str, Any] = {}
    for key, value in measured.items():
        lower = "gap" in key
        met = None if value is None else (value <= TARGETS[key] if lower else value >= TARGETS[key])
        out[key] = {"measured": value, "target": TARGETS[key], "met": met}
    return out


if __name__ == "__main__":
    main()
