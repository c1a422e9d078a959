"""Non-negative tensor factorization (NTF) of the (pairs, windows, animals) affinity tensor.

The tensor ``X`` (P, W, A) is approximated by ``R`` rank-one terms ``sum_r w_r p_r o t_r o a_r``: a
*motif* ``p_r`` over neuron pairs, *when* it is active ``t_r`` over windows and *in whom* ``a_r``
over animals (Dyballa et al. 2024). We run tensorly's ``non_negative_parafac_hals`` one iteration at
a time, warm-started from the previous factors, so that the caller sees every iteration's error and
can stop. On a GPU the pytorch backend is used, set *thread-locally* so that concurrent sessions of
one server (each on its own thread) never switch each other's backend; the thread's tensor-algebra
backend computes the MTTKRP without forming the big Khatri-Rao product (:mod:`lab.connectome.mttkrp`).

Rank choice follows tensortools: several random restarts per rank, the reconstruction error of each,
and the similarity of every restart's factors to the best restart's (components matched by the
Hungarian method on the product over modes of cosine similarities; the score is the mean over matched
components).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import tensorly as tl
from scipy.optimize import linear_sum_assignment
from tensorly.backend import BackendManager
from tensorly.decomposition import non_negative_parafac_hals

from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report


@contextmanager
def thread_backend(name: str) -> Iterator[None]:
    """Use tensorly backend ``name`` in this thread only, restoring the thread's previous one after.

    The thread also gets the lab's tensor-algebra backend (:mod:`lab.connectome.mttkrp`: the same MTTKRP,
    computed without forming the large Khatri-Rao product). ``tl.backend_context`` would restore the old
    backend *globally*, which would clash with other threads, so both are set with ``local_threadsafe``.
    """
    from tensorly import tenalg

    from lab.connectome.mttkrp import ConnectomeTenalgBackend

    old, old_tenalg = BackendManager.current_backend(), tenalg.current_backend()
    tl.set_backend(name, local_threadsafe=True)
    tenalg.set_backend(ConnectomeTenalgBackend(), local_threadsafe=True)
    try:
        yield
    finally:
        tl.set_backend(old, local_threadsafe=True)
        tenalg.set_backend(old_tenalg, local_threadsafe=True)


@dataclass
class NTFResult:
    """A fitted NTF, components sorted by weight (largest first), each factor column of unit norm.

    Attributes
    ----------
    pairs : ndarray, shape (P, R)
    time : ndarray, shape (W, R)
    animal : ndarray, shape (A, R)
    weights : ndarray, shape (R,)
    error : float
        Relative reconstruction error ``||X - X_hat|| / ||X||``.
    errors : list of float
        The error after every iteration.
    stopped : bool
        True when the progress callback asked to stop before convergence.
    """

    pairs: np.ndarray
    time: np.ndarray
    animal: np.ndarray
    weights: np.ndarray
    error: float
    errors: list[float] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0
    backend: str = "numpy"

    @property
    def rank(self) -> int:
        return int(self.weights.shape[0])

    @property
    def factors(self) -> list[np.ndarray]:
        return [self.pairs, self.time, self.animal]

    def reconstruct(self) -> np.ndarray:
        """(P, W, A) model tensor."""
        return np.einsum("r,pr,wr,ar->pwa", self.weights, self.pairs, self.time, self.animal)


def normalize_sort(factors: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unit-norm columns with the scale moved into weights; components sorted by weight, descending."""
    norms = [np.linalg.norm(f, axis=0) for f in factors]  # each (R,)
    weights = np.prod(norms, axis=0)
    unit = [np.divide(f, n, out=np.zeros_like(f), where=n > 0) for f, n in zip(factors, norms, strict=True)]
    order = np.argsort(-weights, kind="stable")
    return weights[order], [u[:, order] for u in unit]


