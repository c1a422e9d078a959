"""Simulators: reproducible by seed, ground truth consistent with positions, written and read back exactly."""

import numpy as np

from lab.trajectories.data import load_scene
from lab.trajectories.simulate import SimulateConfig, components, simulate


def test_crowd_is_reproducible_by_seed_and_groups_walk_together():
    a = simulate(SimulateConfig(kind="crowd", agents=12, steps=120, seed=3))
    b = simulate(SimulateConfig(kind="crowd", agents=12, steps=120, seed=3))
    c = simulate(SimulateConfig(kind="crowd", agents=12, steps=120, seed=4))
    assert np.array_equal(a.pos, b.pos, equal_nan=True) and np.array_equal(a.groups, b.groups)
    assert not np.array_equal(a.pos[:10], c.pos[:10], equal_nan=True)
    assert ((a.groups >= 0) == a.present).all()
    inside, outside = [], []
    for f in range(a.shape[0]):
        idx = np.nonzero(a.present[f])[0]
        pts, g = a.pos[f, idx], a.groups[f, idx]
        d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
        same = g[:, None] == g[None]
        inside += list(d[same & ~np.eye(len(idx), dtype=bool)])
        outside += list(d[~same])
    assert np.median(inside) < 2.0 < np.median(outside)
    speed = np.linalg.norm(np.diff(a.pos, axis=0), axis=-1) / a.dt
    assert 0.6 < np.nanmedian(speed) < 1.6  # walking pace, m/s


def test_springs_truth_is_symmetric_switches_and_groups_are_its_components():
    s = simulate(SimulateConfig(kind="springs", agents=5, steps=90, switch_every=30, seed=1))
    assert s.edges.shape == (90, 5, 5) and (s.edges == s.edges.transpose(0, 2, 1)).all()
    assert (np.diagonal(s.edges, axis1=1, axis2=2) == 0).all()
    assert (s.edges[:30] == s.edges[0]).all() and not (s.edges[30:] == s.edges[0]).all()
    for f in (0, 45):
        assert (s.groups[f] == components(s.edges[f].astype(bool))).all()


def test_written_scene_reads_back_with_its_sidecar(tmp_path):
    s = simulate(SimulateConfig(kind="crowd", agents=8, steps=50, seed=2))
    path = tmp_path / "scene.txt"
    path.write_text(s.to_text())
    (tmp_path / "scene.txt.groups.csv").write_text(s.groups_csv())
    back = load_scene(path)
    assert back.frame_step == 10 and np.allclose(back.pos, s.pos, equal_nan=True)
    same = back.present
    assert ((back.groups[:, :, None] == back.groups[:, None]) == (s.groups[:, :, None] == s.groups[:, None]))[same].all()
