"""Communities: per NTF factor a weighted N x N graph, its communities, and membership per window.

Each factor's pair loading ``p_r`` (P,) is a weighted graph over neurons (Dyballa et al. 2024); weighted
modularity maximisation (Leiden via leidenalg/igraph, or Louvain via networkx) splits it into
communities. A factor's time loading says when its motif is active and its animal loading in whom;
together they weight the motifs into one denoised graph per window, whose communities are the
membership in that window (see :func:`membership_per_window`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.connectome.affinities.base import pairs_to_matrix
from lab.connectome.ntf import NTFResult
from lab.core.errors import LabInputError

METHODS = ("leiden", "louvain")


def detect_communities(
    adjacency: np.ndarray, method: str = "leiden", *, seed: int = 0, resolution: float = 1.0
) -> tuple[np.ndarray, float]:
    """Weighted community detection on a symmetric non-negative (N, N) adjacency.

    Returns
    -------
    labels : ndarray of int, shape (N,)
        Community of each node, numbered by decreasing community size (0 = largest).
    modularity : float
        Weighted Newman modularity of the partition (at ``resolution``).
    """
    adjacency = np.asarray(adjacency, dtype=np.float64)
    n = adjacency.shape[0]
    if adjacency.shape != (n, n) or np.any(adjacency < 0) or not np.allclose(adjacency, adjacency.T):
        raise LabInputError("Community detection needs a symmetric, non-negative square weight matrix.")
    adjacency = adjacency.copy()
    np.fill_diagonal(adjacency, 0.0)
    if adjacency.sum() == 0:
        return np.arange(n), 0.0
    iu, ju = np.nonzero(np.triu(adjacency, k=1))
    weights = adjacency[iu, ju]
    if method == "leiden":
        import igraph as ig
        import leidenalg

        graph = ig.Graph(n=n, edges=list(zip(iu.tolist(), ju.tolist(), strict=True)))
        graph.es["weight"] = weights.tolist()
        part = leidenalg.find_partition(
            graph, leidenalg.RBConfigurationVertexPartition, weights="weight",
            resolution_parameter=resolution, seed=seed,
        )
        raw = np.asarray(part.membership)
        groups = [np.flatnonzero(raw == c) for c in np.unique(raw)]
    elif method == "louvain":
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_weighted_edges_from(zip(iu.tolist(), ju.tolist(), weights.tolist(), strict=True))
        found = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
        groups = [np.asarray(sorted(c)) for c in found]
    else:
        raise LabInputError(f"Unknown community method '{method}'; choose one of {', '.join(METHODS)}.")
    groups.sort(key=lambda g: (-len(g), int(g[0])))  # deterministic numbering: biggest first
    labels = np.empty(n, dtype=int)
    for c, members in enumerate(groups):
        labels[members] = c
    return labels, modularity(adjacency, labels, resolution)


def modularity(adjacency: np.ndarray, labels: np.ndarray, resolution: float = 1.0) -> float:
    """Weighted modularity ``Q = sum_c [ W_c / W - resolution * (S_c / 2W)^2 ]`` of a partition.

    ``W_c`` is the weight inside community ``c``, ``S_c`` the total strength of its nodes, ``W`` the
    total edge weight (undirected, no self-loops).
    """
    total = adjacency.sum() / 2.0
    if total == 0:
        return 0.0
    strength = adjacency.sum(axis=1)
    q = 0.0
    for c in np.unique(labels):
        idx = labels == c
        inside = adjacency[np.ix_(idx, idx)].sum() / 2.0
        q += inside / total - resolution * (strength[idx].sum() / (2.0 * total)) ** 2
    return float(q)


@dataclass
class FactorCommunities:
    """One factor's graph partition.

    Attributes
    ----------
    labels : ndarray of int, shape (N,)
    modularity : float
    strength : ndarray, shape (N,)
        Weighted degree of every neuron in the factor's graph (how much it takes part in the motif).
    """

    labels: np.ndarray
    modularity: float
    strength: np.ndarray

    @property
    def groups(self) -> list[list[int]]:
        """Neuron indices of every community, largest first."""
        return [np.flatnonzero(self.labels == c).tolist() for c in range(int(self.labels.max()) + 1)]


def factor_communities(
    fit: NTFResult, n_neurons: int, method: str = "leiden", *, seed: int = 0, resolution: float = 1.0
) -> list[FactorCommunities]:
    """Communities of every factor's (N, N) graph, in factor order."""
    out = []
    for r in range(fit.rank):
        adj = pairs_to_matrix(fit.pairs[:, r], n_neurons)  # (N, N)
        labels, q = detect_communities(adj, method, seed=seed, resolution=resolution)
        out.append(FactorCommunities(labels, q, adj.sum(axis=1)))
    return out


def knn_sparsify(adjacency: np.ndarray, k: int) -> np.ndarray:
    """Keep each node's ``k`` strongest edges (symmetrised by union); (N, N) -> (N, N)."""
    n = adjacency.shape[0]
    if k >= n - 1:
        return adjacency
    a = adjacency.copy()
    np.fill_diagonal(a, -np.inf)
    top = np.argpartition(-a, k, axis=1)[:, :k]  # (N, k) strongest neighbours of each node
    keep = np.zeros_like(adjacency, dtype=bool)
    keep[np.repeat(np.arange(n), k), top.ravel()] = True
    keep |= keep.T
    return np.where(keep, adjacency, 0.0)


def factor_activity(fit: NTFResult) -> np.ndarray:
    """(R, W) how active each factor is in each window: ``weight_r * time_r[w] * mean(animal_r)``."""
    return fit.weights[:, None] * fit.time.T * fit.animal.mean(axis=0)[:, None]


