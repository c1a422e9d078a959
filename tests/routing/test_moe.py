"""Mixture of experts: the balancing loss is its formula, capacity drops exactly the overflow, training learns,
the corpora carry their kinds, and ``dynlab routing moe --json`` prints the contract's keys."""

from __future__ import annotations

import json
import math

import pytest
import torch

from lab.cli import main
from lab.core.errors import LabInputError
from lab.routing.corpus import SYN_KINDS, SYN_VOCAB, load_corpus, stdlib_text, synthetic_batch
from lab.routing.moe import (
    MoEConfig,
    MoELayer,
    capacity,
    dispatch_mask,
    load_balancing_loss,
    router_z_loss,
    run_moe,
)


def test_load_balancing_loss_equals_its_formula_on_a_hand_made_case():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.5, 0.25, 0.25]])
    index = torch.tensor([[0], [0], [1], [0]])
    f = [3 / 4, 1 / 4, 0.0]
    p = [(0.7 + 0.6 + 0.1 + 0.5) / 4, (0.2 + 0.3 + 0.8 + 0.25) / 4, (0.1 + 0.1 + 0.1 + 0.25) / 4]
    expected = 3 * sum(fi * pi for fi, pi in zip(f, p, strict=True))
    assert float(load_balancing_loss(probs, index, 3)) == pytest.approx(expected)
    uniform = torch.full((6, 3), 1 / 3)
    assert float(load_balancing_loss(uniform, torch.tensor([[0], [1], [2], [0], [1], [2]]), 3)) == pytest.approx(1.0)
    # top-2: f counts every assignment, so it still sums to one
    two = torch.tensor([[0, 1], [0, 2], [1, 0], [0, 1]])
    f2 = [4 / 8, 3 / 8, 1 / 8]
    assert float(load_balancing_loss(probs, two, 3)) == pytest.approx(3 * sum(a * b for a, b in zip(f2, p, strict=True)))


def test_router_z_loss_is_the_mean_squared_logsumexp():
    logits = torch.tensor([[0.0, 0.0], [1.0, 3.0]])
    expected = (math.log(2) ** 2 + math.log(math.e + math.e ** 3) ** 2) / 2
    assert float(router_z_loss(logits)) == pytest.approx(expected)


def test_capacity_dropping_drops_exactly_the_overflow():
    assert capacity(8, 2, 1, 1.0) == 4 and capacity(8, 2, 2, 1.25) == 10 and capacity(3, 4, 1, 0.1) == 1
    index = torch.tensor([[0], [0], [1], [0], [0], [0], [1], [0]])  # six tokens want expert 0, capacity 4
    keep = dispatch_mask(index, 2, 4)[:, 0]
    assert keep.tolist() == [True, True, True, True, True, False, True, False]  # expert 0's 5th and 6th: tokens 5, 7
    # top-2: first choices have priority over second choices
    two = torch.tensor([[0, 1], [1, 0], [0, 1]])
    assert dispatch_mask(two, 2, 2).tolist() == [[True, True], [True, False], [True, False]]


def test_dropped_tokens_skip_the_ffn_in_the_layer():
    torch.manual_seed(0)
    layer = MoELayer(8, experts=2, top_k=1, capacity_factor=1.0)
    with torch.no_grad():
        layer.router.weight.zero_()
        layer.router.weight[0, 0] = 10.0  # every token with x[:, 0] > 0 wants expert 0
    x = torch.randn(8, 8)
    x[:, 0] = torch.tensor([1.0, 1, -1, 1, 1, 1, -1, 1])
    y, r = layer(x)
    dropped = ~r.keep[:, 0]
    assert dropped.tolist() == [False, False, False, False, False, True, False, True]
    assert torch.all(y[dropped] == 0) and torch.all(y[~dropped].abs().sum(-1) > 0)


def test_a_few_training_steps_reduce_the_loss():
    result = run_moe(MoEConfig(steps=60, d_model=32, context=24, batch_size=8))
    loss = result.curves["loss"]
    assert sum(loss[-10:]) / 10 < sum(loss[:10]) / 10 - 0.2
    m = result.metrics()
    assert m["steps_done"] == 60 and 0 <= m["drop_rate"] < 1 and 0 < m["routing_entropy"] <= math.log(4) + 1e-9
    assert sum(result.expert_load) == pytest.approx(1.0)
    assert len(result.passage.tokens) == 24 and len(result.load_history) == 60


@pytest.mark.parametrize("steps", [0, 1, 2, 10])
def test_any_number_of_steps_trains(steps):
    result = run_moe(MoEConfig(steps=steps, d_model=16, context=12, batch_size=2, experts=2))
    assert result.steps_done == steps and math.isfinite(result.metrics()["val_loss"])


def test_the_synthetic_task_is_what_its_docstring_says():
    tokens, kinds = synthetic_batch(3, 30, torch.Generator().manual_seed(0))
    for row, kind in zip(tokens.tolist(), kinds.tolist(), strict=True):
        seg = row[:12]
        assert seg[5:9] == seg[:4] and seg[10] == sum(seg[:4]) % 10
        assert "".join(SYN_VOCAB[t] for t in (seg[4], seg[9], seg[11])) == "|=;"
        assert [SYN_KINDS[k] for k in kind[:12]] == ["random"] * 4 + ["marker"] + ["easy"] * 4 + \
            ["marker", "hard", "marker"]


def test_the_stdlib_corpus_is_built_here_from_docstrings():
    text = stdlib_text()
    assert len(text) > 50_000 and "Return" in text
    corpus = load_corpus("stdlib")
    tokens, kinds = corpus.batch(2, 40, torch.Generator().manual_seed(0), split="val")
    assert tokens.shape == kinds.shape == (2, 40)
    assert set(kinds.reshape(-1).tolist()) <= set(range(len(corpus.kinds)))


@pytest.mark.parametrize("values,words", [({"top_k": 3, "experts": 4}, "top k"), ({"top_k": 2, "experts": 1}, "top k"),
                                          ({"capacity_factor": 0}, "capacity"), ({"corpus": "wiki"}, "corpus")])
def test_bad_configs_are_one_sentence(values, words):
    with pytest.raises(LabInputError, match=words):
        MoEConfig(**values)


def test_cli_prints_the_keys(capsys):
    assert main(["routing", "moe", "--steps", "4", "--d-model", "16", "--context", "12", "--batch-size", "4",
                 "--experts", "3", "--top-k", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"expert_load", "load_cv", "drop_rate", "routing_entropy", "val_loss", "run_id"} <= set(doc)
    assert len(doc["expert_load"]) == 3
    assert main(["routing", "moe", "--top-k", "2", "--experts", "1", "--json"]) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "top k" in out.err and out.out == ""
