"""The lab's Llama: random models, a checkpoint round trip, and one-sentence errors for bad sources."""

from __future__ import annotations

import json

import pytest
import torch

from lab.core.errors import LabInputError
from lab.kvcache.model import checkpoint_payload, load_model, random_model
from lab.kvcache.tasks import make_batches


def test_random_model_is_an_eager_llama_over_the_lab_vocabulary():
    loaded = random_model(seed=1, layers=2, hidden=32)
    model = loaded.model
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert model.config._attn_implementation == "eager" and loaded.layers == 2 and loaded.heads == 4
    batch = make_batches("coreference", 3, 0, loaded.codec)[0]
    with torch.no_grad():
        logits = model(torch.cat([batch.context, batch.question], 1)).logits
    assert logits.shape == (3, batch.context.shape[1] + batch.question.shape[1], len(loaded.codec))
    again = random_model(seed=1, layers=2, hidden=32).model
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))


def test_a_saved_checkpoint_loads_to_the_same_outputs_with_its_card(tmp_path):
    loaded = random_model(seed=2, layers=1, hidden=16)
    path = tmp_path / "kv.pt"
    torch.save(checkpoint_payload(loaded.model, loaded.codec), path)
    (tmp_path / "kv.json").write_text(json.dumps({"architecture": {"model": "llama"}, "metrics": {"a": 1}}))
    again = load_model(str(path))
    assert again.card["metrics"] == {"a": 1} and again.codec.words == loaded.codec.words
    ids = torch.randint(0, len(loaded.codec), (2, 9))
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids).logits, again.model(ids).logits, atol=1e-6)
    assert load_model(str(path)) is again  # cached while the file is unchanged


def _one_line(source):
    with pytest.raises(LabInputError) as info:
        load_model(str(source))
    message = str(info.value)
    assert "\n" not in message and len(message) < 200
    return message


def test_bad_sources_fail_with_one_sentence(tmp_path):
    assert "no such" in _one_line(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not torch at all")
    assert "could not be read" in _one_line(tmp_path / "garbage.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    assert "not a KV-cache lab checkpoint" in _one_line(tmp_path / "other.pt")
    vit = tmp_path / "vit"
    vit.mkdir()
    (vit / "config.json").write_text(json.dumps({"model_type": "vit"}))
    assert "not a causal language model" in _one_line(vit)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "config.json").write_text("{ this is not json")
    assert "config" in _one_line(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line(empty)


def test_weights_that_do_not_fit_the_config_fail_cleanly(tmp_path):
    loaded = random_model(seed=0, layers=1, hidden=16)
    payload = checkpoint_payload(loaded.model, loaded.codec)
    payload["config"] = dict(payload["config"], hidden_size=32, intermediate_size=128)
    torch.save(payload, tmp_path / "wrong.pt")
    assert "do not fit" in _one_line(tmp_path / "wrong.pt")


def test_a_local_hugging_face_directory_loads_with_its_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    loaded = random_model(seed=3, layers=1, hidden=16)
    vocab = {w: i for i, w in enumerate(loaded.codec.words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", pad_token="<pad>").save_pretrained(tmp_path)
    loaded.model.save_pretrained(tmp_path)
    again = load_model(str(tmp_path))
    assert type(again.codec).__name__ == "HFCodec" and again.model.config._attn_implementation == "eager"
    ours = make_batches("multi_hop", 4, 0, loaded.codec)[0]
    theirs = make_batches("multi_hop", 4, 0, again.codec)[0]
    assert torch.equal(ours.context, theirs.context) and torch.equal(ours.answer, theirs.answer)
    assert torch.equal(ours.relevant, theirs.relevant)
