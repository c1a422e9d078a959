import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from lab.connectome.communities import METHODS, detect_communities, modularity, recovery_scores, window_epochs
from lab.core.errors import LabInputError


def _two_cliques(n=6, bridge=0.05):
    adj = np.zeros((2 * n, 2 * n))
    adj[:n, :n] = 1.0
    adj[n:, n:] = 1.0
    adj[0, n] = adj[n, 0] = bridge
    np.fill_diagonal(adj, 0)
    return adj


@pytest.mark.parametrize("method", METHODS)
def test_two_cliques_are_found(method):
    adj = _two_cliques()
    labels, q = detect_communities(adj, method)
    truth = np.repeat([0, 1], 6)
    assert adjusted_rand_score(truth, labels) == 1.0
    assert q == pytest.approx(modularity(adj, truth))
    assert 0.45 < q < 0.5  # two equal disjoint cliques give 0.5; the bridge lowers it a little


def test_modularity_formula():
    adj = _two_cliques(bridge=0.0)
    assert modularity(adj, np.repeat([0, 1], 6)) == pytest.approx(0.5)
    assert modularity(adj, np.zeros(12, dtype=int)) == pytest.approx(0.0)


def test_bad_graph_and_method():
    with pytest.raises(LabInputError):
        detect_communities(np.array([[0, 1], [0, 0]]), "leiden")
    with pytest.raises(LabInputError, match="Unknown community method"):
        detect_communities(_two_cliques(), "spectral")
    labels, q = detect_communities(np.zeros((4, 4)))
    assert q == 0.0 and len(set(labels)) == 4


def test_recovery_scores_and_window_epochs():
    epochs = np.repeat([0, 1], 50)
    starts = np.arange(0, 81, 20)  # windows of 20: [0,20) ... [80,100)
    win = window_epochs(epochs, starts, 20)
    np.testing.assert_array_equal(win, [0, 0, -1, 1, 1])  # [40, 60) straddles the change at frame 50
    truth = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])
    membership = np.array([[5, 5, 7, 7]] * 2 + [[0, 0, 0, 0]] + [[1, 2, 1, 2]] * 2)
    scores = recovery_scores(membership, truth, window_epochs(epochs, starts, 20))
    assert scores["ari"] == pytest.approx(1.0) and scores["nmi"] == pytest.approx(1.0)