def svd_init(tensor: np.ndarray, rank: int, seed: int = 0) -> list[np.ndarray]:
    """Non-negative SVD initialisation: one (dim_m, R) factor per mode.

    tensorly's ``init='svd'`` takes a full SVD of every unfolding (``full_matrices``), which for the pairs
    mode (P x W*A, P = N(N-1)/2) costs far more than the fit. Here modes 1.. (windows, animals: short)
    take the leading ``R`` eigenvectors of their unfolding's Gram matrix ``M M^T`` (sign chosen so that
    the positive part dominates, as in NNDSVD, negative part clipped; padded with small random columns
    when a mode is shorter than ``R``, as tensorly does). Mode 0 (pairs: long) is then the clipped least
    squares solution given the others, ``max(0, M_0 KR (KR^T KR)^+)``, which costs one MTTKRP.
    """
    rng = np.random.default_rng(seed)
    factors: list[np.ndarray] = [np.empty(0)]
    for mode in range(1, tensor.ndim):
        m = np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1).astype(np.float64)  # (I, J), I small
        k = min(rank, m.shape[0])
        evals, evecs = np.linalg.eigh(m @ m.T)  # (I, I)
        u = evecs[:, ::-1][:, :k]
        flip = np.linalg.norm(np.minimum(u, 0), axis=0) > np.linalg.norm(np.maximum(u, 0), axis=0)
        u = np.maximum(np.where(flip, -u, u), 0.0)
        if k < rank:
            u = np.concatenate([u, rng.random((u.shape[0], rank - k)) * (u.mean() + 1e-3)], axis=1)
        factors.append(u + 1e-3 * max(float(u.max()), 1e-12))
    kr = factors[1]
    for f in factors[2:]:  # Khatri-Rao product in C order of the remaining modes: (prod(dims[1:]), R)
        kr = (kr[:, None, :] * f[None, :, :]).reshape(-1, rank)
    mttkrp = tensor.reshape(tensor.shape[0], -1).astype(np.float64) @ kr  # (dim_0, R)
    factors[0] = np.maximum(mttkrp @ np.linalg.pinv(kr.T @ kr), 0.0) + 1e-9
    return [f.astype(tensor.dtype) for f in factors]


def _to_backend(tensor: np.ndarray, device: str):
    if device.startswith("cuda"):
        import torch

        return "pytorch", torch.as_tensor(tensor, dtype=torch.float32, device=device)
    # float32 halves the memory traffic of the MTTKRPs (the cost of every iteration) at no visible loss
    return "numpy", tensor.astype(np.float32)


def fit_ntf(
    tensor: np.ndarray,
    rank: int,
    *,
    n_iter_max: int = 300,
    tol: float = 1e-5,
    init: str = "svd",
    random_state: int = 0,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    mask: np.ndarray | None = None,
) -> NTFResult:
    """Non-negative CP decomposition by HALS, one reported iteration at a time; missing entries masked.

    Parameters
    ----------
    tensor : ndarray, shape (P, W, A)
        Non-negative affinities.
    rank : int
        Number of components ``R``.
    n_iter_max, tol
        Stop after ``n_iter_max`` iterations or when the relative error changes by less than ``tol``.
    init : {'svd', 'random'}
        'svd': :func:`svd_init` (deterministic); 'random' (with ``random_state``): what a rank scan's
        restarts use.
    device : str
        'cpu' runs tensorly's numpy backend, 'cuda' its pytorch backend on the GPU (both in float32).
    on_progress
        Called as ``(iteration, n_iter_max, {"error": e})``; returning True stops the fit.
    mask : ndarray of bool, shape (P, W, A), optional
        True where an entry is observed. Missing entries are left out of the fit by expectation-maximisation
        (as tensorly's ``non_negative_parafac(mask=...)`` does; its HALS takes no mask): before every HALS
        sweep they are set to the current model's value, so the sweep fits the observed entries and the
        model's own guess elsewhere. Only pairs with a missing entry are re-filled, so a few missing
        neurons cost little. The error is then the relative error on the observed entries.
    """
    tensor = np.asarray(tensor, dtype=np.float64)
    if tensor.ndim != 3:
        raise LabInputError(f"NTF needs a 3-way tensor (pairs, windows, animals), got shape {tensor.shape}.")
    if not np.all(np.isfinite(tensor)) or tensor.min() < 0:
        raise LabInputError("The affinity tensor must be finite and non-negative.")
    if not 1 <= rank <= 200:
        raise LabInputError(f"rank is {rank}; choose a rank between 1 and 200.")
    if float(np.abs(tensor).sum()) == 0.0:
        raise LabInputError("Every affinity is zero (no two neurons ever co-vary); nothing to factorize.")
    if init not in ("svd", "random"):
        raise LabInputError(f"init is '{init}'; choose 'svd' or 'random'.")
    masked = _MaskedFill.make(tensor, mask)
    if masked is not None:
        tensor = masked.first_fill(tensor)
    start = time.perf_counter()
    backend, data = _to_backend(tensor, device)
    errors: list[float] = []
    stopped = False
    with thread_backend(backend), warnings.catch_warnings():
        # tensorly warns when rank > a mode's size (few animals); it pads the SVD init, which is fine
        warnings.filterwarnings("ignore", message="Trying to compute SVD")
        cp = init
        if init == "svd":
            factors0 = svd_init(tensor.astype(np.float32), rank, seed=random_state)
            cp = tl.cp_tensor.CPTensor((tl.ones(rank, **tl.context(data)),
                                        [tl.tensor(f, **tl.context(data)) for f in factors0]))
        for it in range(1, n_iter_max + 1):
            # One HALS sweep over the three modes; tol>0 makes tensorly compute the error.
            cp, errs = non_negative_parafac_hals(
                data, rank, n_iter_max=1, init=cp, tol=1e-30, random_state=random_state, return_errors=True
            )
            error = float(tl.to_numpy(errs[-1]))
            if masked is not None:  # the error on observed entries; then refill the missing ones for the next sweep
                error = masked.refill(data, cp, backend)
            errors.append(error)
            if report(on_progress, it, n_iter_max, {"error": errors[-1]}):
                stopped = True
                break
            if len(errors) > 1 and abs(errors[-2] - errors[-1]) < tol:
                break
        factors = [np.asarray(tl.to_numpy(f), dtype=np.float64) for f in cp.factors]
    weights, (pairs, times, animals) = normalize_sort(factors)
    return NTFResult(pairs, times, animals, weights, errors[-1], errors, stopped, time.perf_counter() - start, backend)


