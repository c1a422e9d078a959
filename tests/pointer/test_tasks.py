"""Labels of the three tasks on known configurations, and the helpers around them."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.pointer import tasks


def _signed_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_random_instances_shape_dtype_and_seed():
    a = tasks.random_instances(7, 4, seed=3)
    b = tasks.random_instances(7, 4, seed=3)
    assert a.shape == (4, 7, 2) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() < 1
    assert not np.array_equal(a, tasks.random_instances(7, 4, seed=4))
    with pytest.raises(LabInputError):
        tasks.random_instances(2, 1, 0)


def test_hull_of_square_with_interior_and_edge_points():
    # corners at 3, 0, 4, 1 in counter-clockwise order; 2 inside; 5 on an edge (not a vertex)
    pts = np.array([[1, 0], [0, 1], [0.5, 0.5], [0, 0], [1, 1], [0.5, 0.0]], dtype=float)
    hull = tasks.convex_hull_label(pts)
    assert hull[0] == 0
    assert sorted(hull.tolist()) == [0, 1, 3, 4]
    assert _signed_area(pts[hull]) > 0  # counter-clockwise
    assert hull.tolist() == [0, 4, 1, 3]


def test_hull_random_is_ccw_and_contains_everything():
    pts = tasks.random_instances(30, 1, 1)[0].astype(float)
    hull = tasks.convex_hull_label(pts)
    assert hull[0] == hull.min()
    poly = pts[hull]
    assert _signed_area(poly) > 0
    # every point is left of (or on) every directed hull edge
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        cross = (b[0] - a[0]) * (pts[:, 1] - a[1]) - (b[1] - a[1]) * (pts[:, 0] - a[0])
        assert (cross >= -1e-12).all()


def test_delaunay_square_plus_center():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], dtype=float)
    tri = tasks.delaunay_label(pts)
    assert tri.tolist() == [[0, 1, 4], [0, 3, 4], [1, 2, 4], [2, 3, 4]]


def test_delaunay_rows_sorted_and_empty_circumcircles():
    pts = tasks.random_instances(12, 1, 5)[0].astype(float)
    tri = tasks.delaunay_label(pts)
    assert (np.diff(tri, axis=1) > 0).all()
    assert [tuple(r) for r in tri] == sorted(tuple(r) for r in tri)
    for a, b, c in tri:
        # circumcircle test: no other point strictly inside
        ax, ay = pts[a]
        bx, by = pts[b]
        cx, cy = pts[c]
        dd = 2 * (ax * (by - cy) + bx * (cy - ay) + cx * (ay - by))
        ux = ((ax**2 + ay**2) * (by - cy) + (bx**2 + by**2) * (cy - ay) + (cx**2 + cy**2) * (ay - by)) / dd
        uy = ((ax**2 + ay**2) * (cx - bx) + (bx**2 + by**2) * (ax - cx) + (cx**2 + cy**2) * (bx - ax)) / dd
        r2 = (ax - ux) ** 2 + (ay - uy) ** 2
        others = np.setdiff1d(np.arange(len(pts)), [a, b, c])
        assert (((pts[others, 0] - ux) ** 2 + (pts[others, 1] - uy) ** 2) >= r2 - 1e-9).all()


def test_collinear_points_raise():
    pts = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], dtype=float)
    with pytest.raises(LabInputError):
        tasks.convex_hull_label(pts)
    with pytest.raises(LabInputError):
        tasks.delaunay_label(pts)


def test_tour_length_and_reference_on_square():
    pts = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], dtype=float)
    assert tasks.tour_length(pts, [0, 2, 1, 3]) == pytest.approx(4.0)
    assert tasks.tour_length(pts, [0, 1, 2, 3]) == pytest.approx(2 + 2 * np.sqrt(2))
    ref = tasks.tsp_reference(pts)
    assert ref[0] == 0 and tasks.is_valid_tour(ref, 4)
    assert tasks.tour_length(pts, ref) == pytest.approx(4.0)


def test_reference_is_valid_and_beats_identity():
    pts = tasks.random_instances(25, 1, 2)[0]
    ref = tasks.tsp_reference(pts, time_limit=0.05)
    assert ref[0] == 0 and tasks.is_valid_tour(ref, 25)
    assert tasks.tour_length(pts, ref) < tasks.tour_length(pts, np.arange(25))


def test_rotate_and_validity():
    assert tasks.rotate_to_zero([2, 0, 1]).tolist() == [0, 1, 2]
    assert tasks.is_valid_tour([0, 2, 1], 3)
    assert not tasks.is_valid_tour([0, 2, 2], 3)
    assert not tasks.is_valid_tour([0, 1], 3)


def test_normalize_single_and_batch():
    pts = np.array([[10, 20], [14, 20], [10, 22]], dtype=float)
    p01, scale, offset = tasks.normalize(pts)
    assert scale == pytest.approx(4.0) and offset.tolist() == [10, 20]
    assert p01.max() == pytest.approx(1.0) and p01.min() == 0
    np.testing.assert_allclose(p01 * scale + offset, pts, rtol=1e-6)
    batch = np.stack([pts, pts * 2])
    b01, scales, offsets = tasks.normalize(batch)
    assert b01.shape == (2, 3, 2) and scales.tolist() == [4.0, 8.0] and offsets.shape == (2, 2)
    np.testing.assert_allclose(b01[0], b01[1], rtol=1e-6)



def _fake_search(monkeypatch, plan: list[tuple[bool, str]]):
    """fast-tsp stand-in. Call i follows ``plan[i]``: (starved, which tour). A starved search sleeps
    through its limit (no CPU, as on a busy machine), else it computes for its limit; it returns the
    reference tour ("good") or the identity order ("bad", longer on random points)."""
    import time

    import fast_tsp

    pts = tasks.random_instances(30, 1, seed=4)[0]
    tours = {"good": tasks.tsp_reference(pts).tolist(), "bad": list(range(len(pts)))}
    calls: list[float] = []

    def find_tour(rows, limit, stop_when_converged=True):
        starved, which = plan[len(calls)]
        calls.append(limit)
        if starved:
            time.sleep(limit)
        else:
            end = time.thread_time() + limit
            while time.thread_time() < end:
                pass
        return tours[which]

    monkeypatch.setattr(fast_tsp, "find_tour", find_tour)
    return pts, tours, calls


def test_a_starved_reference_search_runs_again_for_longer_and_keeps_the_shorter_tour(monkeypatch):
    pts, tours, calls = _fake_search(monkeypatch, [(True, "bad"), (False, "good")])
    assert tasks.tsp_reference(pts, time_limit=0.02).tolist() == tours["good"]
    assert len(calls) == 2 and calls[1] > calls[0]


def test_a_search_that_had_the_cpu_runs_once(monkeypatch):
    pts, tours, calls = _fake_search(monkeypatch, [(False, "good")])
    assert tasks.tsp_reference(pts, time_limit=0.02).tolist() == tours["good"] and len(calls) == 1


def test_a_worse_retry_does_not_replace_the_first_tour_and_retries_are_bounded(monkeypatch):
    plan = [(True, "good")] + [(True, "bad")] * tasks.STARVED_RETRIES
    pts, tours, calls = _fake_search(monkeypatch, plan)
    assert tasks.tsp_reference(pts, time_limit=0.02).tolist() == tours["good"]
    assert len(calls) == len(plan)
