"""Attention rollout and the merge press: conservation, the no-compression case, the merge arithmetic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from kvpress import KnormPress

from lab.core.errors import LabInputError
from lab.kvcache.flow import MergePress, flow, rollout
from lab.kvcache.model import random_model
from lab.kvcache.tasks import make_batches


@pytest.fixture(scope="module")
def lm():
    return random_model(seed=0, layers=2, hidden=32)


@pytest.fixture(scope="module")
def batch(lm):
    return make_batches("coreference", 4, 0, lm.codec)[0]


def test_rollout_of_identity_layers_stays_on_the_answer():
    t = 5
    layers = torch.eye(t).expand(2, 3, t, t)
    out = rollout(layers)
    assert torch.allclose(out, torch.nn.functional.one_hot(torch.tensor([4, 4]), t).float())


def test_rollout_follows_attention_through_layers():
    # one layer, the answer (position 2) attends fully to position 0: half residual, half attention
    layer = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]])[None, None]
    assert rollout(layer)[0].tolist() == pytest.approx([0.5, 0.0, 0.5])


def test_merge_press_keeps_the_same_rows_and_averages_values_into_the_most_similar_key():
    keys = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [-1.0, 0.0]]]])  # (1, 1, 4, 2), norms ~1
    keys[..., 1, :] *= 3  # the largest norm is evicted first by Knorm (it keeps small norms)
    values = torch.tensor([[[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]]]])
    press = MergePress(KnormPress(compression_ratio=0.5))
    module = SimpleNamespace(layer_idx=0, head_dim=2)
    new_k, new_v = press.compress(module, None, keys, values, None, {})
    plain_k, _ = KnormPress(compression_ratio=0.5).compress(module, None, keys, values, None, {})
    assert torch.equal(new_k, plain_k)  # the same rows as the wrapped press
    index, host, weight, total = press.merges[0]
    kept = index[0, 0].tolist()
    evicted = [i for i in range(4) if i not in kept]
    for i in evicted:  # each evicted value went to its most similar kept key, weighted by the cosine
        j = int(host[0, 0, i])
        cos = torch.nn.functional.cosine_similarity(keys[0, 0, i], keys[0, 0, kept[j]], dim=0)
        assert weight[0, 0, i].item() == pytest.approx(max(cos.item(), 0.0), abs=1e-6)
    for j, pos in enumerate(kept):
        guests = [i for i in evicted if int(host[0, 0, i]) == j]
        w = [weight[0, 0, i].item() for i in guests]
        expected = (values[0, 0, pos, 0] + sum(wi * values[0, 0, i, 0] for wi, i in zip(w, guests, strict=True))) \
            / (1 + sum(w))
        assert new_v[0, 0, j, 0].item() == pytest.approx(expected.item(), abs=1e-6)


def test_without_compression_the_three_variants_agree(lm, batch):
    result = flow(lm.model, batch, "snapkv", 0.0)
    s = result.summary()
    assert s["full"] == pytest.approx({k: v for k, v in s["merge"].items() if k != "host_share"})
    assert s["drop"]["kl_from_full"] == pytest.approx(0.0, abs=1e-6) and s["merge"]["host_share"] == 1.0
    assert s["full"]["flow_gone"] == 0.0


def test_compressed_flow_is_conserved_and_merging_moves_it_back_to_evicted_tokens(lm, batch):
    result = flow(lm.model, batch, "knorm", 0.8)
    for variant, r in result.rollout.items():
        assert torch.allclose(r.sum(-1), torch.ones(4), atol=1e-4), variant
        rows = result.layers[variant].sum(-1)  # every row of every layer's attention is a distribution
        assert torch.allclose(rows, torch.ones_like(rows), atol=1e-4), variant
    s = result.summary()
    assert 0 < s["merge"]["host_share"] < 1
    assert s["drop"]["kl_from_full"] > 0
    # the answer's last read: under merging, the attention on a host is shared with the evicted tokens it holds
    lc = batch.context.shape[1]
    last_drop = result.layers["drop"][:, -1, -1, :lc]
    last_merge = result.layers["merge"][:, -1, -1, :lc]
    assert (last_merge[result.gone.bool()] > 0).any() and (last_drop[result.gone.bool()] == 0).all()


def test_the_merge_variant_needs_a_scorer_press(lm, batch):
    with pytest.raises(LabInputError, match="scorer press"):
        flow(lm.model, batch, "adakv_snapkv", 0.5)


def test_the_flow_table_and_labels_name_what_each_variant_wrote(lm):
    from lab.kvcache import views

    batch = make_batches("multi_hop", 1, 0, lm.codec)[0]  # multi-hop writes its middle first: W = 1
    result = flow(lm.model, batch, "snapkv", 0.5)
    names = {"full": "uncompressed", "drop": "evicted dropped", "merge": "evicted merged"}
    rows = views.flow_rows(result, batch, lm.codec, names)
    assert [r["variant"] for r in rows] == list(names.values())
    wrote = {v: lm.codec.decode(w[0].tolist()) for v, w in result.written.items()}
    assert [r["wrote"] for r in rows] == [" ".join(wrote[v]) for v in names]
    assert rows[0]["KL from uncompressed"] == pytest.approx(0.0, abs=1e-6)
    assert rows[0]["p(answer)"] == pytest.approx(float(result.probs["full"][0, int(batch.answer[0])]))
    words = views.flow_words(result, batch, lm.codec)
    assert words[:-1] == list(batch.words[0]) and len(words) == len(batch.words[0]) + batch.steps
    assert words[-1].endswith(" (written)") and words[-1].split(" (written)")[0].split(" | ")[0] == wrote["full"][0]
    coref = make_batches("coreference", 1, 0, lm.codec)[0]  # answers at once: no "wrote" column, no extra label
    result = flow(lm.model, coref, "snapkv", 0.5)
    assert "wrote" not in views.flow_rows(result, coref, lm.codec, names)[0]
    assert views.flow_words(result, coref, lm.codec) == list(coref.words[0])
