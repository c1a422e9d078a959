"""A connectome rank scan as a sweep, on the local backend and on a local Ray cluster.

Ranks 1-10 x 5 seeds (the restarts) of ``dynlab connectome run`` on the default synthetic worm: wall time,
and the overhead per point (wall time x workers - the points' own compute time, per point). On one
2-core machine parity is the expectation; the point is that the same command scales out unchanged.

Run: ``.venv/bin/python benchmarks/sweep.py`` (needs the cluster extra for the Ray half; writes
``benchmarks/results/sweep.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(backend: str, ranks: list[int], seeds: list[int], workers: int) -> dict:
    from lab.core.sweep import SweepConfig
    from lab.core.verbs import run_foreground_verb

    config = SweepConfig(lab="connectome", verb="run", grid={"rank": ranks}, seeds=tuple(seeds), backend=backend,
                         workers=workers)
    start = time.perf_counter()
    output, _ = run_foreground_verb("connectome", "sweep", config)
    wall = time.perf_counter() - start
    points = output.result.points
    compute = sum(p.seconds for p in points)
    failed = [p.error for p in points if p.status != "done"]
    return {"backend": backend, "workers": workers, "points": len(points), "failed": len(failed),
            "wall_s": round(wall, 2), "sum_point_s": round(compute, 2),
            "overhead_per_point_s": round((wall * workers - compute) / len(points), 3),
            "errors": failed[:3]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args()
    os.environ["DYNLAB_HOME"] = tempfile.mkdtemp(prefix="dynlab-sweep-bench-")
    os.environ.setdefault("DYNLAB_DEVICE", "cpu")
    ranks, seeds = list(range(1, args.ranks + 1)), list(range(args.seeds))
    rows = [measure("local", ranks, seeds, 1), measure("local", ranks, seeds, 2)]
    try:
        from lab.core.backends import ensure_ray

        start = time.perf_counter()
        ensure_ray(num_cpus=os.cpu_count())
        ray_start = time.perf_counter() - start
        rows += [measure("ray", ranks, seeds, 1), measure("ray", ranks, seeds, 2)]
    except Exception as err:  # noqa: BLE001 - no Ray here: report the local half and why
        ray_start = None
        rows.append({"backend": "ray", "skipped": f"{type(err).__name__}: {err}"})
    doc = {"command": "python benchmarks/sweep.py" + (f" --ranks {args.ranks}" if args.ranks != 10 else "")
                      + (f" --seeds {args.seeds}" if args.seeds != 5 else ""),
           "date_utc": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
           "sweep": f"connectome run, rank 1-{args.ranks} x {args.seeds} seeds, default synthetic worm",
           "ray_cluster_start_s": None if ray_start is None else round(ray_start, 2), "results": rows}
    Path(args.output).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
