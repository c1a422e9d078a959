"""A faster MTTKRP for 3-way tensors, plugged into tensorly as a (thread-local) tenalg backend.

Every HALS iteration needs, for each mode ``m``, ``unfold(X, m) @ khatri_rao(other factors)``. tensorly's
core implementation forms the Khatri-Rao product explicitly: for the animals mode of a (P, W, A)
affinity tensor that is a (P*W, R) matrix, written twice per call - at whole-brain scale (P = 44 850,
W = 200) 90 M values, which dominates the fit. Contracting the pairs mode first needs no such matrix:

    Y = X_(P, W*A)^T @ F_pairs        (W*A, R), one GEMM
    mode 1: out[w, r] = sum_a Y[w, a, r] F_animal[a, r]
    mode 2: out[a, r] = sum_w Y[w, a, r] F_window[w, r]
    mode 0: X_(P, W*A) @ khatri_rao(F_window, F_animal)   (that KR is only (W*A, R))

The result is mathematically the same as tensorly's; it is selected per thread (see
``lab.connectome.ntf.thread_backend``) so no other code in the process is affected. Tensors that are
not 3-way fall back to tensorly's own implementation.
"""

from __future__ import annotations

import tensorly as tl
from tensorly.tenalg.core_tenalg import CoreTenalgBackend
from tensorly.tenalg.core_tenalg.mttkrp import unfolding_dot_khatri_rao as core_mttkrp


def mttkrp_3way(tensor, cp_tensor, mode: int):
    """``unfold(tensor, mode) @ khatri_rao(factors, weights, skip_matrix=mode)`` for a 3-way tensor -> (I_mode, R)."""
    weights, factors = cp_tensor
    if tl.ndim(tensor) != 3:
        return core_mttkrp(tensor, cp_tensor, mode)
    p, w, a = tl.shape(tensor)
    rank = tl.shape(factors[0])[1]
    flat = tl.reshape(tensor, (p, w * a))  # (P, W*A), a view for contiguous tensors
    if mode == 0:
        kr = tl.reshape(tl.reshape(factors[1], (w, 1, rank)) * tl.reshape(factors[2], (1, a, rank)), (w * a, rank))
        out = tl.dot(flat, kr)  # (P, R)
    else:
        y = tl.reshape(tl.dot(tl.transpose(flat), factors[0]), (w, a, rank))  # (W, A, R)
        if mode == 1:
            out = tl.sum(y * tl.reshape(factors[2], (1, a, rank)), axis=1)  # (W, R)
        else:
            out = tl.sum(y * tl.reshape(factors[1], (w, 1, rank)), axis=0)  # (A, R)
    if weights is not None:
        out = out * tl.reshape(weights, (1, -1))
    return out


class ConnectomeTenalgBackend(CoreTenalgBackend, backend_name="connectome"):
    """tensorly's core tensor algebra with :func:`mttkrp_3way` as its MTTKRP."""


ConnectomeTenalgBackend.register_method("unfolding_dot_khatri_rao", mttkrp_3way)