class _MaskedFill:
    """The missing entries of a masked fit: which pairs have any, and the refill after every sweep.

    The reported error is ``||mask * (X - X_hat)|| / ||mask * X||``: the fit's error on what was observed.
    """

    def __init__(self, rows: np.ndarray, missing: np.ndarray, norm_observed: float) -> None:
        self.rows = rows  # (M,) pairs with at least one missing entry
        self.missing = missing  # (M, W, A) True where missing
        self.norm_observed = norm_observed

    @classmethod
    def make(cls, tensor: np.ndarray, mask: np.ndarray | None) -> _MaskedFill | None:
        if mask is None:
            return None
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != tensor.shape:
            raise LabInputError(f"the mask has shape {mask.shape}, the tensor {tensor.shape}; give one per entry.")
        if mask.all():
            return None
        if not mask.any():
            raise LabInputError("Every entry of the tensor is masked; nothing is observed to fit.")
        rows = np.flatnonzero(~mask.all(axis=(1, 2)))
        norm = float(np.linalg.norm(np.where(mask, tensor, 0.0)))
        if norm == 0.0:
            raise LabInputError("Every observed affinity is zero (no two neurons ever co-vary); nothing to factorize.")
        return cls(rows, ~mask[rows], norm)

    def first_fill(self, tensor: np.ndarray) -> np.ndarray:
        """Missing entries start at the mean observed affinity of their (window, animal) slice."""
        out = np.array(tensor, dtype=np.float64)
        observed = np.ones(out.shape, dtype=bool)
        observed[self.rows] = ~self.missing
        counts = observed.sum(axis=0)  # (W, A)
        means = np.where(observed, out, 0.0).sum(axis=0) / np.maximum(counts, 1)
        block = out[self.rows]
        block[self.missing] = np.broadcast_to(means, block.shape)[self.missing]
        out[self.rows] = block
        return out

    def refill(self, data, cp, backend: str) -> float:
        """Set the missing entries of ``data`` (in place) to the model's values; return the observed error.

        The residual is formed directly (one reconstruction, about the cost of one MTTKRP): tensorly's own
        error comes from norms and inner products, whose cancellation in float32 would hide small errors.
        """
        model = tl.cp_to_tensor(cp)  # (P, W, A)
        rows = self._index(backend, data)
        missing = self._missing(backend, data)
        residual = data - model
        residual[rows] = residual[rows] * (1 - missing)
        observed = float(tl.to_numpy(tl.norm(residual))) / self.norm_observed
        data[rows] = tl.where(missing > 0, model[rows], data[rows])
        return observed

    def _index(self, backend: str, data):
        if backend == "pytorch":
            import torch

            if not hasattr(self, "_rows_t"):
                self._rows_t = torch.as_tensor(self.rows, device=data.device)
            return self._rows_t
        return self.rows

    def _missing(self, backend: str, data):
        if backend == "pytorch":
            import torch

            if not hasattr(self, "_missing_t"):
                self._missing_t = torch.as_tensor(self.missing, dtype=data.dtype, device=data.device)
            return self._missing_t
        if not hasattr(self, "_missing_f"):
            self._missing_f = self.missing.astype(data.dtype)
        return self._missing_f


