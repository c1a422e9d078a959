"""benchmarks/pointer.py: the reference-length cache, and ``--refresh-references`` repairing a long cached tour."""

from __future__ import annotations

import numpy as np
import pytest

from lab.pointer.solvers import closed_length, solve
from lab.pointer.tasks import distance_matrix, random_instances


@pytest.fixture()
def bench(monkeypatch, tmp_path, load_benchmark):
    module = load_benchmark("pointer")
    monkeypatch.setattr(module, "CACHE", tmp_path / "cache.npz")
    monkeypatch.setattr(module, "_REFRESHED", set())
    return module


def _spoil(bench, index: int, factor: float) -> None:
    """Make one cached length longer, as a tour found on a busy CPU would be."""
    with np.load(bench.CACHE) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["lengths"][index] *= factor
    np.savez(bench.CACHE, **arrays)


def test_the_cache_answers_a_second_call_and_refresh_keeps_the_shorter_length(bench):
    pts = random_instances(25, 4, seed=5)
    first, _ = bench.references(pts)
    true = [closed_length(distance_matrix(p), solve("reference", distance_matrix(p))) for p in pts]
    np.testing.assert_allclose(first, true)

    _spoil(bench, 2, 1.2)
    cached, _ = bench.references(pts)  # without refresh the cache is trusted, long tour and all
    assert cached[2] == pytest.approx(1.2 * first[2])

    bench._REFRESHED.clear()  # a later run: tours solved in this one count as fresh and are not solved again
    refreshed, _ = bench.references(pts, refresh=True)
    np.testing.assert_allclose(refreshed, first)
    again, _ = bench.references(pts)  # the repaired length was written back
    np.testing.assert_allclose(again, first)


def test_refresh_never_lengthens_a_cached_reference(bench, monkeypatch):
    pts = random_instances(25, 3, seed=6)
    first, _ = bench.references(pts)
    # a solver that now finds worse tours (a busy CPU) must not replace the cached, shorter ones
    monkeypatch.setattr(bench, "solve", lambda name, d: np.arange(len(d)))
    bench._REFRESHED.clear()
    refreshed, _ = bench.references(pts, refresh=True)
    np.testing.assert_allclose(refreshed, first)


def test_small_instances_are_exact_and_not_solved_again(bench, monkeypatch):
    pts = random_instances(12, 3, seed=7)
    first, _ = bench.references(pts)
    monkeypatch.setattr(bench, "solve", lambda name, d: pytest.fail("n <= 20 is exact; no refresh needed"))
    bench._REFRESHED.clear()
    refreshed, _ = bench.references(pts, refresh=True)
    np.testing.assert_allclose(refreshed, first)
