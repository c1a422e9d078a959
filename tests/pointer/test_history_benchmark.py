"""benchmarks/pointer_history.py: a committed version of a checkpoint measures as the same file loaded directly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lab.pointer import zoo
from lab.pointer.decoding import decode
from lab.pointer.tasks import random_instances, tour_length

ROOT = Path(__file__).resolve().parents[2]


def _head_holds_the_shipped_file(name: str) -> str | None:
    """HEAD's commit when git is at hand and the working tree's checkpoint is the committed one."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", f"assets/checkpoints/pointer/{name}.pt",
                                f"assets/checkpoints/pointer/{name}.json"], cwd=ROOT, capture_output=True, text=True,
                               check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() if not dirty.stdout.strip() else None


def test_a_committed_checkpoint_measures_as_the_shipped_file(load_benchmark):
    bench = load_benchmark("pointer_history")
    commit = _head_holds_the_shipped_file("am_tsp20")
    if commit is None:
        pytest.skip("needs a git checkout whose am_tsp20 is the committed one")
    dates = [date for _, date in bench.revisions("am_tsp20")]
    assert dates and dates == sorted(dates)  # oldest first: the curve's order
    points = random_instances(12, 4, seed=3)
    ref = np.full(4, 3.0)
    row = bench.measure("am_tsp20", commit, points, ref)
    net = zoo.load("am_tsp20")
    tours = decode(net, points, "tsp", "greedy", start="node0")  # the history measures the policy from node 0
    direct = np.array([tour_length(p, o.sequence) for p, o in zip(points, tours, strict=True)])
    assert row["greedy_mean_gap"] == pytest.approx(float((direct / ref - 1).mean()), rel=1e-9)
    assert row["pomo_steps"] == bench.pomo_steps(net.card) > 0
