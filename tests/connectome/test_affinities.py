import numpy as np
import pytest

from lab.connectome.affinities import (
    AFFINITIES,
    affinity_tensor,
    make_affinity,
    matrix_to_pairs,
    n_from_pairs,
    pair_index,
    pairs_to_matrix,
    windows_of,
)
from lab.core.errors import LabInputError


def _calcium(rng, t):
    events = (rng.random(t) < 0.05) * 1.0
    kernel = np.exp(-np.arange(30) / 6.0)
    return np.convolve(events, kernel)[:t] + 0.05 * rng.normal(size=t)


@pytest.mark.parametrize("name", sorted(AFFINITIES))
def test_identical_traces_have_maximal_affinity(name):
    rng = np.random.default_rng(0)
    base = _calcium(rng, 400)
    traces = np.stack([base, base, 2.0 * base + 3.0, _calcium(rng, 400)])  # (N=4, T)
    mats = make_affinity(name).matrices(windows_of(traces, 100, 50))  # (W, 4, 4)
    assert mats.shape == (7, 4, 4)
    np.testing.assert_allclose(mats[:, 0, 1], 1.0, atol=1e-9)
    np.testing.assert_allclose(mats[:, 0, 2], 1.0, atol=1e-9)  # affine rescaling does not matter
    assert np.all(mats >= 0) and np.all(mats <= 1 + 1e-12)
    np.testing.assert_allclose(mats, mats.transpose(0, 2, 1), atol=1e-12)


@pytest.mark.parametrize("name", sorted(AFFINITIES))
def test_independent_noise_has_near_zero_affinity(name):
    rng = np.random.default_rng(1)
    traces = rng.normal(size=(30, 2000))
    mats = make_affinity(name).matrices(windows_of(traces, 400, 400))
    off = mats[:, ~np.eye(30, dtype=bool)]
    assert off.mean() < 0.06
    assert np.quantile(off, 0.99) < 0.3


def test_constant_window_gives_zero_affinity_not_nan():
    traces = np.vstack([np.ones(50), np.arange(50.0) ** 2, np.sin(np.arange(50.0))])
    for name in AFFINITIES:
        mats = make_affinity(name).matrices(windows_of(traces, 20, 10))
        assert np.all(np.isfinite(mats))
        assert np.all(mats[:, 0, 1:] == 0)


def test_pair_order_round_trip():
    n = 6
    i, j = pair_index(n)
    assert list(zip(i[:6].tolist(), j[:6].tolist(), strict=True)) == [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 2)]
    rng = np.random.default_rng(2)
    m = rng.random((3, n, n))
    m = m + m.transpose(0, 2, 1)
    m[:, range(n), range(n)] = 0
    pairs = matrix_to_pairs(m)
    assert pairs.shape == (3, 15)
    np.testing.assert_array_equal(pairs_to_matrix(pairs), m)
    assert n_from_pairs(15) == 6
    with pytest.raises(ValueError):
        n_from_pairs(14)


def test_tensor_shape_and_entries():
    rng = np.random.default_rng(3)
    traces = rng.normal(size=(2, 5, 100)).cumsum(axis=2)  # (A, N, T)
    aff = make_affinity("derivative-correlation")
    tensor = affinity_tensor(traces, aff, window=30, step=10)
    assert tensor.shape == (10, 8, 2)  # P = 5*4/2, W = (100-30)/10 + 1, A
    mats = aff.matrices(windows_of(traces[1], 30, 10))
    i, j = pair_index(5)
    for p in range(10):
        np.testing.assert_allclose(tensor[p, 3, 1], mats[3, i[p], j[p]])


def test_bad_window_and_unknown_affinity():
    with pytest.raises(LabInputError, match="fewer than one window"):
        affinity_tensor(np.ones((1, 3, 10)), make_affinity("gaussian"), window=20, step=5)
    with pytest.raises(LabInputError, match="Unknown affinity"):
        make_affinity("pearson")
    with pytest.raises(LabInputError):
        make_affinity("gaussian", sigma=0)
