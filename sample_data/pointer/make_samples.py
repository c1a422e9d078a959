"""Regenerate the pointer lab's sample inputs (deterministic): ``.venv/bin/python sample_data/pointer/make_samples.py``.

Writes, next to this script:

* ``random16.tsp`` — 16 integer points, EUC_2D, with its optimal tour ``random16.opt.tour`` proven
  by Held-Karp (exact dynamic programming) and cross-checked against fast-tsp;
* ``random48_att.tsp`` — 48 points with ATT (pseudo-Euclidean) distances and a fast-tsp reference tour;
* ``points50.csv`` — 50 uniform points with ``x,y`` columns;
* ``uniform20x8.npz`` — ``locs`` of shape (8, 20, 2) in the unit square (rl4co's convention);
* ``reference.json`` — the reference lengths above, in each file's own convention.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from lab.pointer.io import points_csv, read_tsplib, tour_text, tsplib_text
from lab.pointer.solvers import closed_length, solve
from lab.pointer.tasks import random_instances

HERE = Path(__file__).resolve().parent


def main() -> dict:
    rng = np.random.default_rng(20150609)  # the Ptr-Net paper's arXiv month, for the record
    refs: dict[str, dict] = {}

    pts16 = rng.integers(0, 1000, size=(16, 2)).astype(float)
    text = tsplib_text(pts16, "random16", "EUC_2D", comment="16 seeded points; optimum by Held-Karp, see reference.json")
    (HERE / "random16.tsp").write_text(text)
    inst = read_tsplib(text.encode(), name="random16.tsp")
    d = inst.distance_matrix()
    opt = solve("held_karp", d)
    ref = solve("reference", d)
    assert closed_length(d, ref) == closed_length(d, opt), "fast-tsp disagrees with Held-Karp"
    (HERE / "random16.opt.tour").write_text(tour_text(opt, "random16", closed_length(d, opt)))
    refs["random16.tsp"] = {"length": closed_length(d, opt), "proof": "Held-Karp (exact)", "distance": "EUC_2D"}

    pts48 = rng.integers(0, 8000, size=(48, 2)).astype(float)
    text = tsplib_text(pts48, "random48_att", "ATT", comment="48 seeded points, pseudo-Euclidean distances")
    (HERE / "random48_att.tsp").write_text(text)
    inst = read_tsplib(text.encode(), name="random48_att.tsp")
    d = inst.distance_matrix()
    ref = solve("reference", d, time_limit=2.0)
    (HERE / "random48_att.tour").write_text(tour_text(ref, "random48_att", closed_length(d, ref)))
    refs["random48_att.tsp"] = {"length": closed_length(d, ref), "proof": "fast-tsp 2 s (not proven optimal)",
                                "distance": "ATT"}

    pts50 = random_instances(50, 1, seed=50)[0].astype(float)
    (HERE / "points50.csv").write_text(points_csv(np.round(pts50, 6)))
    locs = random_instances(20, 8, seed=20)
    buf = io.BytesIO()
    np.savez(buf, locs=locs)
    (HERE / "uniform20x8.npz").write_bytes(buf.getvalue())
    (HERE / "reference.json").write_text(json.dumps(refs, indent=2) + "\n")
    return refs


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
