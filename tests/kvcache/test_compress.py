"""Presses on real (tiny) Llamas: what they keep, how much, and that the replay equals kvpress's own hooks."""

from __future__ import annotations

import pytest
import torch

from lab.core.errors import LabInputError
from lab.kvcache.compress import compress_batch, compress_batch_hooked, compress_prefill, prefill
from lab.kvcache.keep import kept_indices
from lab.kvcache.model import SHIPPED, load_model, random_model
from lab.kvcache.presses import PRESS_NAMES, PRESSES, make_press
from lab.kvcache.probe import Probe
from lab.kvcache.tasks import make_batches

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def lm():
    return random_model(seed=0, layers=2, hidden=32)


@pytest.fixture(scope="module")
def batch(lm):
    return make_batches("multi_hop", 6, 0, lm.codec)[0]


@pytest.fixture(scope="module")
def gqa():
    """A Llama with 4 query heads sharing 2 key/value heads (as most HF models have)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from lab.kvcache.vocab import WordCodec

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(WordCodec()), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    config._attn_implementation = "eager"
    return LlamaForCausalLM(config).eval()


def _n_kept(s, ratio):
    return max(1, int(s * (1 - ratio)))


@pytest.mark.parametrize("question_aware", [False, True])
def test_at_ratio_zero_every_press_keeps_everything(lm, batch, question_aware):
    pre = prefill(lm.model, batch.context, batch.question, question_aware=question_aware, attentions=True)
    base = compress_prefill(lm.model, pre, None, 0.0)
    for name in PRESS_NAMES:
        out = compress_prefill(lm.model, pre, name, 0.0)
        assert out.keep.all(), name
        assert torch.allclose(out.logits, base.logits, atol=1e-5), name
        assert torch.equal(out.logits.argmax(-1), base.logits.argmax(-1)), name  # same accuracy


@pytest.mark.parametrize("ratio", [0.3, 0.75, 0.95])
def test_keep_masks_have_the_size_the_ratio_implies(lm, batch, ratio):
    pre = prefill(lm.model, batch.context, batch.question, attentions=True)
    s = batch.context.shape[1]
    n = _n_kept(s, ratio)
    for name, spec in PRESSES.items():
        keep = compress_prefill(lm.model, pre, name, ratio, attention=False).keep  # (B, L, Hkv, S)
        assert keep.shape == (6, 2, 4, s)
        if spec.scorer:  # the same number in every head
            assert (keep.sum(-1) == n).all(), name
        else:  # AdaKV: the layer's budget shared over its heads, at least 20 % of it in each
            assert (keep.sum(dim=(-1, -2)) == 4 * n).all(), name
            assert (keep.sum(-1) >= int(0.2 * n)).all(), name


@pytest.mark.parametrize("question_aware", [False, True])
def test_the_replay_keeps_and_predicts_what_kvpress_hooks_do(lm, gqa, batch, question_aware):
    for model in (lm.model, gqa):
        for name in PRESS_NAMES:
            fast = compress_batch(model, batch.context, batch.question, name, 0.6, question_aware=question_aware)
            slow = compress_batch_hooked(model, batch.context, batch.question, name, 0.6,
                                         question_aware=question_aware)
            assert torch.equal(fast.keep, slow.keep), name
            assert torch.allclose(fast.logits, slow.logits, atol=1e-4), name
            assert torch.allclose(fast.attention, slow.attention, atol=1e-5), name


def test_question_aware_compresses_the_question_too(lm, batch):
    lc, lq = batch.context.shape[1], batch.question.shape[1]
    out = compress_batch(lm.model, batch.context, batch.question, "snapkv", 0.5, question_aware=True)
    assert out.keep.shape[-1] == lc + lq - 1 and out.keep_context.shape[-1] == lc
    assert out.attention.shape == (6, 2, 4, lc + lq)


def test_answer_attention_lands_only_on_kept_positions(gqa, batch):
    for name in ("knorm", "adakv_snapkv"):
        out = compress_batch(gqa, batch.context, batch.question, name, 0.8)
        att = out.attention  # (B, L, H, T)
        assert torch.allclose(att.sum(-1), torch.ones(att.shape[:3]), atol=1e-4)
        evicted = ~out.keep.repeat_interleave(2, dim=2)  # query head -> its kv head's keep mask
        assert att[..., : out.keep.shape[-1]][evicted].abs().max() < 1e-6, name


def test_kept_indices_match_rows_back_and_refuse_strangers():
    before = torch.randn(2, 3, 10, 8)
    index = torch.stack([torch.randperm(10)[:4] for _ in range(6)]).view(2, 3, 4)
    after = before.gather(2, index[..., None].expand(2, 3, 4, 8))
    assert torch.equal(kept_indices(before, after), index)
    with pytest.raises(RuntimeError):
        kept_indices(before, after + 1.0)


def test_unknown_press_is_one_sentence():
    with pytest.raises(LabInputError, match="unknown press 'h3o'"):
        make_press("h3o", 0.5)


def test_the_probe_follows_a_ratio_on_one_prompt(lm, batch):
    probe = Probe(lm.model, batch, index=2, codec=lm.codec)
    full, half = probe.view("tova", 0.0), probe.view("tova", 0.5)
    lc = batch.context.shape[1]
    assert full.heads_keeping.shape == (2, lc) and (full.heads_keeping == 4).all()
    assert (half.keep.sum(-1) == _n_kept(lc, 0.5)).all()
    assert half.heads_keeping.max() <= 4 and half.heads_keeping.sum() == 2 * 4 * _n_kept(lc, 0.5)
    assert full.predicted_before == half.predicted_before and full.answer == lm.codec.decode([int(batch.answer[2])])[0]
    assert len(full.words) == lc + batch.question.shape[1] and full.relevant.sum() == batch.relevant[2].sum()
    # over the prompt's columns; the rest of the answer's attention is on the middle it wrote (multi-hop)
    on_prompt = torch.tensor(half.attention_after.sum(-1))
    assert batch.steps == 1 and ((on_prompt > 0) & (on_prompt <= 1 + 1e-4)).all()
    assert len(full.written) == len(full.written_before) == len(half.written_after) == 1


def test_written_tokens_are_read_against_the_cache_as_a_plain_forward_would(lm, batch):
    from lab.kvcache.train import write_and_answer

    out = compress_batch(lm.model, batch.context, batch.question, None, steps=batch.steps)
    written, logits = write_and_answer(lm.model, torch.cat([batch.context, batch.question], 1), batch.steps)
    assert out.written.shape == (len(batch), 1) and torch.equal(out.written, written)
    assert torch.allclose(out.logits, logits, atol=1e-4)
    assert out.attention.shape[-1] == batch.context.shape[1] + batch.question.shape[1]
    # the same through kvpress's own hook, under a press (AdaKV: its per-head masks hold for every read)
    for press in ("snapkv", "adakv_snapkv"):
        a = compress_batch(lm.model, batch.context, batch.question, press, 0.5, steps=batch.steps)
        b = compress_batch_hooked(lm.model, batch.context, batch.question, press, 0.5, steps=batch.steps)
        assert torch.equal(a.written, b.written) and torch.allclose(a.logits, b.logits, atol=1e-4), press
    from lab.kvcache.compress import apply_press, make, read_answer, write_tokens

    pre = prefill(lm.model, batch.context, batch.question, steps=batch.steps)
    keys, values, _, index = apply_press(lm.model, pre, make("adakv_snapkv", 0.5)[0])
    _, read = write_tokens(lm.model, pre, keys, values, index)
    masked = [layer.self_attn.masked_key_indices is not None for layer in lm.model.model.layers]
    read_answer(lm.model, read, keys, values, index)
    assert all(masked) and all(layer.self_attn.masked_key_indices is None for layer in lm.model.model.layers)


def test_random_eviction_at_095_hurts_the_shipped_model():
    assert SHIPPED.exists()
    loaded = load_model("shipped")
    batch = make_batches("multi_entity", 64, 0, loaded.codec)[0]
    pre = prefill(loaded.model, batch.context, batch.question)
    acc = {r: (compress_prefill(loaded.model, pre, "random", r, attention=False).logits.argmax(-1) == batch.answer)
           .float().mean().item() for r in (0.0, 0.95)}
    assert acc[0.95] < acc[0.0]