def window_graphs(fit: NTFResult, n_neurons: int) -> np.ndarray:
    """(W, N, N) the model's affinity in every window (averaged over animals): ``sum_r activity[r, w] P_r``."""
    return pairs_to_matrix((fit.pairs @ factor_activity(fit)).T, n_neurons)


def membership_per_window(
    fit: NTFResult, comms: list[FactorCommunities], method: str = "leiden", *, seed: int = 0,
    resolution: float = 1.0, quantum: float = 0.05, knn: int | None = 15,
) -> tuple[np.ndarray, np.ndarray]:
    """Community of every neuron in every window, and the factor it takes part in most.

    In window ``w`` the factors combine into the denoised graph ``G_w = sum_r activity[r, w] P_r`` (the
    motifs weighted by when and in whom they are active); its communities are the membership. Windows
    whose activity profiles agree within ``quantum`` (relative to the window's most active factor)
    share one detection, so a stationary stretch costs one community detection. Each window graph keeps
    every neuron's ``knn`` strongest edges (None: all), which makes detection several times faster on
    dense graphs without changing which neurons group together.

    Returns
    -------
    membership : ndarray of int, shape (W, N)
        Community ids per window (numbered by size within each window, 0 = largest; see
        :func:`match_membership` for ids that mean the same community across windows).
    factor : ndarray of int, shape (W, N)
        ``argmax_r activity[r, w] * strength_r[i]``: the factor each neuron takes part in most.
    """
    n = comms[0].labels.shape[0]
    activity = factor_activity(fit)  # (R, W)
    strength = np.stack([c.strength for c in comms])  # (R, N)
    factor = np.argmax(activity[:, :, None] * strength[:, None, :], axis=0)  # (W, N)
    peak = np.maximum(activity.max(axis=0, keepdims=True), 1e-300)
    keys = np.round(activity / peak / quantum).astype(int)  # (R, W)
    cache: dict[bytes, np.ndarray] = {}
    membership = np.empty((activity.shape[1], n), dtype=int)
    for w in range(activity.shape[1]):
        key = keys[:, w].tobytes()
        if key not in cache:
            graph = pairs_to_matrix(fit.pairs @ activity[:, w], n)  # (N, N)
            if knn is not None:
                graph = knn_sparsify(graph, knn)
            cache[key] = detect_communities(graph, method, seed=seed, resolution=resolution)[0]
        membership[w] = cache[key]
    return membership, factor


def match_labels(reference: np.ndarray, labels: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """Renumber ``labels`` so each community takes the id of the ``reference`` community it overlaps most.

    Communities are matched one to one by the Hungarian method on their overlap (number of shared
    neurons); a community left without a partner gets a new id from ``next_id`` on.

    Returns the renumbered (N,) labels and the next unused id.
    """
    from scipy.optimize import linear_sum_assignment

    ref_ids, cur_ids = np.unique(reference), np.unique(labels)
    overlap = np.array([[np.sum((labels == c) & (reference == r)) for r in ref_ids] for c in cur_ids])  # (C, R)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = {}
    for i, j in zip(rows, cols, strict=True):
        if overlap[i, j] > 0:
            mapping[int(cur_ids[i])] = int(ref_ids[j])
    for c in cur_ids:  # the unmatched, largest first
        if int(c) not in mapping:
            mapping[int(c)] = next_id
            next_id += 1
    return np.array([mapping[int(c)] for c in labels], dtype=int), next_id


def match_membership(membership: np.ndarray) -> np.ndarray:
    """(W, N) membership whose ids mean the same community from window to window.

    Window ``w``'s communities are matched to window ``w - 1``'s (:func:`match_labels`), so a community
    keeps its id (and its colour) while it lasts; a new one gets an id never used before.
    """
    out = membership.copy()
    if len(out) == 0:
        return out
    next_id = int(out[0].max()) + 1
    for w in range(1, len(out)):
        out[w], next_id = match_labels(out[w - 1], out[w], next_id)
    return out


def window_epochs(epochs: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The epoch of each window, or -1 for a window that straddles two epochs."""
    out = np.full(len(starts), -1, dtype=int)
    for k, s in enumerate(starts):
        seg = epochs[s : s + window]
        if np.all(seg == seg[0]):
            out[k] = int(seg[0])
    return out


def recovery_scores(membership: np.ndarray, truth: np.ndarray, win_epoch: np.ndarray) -> dict[str, object]:
    """ARI and NMI (scikit-learn) of recovered vs planted communities, per epoch and overall.

    Parameters
    ----------
    membership : (W, N) recovered community per window
    truth : (E, N) planted community per epoch (-1 in every epoch: a neuron the truth does not name)
    win_epoch : (W,) the epoch of each window (-1 = straddles two; not scored)
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    ari, nmi = [], []
    known = np.all(truth >= 0, axis=0)  # neurons the truth names (-1: not in the truth)
    if known.sum() < 2:
        raise LabInputError("The truth names fewer than 2 of the analysed neurons; nothing to score.")
    for e in range(truth.shape[0]):
        rows = np.flatnonzero(win_epoch == e)
        if len(rows) == 0:
            continue
        t = truth[e, known]
        ari.append(float(np.mean([adjusted_rand_score(t, membership[w, known]) for w in rows])))
        nmi.append(float(np.mean([normalized_mutual_info_score(t, membership[w, known]) for w in rows])))
    if not ari:
        raise LabInputError("No window lies inside a single epoch; use a shorter window to score recovery.")
    return {"ari": float(np.mean(ari)), "nmi": float(np.mean(nmi)), "ari_per_epoch": ari, "nmi_per_epoch": nmi}
