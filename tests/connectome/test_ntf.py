import threading

import numpy as np
import tensorly as tl

from lab.connectome.ntf import factor_similarity, fit_ntf, rank_scan, thread_backend


def _low_rank(seed=0, shape=(45, 20, 4), rank=3):
    rng = np.random.default_rng(seed)
    factors = [rng.random((d, rank)) for d in shape]
    return np.einsum("pr,wr,ar->pwa", *factors), factors


def test_ntf_recovers_exact_low_rank_tensor():
    tensor, truth = _low_rank()
    fit = fit_ntf(tensor, 3, n_iter_max=1000, tol=1e-9)
    assert fit.error < 1e-2
    assert np.all(fit.pairs >= 0) and np.all(fit.time >= 0) and np.all(fit.animal >= 0)
    np.testing.assert_allclose(fit.reconstruct(), tensor, rtol=0, atol=0.05 * tensor.max())
    score, _ = factor_similarity(truth, fit.factors)
    assert score > 0.95
    assert list(fit.weights) == sorted(fit.weights, reverse=True)
    assert fit.errors[-1] <= fit.errors[0]


def test_hungarian_matching_on_permuted_factors():
    _, factors = _low_rank(seed=4, rank=4)
    perm = np.array([2, 0, 3, 1])
    shuffled = [f[:, perm] * 3.0 for f in factors]  # permuted and rescaled
    score, match = factor_similarity(factors, shuffled)
    assert abs(score - 1.0) < 1e-9
    np.testing.assert_array_equal(perm[match], np.arange(4))
    other = [np.random.default_rng(9).random(f.shape) for f in factors]
    assert factor_similarity(factors, other)[0] < 0.95


def test_progress_reports_iterations_and_stop():
    tensor, _ = _low_rank(seed=1)
    seen = []

    def on_progress(step, total, metrics):
        seen.append((step, total, metrics["error"]))
        return step >= 5

    fit = fit_ntf(tensor, 3, n_iter_max=500, tol=0, on_progress=on_progress)
    assert fit.stopped and len(fit.errors) == 5
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5] and seen[0][1] == 500


def test_thread_backend_is_local_and_restored():
    from tensorly import tenalg

    before, before_tenalg = tl.get_backend(), tenalg.get_backend()
    seen = {}

    def other():
        seen["other"] = tl.get_backend()

    with thread_backend("pytorch"):
        assert tl.get_backend() == "pytorch" and tenalg.get_backend() == "connectome"
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen["other"] == before
    assert tl.get_backend() == before and tenalg.get_backend() == before_tenalg


def test_rank_scan_errors_fall_and_true_rank_is_stable():
    tensor, _ = _low_rank(seed=2, rank=2)
    scan = rank_scan(tensor, [1, 2, 3], restarts=3, n_iter_max=400, tol=1e-8)
    rows = scan.summary()
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["error_min"] > rows[1]["error_min"]
    assert rows[1]["error_min"] < 0.02
    assert rows[1]["similarity"] > 0.95
    assert scan.errors.shape == (3, 3) and scan.similarity.shape == (3, 3)


def test_lab_mttkrp_matches_tensorly_core():
    from tensorly.tenalg.core_tenalg.mttkrp import unfolding_dot_khatri_rao

    from lab.connectome.mttkrp import mttkrp_3way

    rng = np.random.default_rng(5)
    tensor = rng.random((21, 7, 3))
    factors = [rng.random((d, 4)) for d in tensor.shape]
    weights = rng.random(4)
    for mode in range(3):
        np.testing.assert_allclose(mttkrp_3way(tensor, (weights, factors), mode),
                                   unfolding_dot_khatri_rao(tensor, (weights, factors), mode), rtol=1e-10)
    four = rng.random((3, 4, 2, 2))  # not 3-way: falls back to tensorly's own
    f4 = [rng.random((d, 2)) for d in four.shape]
    np.testing.assert_allclose(mttkrp_3way(four, (None, f4), 1), unfolding_dot_khatri_rao(four, (None, f4), 1))
