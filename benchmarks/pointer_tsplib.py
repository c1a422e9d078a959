"""Real instances: every shipped TSP model and the classical methods on TSPLIB, against the published optima.

TSPLIB's EUC_2D instances from 51 to 318 nodes with a published optimum (eil51 ... lin318; linhp318, a
path problem, left out). The files are not shipped with the lab: point ``--dir`` at a folder of TSPLIB
``.tsp`` files and a ``solutions`` file (``name : optimum`` per line, as in TSPLIB's own listing).
Lengths follow TSPLIB's rounding (``nint`` of the Euclidean distance), so gaps are to the published
optimum exactly. For every model: greedy and POMO x 8, each as the model's own tour and after the
local-search polish (2-opt then Or-opt), with the seconds each took; for the attention models also
greedy with the decoding-time distance prior (``--distance-prior``, 10 unless told; 0: not).

Run: ``.venv/bin/python benchmarks/pointer_tsplib.py --dir /path/to/tsplib`` (writes
``benchmarks/results/pointer_tsplib.json``; ``--report`` prints the README table from it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "benchmarks" / "results" / "pointer_tsplib.json"
MODELS = ("am_tsp20", "am_tsp50", "am_tsp50_imitation", "ptrnet_tsp")
CLASSICAL = ("farthest_insertion", "two_opt", "christofides", "reference")
EXCLUDED = {"linhp318"}  # the same points as lin318, but its optimum is a Hamiltonian path's


def instances(folder: Path, n_min: int, n_max: int) -> list[tuple[str, Path, int, float]]:
    """``(name, path, n, optimum)`` of the EUC_2D files in range that have a published optimum."""
    optima = {}
    for line in (folder / "solutions").read_text().splitlines():
        name, sep, value = line.partition(":")
        if sep:
            optima[name.strip()] = float(value.split()[0])
    found = []
    for path in sorted(folder.glob("*.tsp")):
        head = path.read_text(errors="replace")[:2000]
        fields = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in head.splitlines()) if _}
        n = int(fields.get("DIMENSION", "0") or 0)
        if (fields.get("EDGE_WEIGHT_TYPE") == "EUC_2D" and n_min <= n <= n_max and path.stem in optima
                and path.stem not in EXCLUDED):
            found.append((path.stem, path, n, optima[path.stem]))
    return sorted(found, key=lambda row: (row[2], row[0]))


def measure(path: Path, optimum: float, **fields) -> dict:
    from lab.pointer.service import SolveConfig, run_solve

    config = SolveConfig(task="tsp", input=str(path), reference=False, device="cpu", **fields)
    start = time.perf_counter()
    result = run_solve(config)
    wall = time.perf_counter() - start
    (r,) = result.instances
    row = {"length": r.length, "gap": r.length / optimum - 1, "seconds": round(r.seconds, 3),
           "wall_seconds": round(wall, 3)}
    if r.polished is not None:
        row.update(polished_length=r.polished_length, polished_gap=r.polished_length / optimum - 1,
                   polish_seconds=round(r.polish_seconds, 3))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="a folder of TSPLIB .tsp files and a 'solutions' file")
    parser.add_argument("--n-min", type=int, default=51)
    parser.add_argument("--n-max", type=int, default=318)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--distance-prior", type=float, default=10.0,
                        help="also decode each attention model greedily with this distance prior (0: not)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="print the README table from the saved results")
    parser.add_argument("--keep-others", action="store_true",
                        help="re-measure only --models; every other method of an instance already in the saved results "
                             "keeps its numbers (after retraining one model)")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(OUT.read_text())
        print(report(saved) + "\n\n" + report_bands(saved) + "\n\n" + report_bands(saved, PRIOR_COLUMNS))
        return 0
    if not args.dir:
        parser.error("--dir is required (TSPLIB is not shipped with the lab)")
    import torch

    torch.set_num_threads(args.threads)
    found = instances(Path(args.dir), args.n_min, args.n_max)
    saved = json.loads(OUT.read_text()) if args.keep_others and OUT.exists() else {}
    kept = {r["name"]: r["methods"] for r in saved.get("instances", [])}
    results = {"command": " ".join(["python benchmarks/pointer_tsplib.py", *sys.argv[1:]]),
               "date_utc": datetime.now(UTC).isoformat(timespec="seconds"), "instances": []}
    # provenance: every measurement carries the date of the run that made it, and "runs" maps each date
    # to its command, however many --keep-others runs ago it was
    results["runs"] = {**saved.get("runs", {}), results["date_utc"]: results["command"]}
    if kept:
        if "relabelled" in saved:  # methods renamed in the file (a checkpoint renamed, its weights unchanged)
            results["relabelled"] = saved["relabelled"]
    fresh = {"measured_utc": results["date_utc"]}
    for name, path, n, optimum in found:
        row: dict = {"name": name, "n": n, "optimum": optimum, "methods": {}}
        old = kept.get(name, {})
        for model in dict.fromkeys([*MODELS, *args.models]) if old else args.models:  # the table's column order
            if model not in args.models:  # kept: every method of this model (the prior's too)
                row["methods"].update({k: v for k, v in old.items() if k.startswith(f"{model} ")})
                continue
            kind = "am" if model.startswith("am") else "ptrnet"
            variants = [("greedy", 0.0), ("pomo", 0.0)]
            if kind == "am" and args.distance_prior:
                variants.append(("greedy", args.distance_prior))
            for decode, prior in variants:
                key = f"{model} {decode}" + (f" prior {prior:g}" if prior else "")
                row["methods"][key] = measure(path, optimum, model=kind, checkpoint=model, decode=decode,
                                              polish=True, distance_prior=prior) | fresh
        for solver in CLASSICAL:
            row["methods"][solver] = old[solver] if solver in old else measure(path, optimum, model=None,
                                                                             solver=solver) | fresh
        results["instances"].append(row)
        shown = {k: round(100 * v["gap"], 2) for k, v in row["methods"].items()}
        print(f"{name} (n={n}): {shown}", file=sys.stderr, flush=True)
        OUT.write_text(json.dumps(results, indent=2) + "\n")  # as it goes: a stopped run keeps what it has
    print(report(results) + "\n\n" + report_bands(results) + "\n\n" + report_bands(results, PRIOR_COLUMNS))
    return 0


def report(results: dict) -> str:
    """A markdown table: one row per instance, gap in percent (model / polished) per method, and the mean."""
    rows = results["instances"]
    if not rows:
        return "(no instances)"
    methods = list(rows[0]["methods"])
    head = "| instance | n | " + " | ".join(methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 2)]

    def cell(m: dict) -> str:
        text = f"{100 * m['gap']:.2f}"
        return text + (f" / {100 * m['polished_gap']:.2f}" if "polished_gap" in m else "")

    for row in rows:
        lines.append(f"| {row['name']} | {row['n']} | " + " | ".join(cell(row["methods"][m]) for m in methods) + " |")
    means = []
    for m in methods:
        gaps = [r["methods"][m]["gap"] for r in rows]
        pol = [r["methods"][m].get("polished_gap") for r in rows]
        text = f"{100 * sum(gaps) / len(gaps):.2f}"
        if all(p is not None for p in pol):
            text += f" / {100 * sum(pol) / len(pol):.2f}"
        means.append(f"**{text}**")
    lines.append(f"| mean of {len(rows)} | | " + " | ".join(means) + " |")
    secs = [f"{sum(r['methods'][m]['seconds'] for r in rows) / len(rows):.2f} s" for m in methods]
    lines.append("| mean time (method only) | | " + " | ".join(secs) + " |")
    return "\n".join(lines)


BANDS = ((51, 100), (101, 200), (201, 318))
#: The README's columns: (method, its heading, with the method's mean seconds)
BAND_COLUMNS = (("am_tsp50 greedy", "am_tsp50 greedy", True), ("am_tsp50 pomo", "am_tsp50 POMO x 8", True),
                ("am_tsp50_imitation greedy", "am_tsp50_imitation greedy", False),
                ("am_tsp50_imitation pomo", "am_tsp50_imitation POMO x 8", False),
                ("am_tsp20 pomo", "am_tsp20 POMO x 8", False), ("ptrnet_tsp greedy", "ptrnet_tsp greedy", False),
                ("farthest_insertion", "farthest ins.", False), ("two_opt", "2-opt", False),
                ("christofides", "Christofides", False), ("reference", "fast-tsp", False))


#: The README's second table: the attention models' greedy pass without and with the distance prior.
PRIOR_COLUMNS = tuple((f"{m} greedy{p}", f"{m} greedy{p.replace(' prior', ', prior')}", False)
                      for m in ("am_tsp50", "am_tsp50_imitation", "am_tsp20") for p in ("", " prior 10"))


def report_bands(results: dict, columns: tuple = BAND_COLUMNS) -> str:
    """A README table: mean gap in percent (model / polished) per size band, for ``columns``."""
    lines = ["| n | instances | " + " | ".join(h for _, h, _ in columns) + " |",
             "|" + "---|" * (len(columns) + 2)]
    for lo, hi in BANDS:
        rows = [r for r in results["instances"] if lo <= r["n"] <= hi]
        if not rows:
            continue
        cells = []
        for method, _, timed in columns:
            ms = [r["methods"][method] for r in rows if method in r["methods"]]
            if not ms:
                cells.append("-")
                continue
            text = f"{100 * sum(m['gap'] for m in ms) / len(ms):.2f}"
            if all("polished_gap" in m for m in ms):
                text += f" / {100 * sum(m['polished_gap'] for m in ms) / len(ms):.2f}"
            if timed:
                secs = sum(m["seconds"] for m in ms) / len(ms)
                text += f" ({secs:.2f} s)" if secs < 1 else f" ({secs:.1f} s)"
            cells.append(text)
        lines.append(f"| {lo}-{hi} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