def factor_similarity(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
    """Similarity of two CP models with the same rank, after optimal matching of components.

    Parameters
    ----------
    a, b : list of ndarray, each (dim_m, R)
        Factor matrices of the two models, one per mode.

    Returns
    -------
    score : float
        Mean over matched components of the product over modes of |cosine similarity| (1 = same).
    perm : ndarray of int, shape (R,)
        ``b``'s component matched to each of ``a``'s.
    """
    sim = np.ones((a[0].shape[1], b[0].shape[1]))
    for fa, fb in zip(a, b, strict=True):
        na = fa / np.maximum(np.linalg.norm(fa, axis=0, keepdims=True), 1e-300)
        nb = fb / np.maximum(np.linalg.norm(fb, axis=0, keepdims=True), 1e-300)
        sim *= np.abs(na.T @ nb)  # (R, R) cosine per mode, multiplied across modes as in tensortools
    rows, cols = linear_sum_assignment(-sim)
    perm = np.empty(len(rows), dtype=int)
    perm[rows] = cols
    return float(sim[rows, cols].mean()), perm


@dataclass
class RankScan:
    """Errors and factor similarities of ``restarts`` random fits per rank.

    Attributes
    ----------
    ranks : list of int
    errors : ndarray, shape (len(ranks), restarts)
        NaN where a fit did not run (stopped early).
    similarity : ndarray, shape (len(ranks), restarts)
        Each restart's similarity to the rank's lowest-error restart (1 for that one itself).
    """

    ranks: list[int]
    errors: np.ndarray
    similarity: np.ndarray
    stopped: bool = False
    seconds: float = 0.0

    def summary(self) -> list[dict[str, float]]:
        """Per rank: min / mean error and mean similarity of the other restarts to the best one."""
        rows = []
        for k, r in enumerate(self.ranks):
            errs, sims = self.errors[k], self.similarity[k]
            if np.all(np.isnan(errs)):
                continue
            best = int(np.nanargmin(errs))
            others = np.delete(sims, best)
            others = others[~np.isnan(others)]
            rows.append({
                "rank": int(r),
                "error_min": float(np.nanmin(errs)),
                "error_mean": float(np.nanmean(errs)),
                "similarity": float(others.mean()) if len(others) else 1.0,
                "restarts": int(np.sum(~np.isnan(errs))),
            })
        return rows


def rank_scan(
    tensor: np.ndarray,
    ranks: Sequence[int],
    restarts: int = 5,
    *,
    n_iter_max: int = 200,
    tol: float = 1e-5,
    seed: int = 0,
    device: str = "cpu",
    on_progress: ProgressCallback | None = None,
    mask: np.ndarray | None = None,
) -> RankScan:
    """Fit ``restarts`` randomly initialized NTFs per rank; report error and cross-restart similarity.

    Progress is reported once per fit as ``(fit, total_fits, {"rank": r, "error": e})``.
    """
    ranks = [int(r) for r in ranks]
    if not ranks or restarts < 1:
        raise LabInputError("A rank scan needs at least one rank and one restart.")
    errors = np.full((len(ranks), restarts), np.nan)
    similarity = np.full((len(ranks), restarts), np.nan)
    start = time.perf_counter()
    total, done, stopped = len(ranks) * restarts, 0, False
    for k, r in enumerate(ranks):
        fits: list[NTFResult] = []
        for s in range(restarts):
            fit = fit_ntf(tensor, r, n_iter_max=n_iter_max, tol=tol, init="random",
                          random_state=seed + 1000 * r + s, device=device, mask=mask)
            fits.append(fit)
            errors[k, s] = fit.error
            done += 1
            if report(on_progress, done, total, {"rank": float(r), "error": fit.error}):
                stopped = True
                break
        best = int(np.argmin([f.error for f in fits]))
        for s, fit in enumerate(fits):
            similarity[k, s] = factor_similarity(fits[best].factors, fit.factors)[0]
        if stopped:
            break
    return RankScan(ranks, errors, similarity, stopped, time.perf_counter() - start)
