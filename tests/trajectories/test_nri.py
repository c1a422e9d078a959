"""Springs NRI: training windows within one graph epoch, the linear-coupling feature, the shipped model."""

import numpy as np
import torch

from lab.trajectories.nri import EdgesConfig, SpringsNRI, _sim, scene_edge_accuracy, springs_windows
from lab.trajectories.zoo import load_nri


def test_within_epoch_windows_never_straddle_a_switch():
    scene = _sim(EdgesConfig(frames=200), 3)
    pos, starts = springs_windows(scene, 20, 1, epoch=40)
    assert len(starts) == 5 * 19 and len(pos) == len(starts)
    for s in starts:
        assert (scene.edges[s:s + 22] == scene.edges[s]).all()
    _, every = springs_windows(scene, 20, 1)
    assert len(every) == 200 - 21


def test_linear_coupling_is_symmetric_and_separates_springs_from_none():
    scene = _sim(EdgesConfig(frames=200), 5)
    pos, starts = springs_windows(scene, 20, 20)
    model = SpringsNRI(20, 16, pair_fit=True)
    p = torch.as_tensor(pos, dtype=torch.float32)
    x, v, acc = model.features(p)
    c = model.linear_coupling(x, acc)
    assert torch.allclose(c, c.transpose(1, 2)) and (c.diagonal(dim1=1, dim2=2) == 0).all()
    iu = np.triu_indices(5, 1)
    c, truth = c[:, iu[0], iu[1]].numpy(), scene.edges[starts][:, iu[0], iu[1]]
    assert np.median(c[truth == 1]) > 10 * abs(np.median(c[truth == 0]))
    assert model.encode(x, v, acc).shape == (len(starts), 5, 5, 2)


def test_shipped_nri_finds_most_springs_on_an_unseen_scene():
    model = load_nri()
    scene = _sim(EdgesConfig(), 20_000)
    from lab.trajectories.nri import infer_edges

    types, _ = infer_edges(model, scene)
    accuracy, _ = scene_edge_accuracy(types, scene, model.edge_types)
    assert accuracy >= 0.85
