"""The measures on hand-made keep masks and attention: GER, retention, accessibility, consensus, cliff."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab.kvcache.metrics import (
    PointStats,
    accessibility,
    cliff,
    consensus,
    evicted_relevant,
    ger_per_layer,
    hallucinated,
    pearson,
    retained,
    susceptibility,
)


def _keep():
    """2 samples, 2 layers, 2 heads, 5 context positions; relevant: sample 0 {1, 3}, sample 1 {0, 2, 4}."""
    keep = torch.zeros(2, 2, 2, 5, dtype=torch.bool)
    # sample 0, layer 0: head 0 keeps 1, head 1 keeps 3 -> both relevant tokens survive in the layer
    keep[0, 0, 0, 1] = keep[0, 0, 1, 3] = True
    # sample 0, layer 1: both heads keep 0 and 2 only -> both relevant tokens are evicted from the layer
    keep[0, 1, :, 0] = keep[0, 1, :, 2] = True
    # sample 1: every head of both layers keeps 0 and 2, layer 1 head 1 also keeps 4
    keep[1, :, :, 0] = keep[1, :, :, 2] = True
    keep[1, 1, 1, 4] = True
    relevant = torch.tensor([[0, 1, 0, 1, 0], [1, 0, 1, 0, 1]], dtype=torch.bool)
    return keep, relevant


def test_global_eviction_ratio_counts_tokens_no_head_of_the_layer_keeps():
    keep, relevant = _keep()
    assert evicted_relevant(keep, relevant).tolist() == [[0, 2], [1, 0]]
    # layer 0: 0 + 1 of 5 relevant tokens evicted; layer 1: 2 + 0
    assert ger_per_layer(keep, relevant) == pytest.approx([1 / 5, 2 / 5])
    everything = torch.ones_like(keep)
    assert ger_per_layer(everything, relevant).tolist() == [0.0, 0.0]
    assert ger_per_layer(torch.zeros_like(keep), relevant).tolist() == [1.0, 1.0]


def test_retention_needs_every_relevant_token_in_every_layer():
    keep, relevant = _keep()
    # sample 0 loses both in layer 1; sample 1 loses token 4 in layer 0
    assert retained(keep, relevant).tolist() == [False, False]
    keep[1, 0, 0, 4] = True
    assert retained(keep, relevant).tolist() == [False, True]


def test_accessibility_is_the_answer_attention_on_relevant_tokens():
    relevant = torch.tensor([[0, 1, 0, 1, 0]], dtype=torch.bool)
    att = torch.zeros(1, 1, 2, 7)  # 1 sample, 1 layer, 2 heads, T = 5 context + 2 question
    att[0, 0, 0] = torch.tensor([0.1, 0.2, 0.0, 0.3, 0.0, 0.2, 0.2])
    att[0, 0, 1] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5])  # a head that only reads the question
    assert accessibility(att, relevant)[0, 0].item() == pytest.approx((0.5 + 0.0) / 2)


def test_consensus_is_distinct_top_tokens_over_heads():
    att = torch.zeros(1, 2, 4, 6)
    att[0, 0, :, 2] = 1.0  # layer 0: every head looks at position 2 -> 1 distinct / 4
    for h in range(4):
        att[0, 1, h, h] = 1.0  # layer 1: each head at its own position -> 4 / 4
    assert consensus(att)[0].tolist() == [0.25, 1.0]


def test_hallucination_is_a_confident_wrong_valid_entity():
    answer = torch.tensor([5, 5, 5, 5])
    candidates = torch.tensor([[5, 6, 7]] * 4)
    pred = torch.tensor([6, 6, 9, 5])
    conf = torch.tensor([0.9, 0.3, 0.9, 0.9])
    # confident wrong candidate; unsure wrong candidate; confident non-entity; right
    assert hallucinated(pred, conf, answer, candidates).tolist() == [True, False, False, False]


def test_point_stats_pool_batches():
    keep, relevant = _keep()
    att = torch.full((2, 2, 2, 7), 1 / 7)
    logits = torch.full((2, 10), -10.0)
    logits[0, 5] = 10.0  # sample 0 answers 5 (right), sample 1 answers 6 (a confident wrong entity)
    logits[1, 6] = 10.0
    stats = PointStats()
    stats.add(keep, att, logits, torch.tensor([5, 5]), torch.tensor([[5, 6], [5, 6]]), relevant)
    stats.add(torch.ones_like(keep), att, logits, torch.tensor([5, 5]), torch.tensor([[5, 6], [5, 6]]), relevant)
    s = stats.summary()
    assert s["samples"] == 4 and s["accuracy"] == 0.5 and s["hallucination_rate"] == 0.5
    assert s["ger_per_layer"] == pytest.approx([1 / 10, 2 / 10]) and s["ger"] == pytest.approx(0.15)
    assert s["retention"] == 0.5 and s["utilization"] == 0.5  # the two full-cache samples, one right
    assert len(s["consensus"]) == 2 and s["kept"] == pytest.approx((keep.float().mean(dim=(1, 2, 3)).sum() + 2) / 4)


def test_cliff_interpolates_where_accuracy_halves():
    ratios = [0.0, 0.5, 0.8, 0.9, 0.95]
    assert cliff(ratios, [1.0, 0.9, 0.7, 0.3, 0.1], 1.0) == pytest.approx(0.8 + (0.7 - 0.5) / 0.4 * 0.1)
    assert cliff(ratios, [1.0, 0.9, 0.8, 0.7, 0.6], 1.0) is None
    # the uncompressed point is ratio 0 even when 0 was not swept
    assert cliff([0.5], [0.0], 1.0) == pytest.approx(0.25)
    assert cliff([0.5, 0.9], [0.4, 0.1], 1.0) == pytest.approx(0.5 * (1 - 0.5) / (1 - 0.4))


def test_susceptibility_and_pearson():
    assert susceptibility([0.0, 0.5, 1.0], [0.0, 0.1, 0.4]) == pytest.approx([0.2, 0.4, 0.6])
    assert susceptibility([0.5], [0.3]) == [0.0]
    assert pearson([0, 1, 2, 3], [0, 2, 4, 6]) == pytest.approx(1.0)
    assert pearson([0, 1, 2], [1, 1, 1]) is None
    assert np.isfinite(pearson([0, 1, 2, 3], [1, 0, 3, 2]))
