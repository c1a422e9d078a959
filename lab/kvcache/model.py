"""The lab's causal LM: a ``transformers`` Llama built from a config (never downloaded), or a local HF model.

``load_model("shipped")`` reads ``assets/checkpoints/kvcache/kv_llama.pt`` (written by
``scripts/train_kvcache.py``); any ``.pt`` written by ``dynlab kv train`` loads the same way; a local
Hugging Face directory loads with ``AutoModelForCausalLM.from_pretrained(dir, local_files_only=True)`` and its
tokenizer. Models run in eval mode with eager attention (kvpress's ObservedAttention press and the
attention maps of the page need the attention weights).

A lab checkpoint ``.pt`` is a plain dict loadable with ``torch.load(weights_only=True)``:
``{"state_dict": {name: tensor}, "config": LlamaConfig.to_dict() subset, "vocab": WordCodec.to_dict()}``;
its JSON card (same name, ``.json``) holds the measured metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core.errors import LabInputError
from lab.kvcache.vocab import Codec, HFCodec, WordCodec, codec_from_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "assets" / "checkpoints" / "kvcache" / "kv_llama.pt"
ARCH_KEYS = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "max_position_embeddings", "rope_theta", "tie_word_embeddings", "rms_norm_eps")


@dataclass
class LoadedModel:
    """A causal LM ready for the lab (eval mode, Llama-style layout, eager attention) and its codec."""

    model: Any  # transformers.PreTrainedModel
    codec: Codec
    name: str  # "shipped", a checkpoint path, a HF directory, or "random"
    card: dict = field(default_factory=dict)  # measured metrics (uncompressed accuracy per task) when known

    @property
    def layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def heads(self) -> int:
        return int(self.model.config.num_attention_heads)


def llama_config(vocab_size: int, layers: int = 4, heads: int = 4, hidden: int = 128,
                 intermediate: int | None = None, max_positions: int = 512, **extra: Any):
    """A small ``LlamaConfig`` (tied embeddings, eager attention, one KV head per query head)."""
    from transformers import LlamaConfig

    if hidden % heads:
        raise LabInputError(f"hidden size {hidden} is not a multiple of {heads} heads; choose a multiple.")
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate or 4 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max_positions, tie_word_embeddings=True, bos_token_id=1,
                         pad_token_id=0, eos_token_id=None, **extra)
    config._attn_implementation = "eager"
    return config


def build_model(config: Any, attn: str = "eager") -> Any:
    """A freshly initialised ``LlamaForCausalLM`` (weights from torch's current RNG state)."""
    from transformers import LlamaForCausalLM

    config._attn_implementation = attn
    model = LlamaForCausalLM(config)
    model.config._attn_implementation = attn
    return model


def config_dict(config: Any) -> dict[str, Any]:
    """The architecture fields saved with a checkpoint (JSON- and weights_only-safe)."""
    out = {k: getattr(config, k) for k in ARCH_KEYS if k != "rope_theta"}
    rope = getattr(config, "rope_parameters", None) or {}
    out["rope_theta"] = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    return out


def config_from_dict(data: dict[str, Any]) -> Any:
    try:
        return llama_config(int(data["vocab_size"]), int(data["num_hidden_layers"]), int(data["num_attention_heads"]),
                            int(data["hidden_size"]), int(data["intermediate_size"]),
                            int(data["max_position_embeddings"]), rms_norm_eps=float(data.get("rms_norm_eps", 1e-6)),
                            rope_parameters={"rope_type": "default", "rope_theta": float(data.get("rope_theta", 1e4))})
    except (KeyError, TypeError, ValueError):
        raise LabInputError("the checkpoint's model config is incomplete; re-save it with dynlab kv train.") from None


def random_model(seed: int = 0, layers: int = 2, hidden: int = 64, heads: int = 4) -> LoadedModel:
    """A tiny untrained model over the lab's vocabulary (for tests and for the page before any training)."""
    import torch

    codec = WordCodec()
    torch.manual_seed(seed)
    model = build_model(llama_config(len(codec), layers=layers, heads=heads, hidden=hidden))
    return LoadedModel(model.eval(), codec, "random", {})


def checkpoint_payload(model: Any, codec: WordCodec) -> dict[str, Any]:
    """What a lab ``.pt`` holds (see the module docstring)."""
    return {"state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            "config": config_dict(model.config), "vocab": codec.to_dict()}


def model_from_payload(payload: Any, what: str) -> tuple[Any, WordCodec]:
    """Rebuild the model and codec of a lab checkpoint dict; one-sentence errors."""
    if not isinstance(payload, dict) or not {"state_dict", "config", "vocab"} <= set(payload):
        raise LabInputError(f"{what} is not a KV-cache lab checkpoint (it needs state_dict, config and vocab); "
                            "train one with dynlab kv train.")
    codec = codec_from_dict(payload["vocab"])
    model = build_model(config_from_dict(payload["config"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        raise LabInputError(f"{what}'s weights do not fit its config ({str(err).splitlines()[0][:80]}); "
                            "re-save it with dynlab kv train.") from None
    if len(codec) != model.config.vocab_size:
        raise LabInputError(f"{what}'s vocabulary has {len(codec)} words but the model {model.config.vocab_size}.")
    return model.eval(), codec


_CACHE: dict[tuple[str, float, str], LoadedModel] = {}


def load_model(source: str = "shipped", device: str = "cpu") -> LoadedModel:
    """Load ``"shipped"``, a lab ``.pt`` checkpoint or a local HF causal-LM directory (cached per file time).

    Missing, unreadable or not a causal LM: :class:`LabInputError` with one sentence.
    """
    path = SHIPPED if source == "shipped" else Path(str(source)).expanduser()
    if not path.exists():
        hint = " (train it with scripts/train_kvcache.py)" if source == "shipped" else ""
        raise LabInputError(f"{source}: no such model file or directory{hint}; check the path.")
    files = [path] + (sorted(path.glob("*")) if path.is_dir() else [])
    mtime = max(p.stat().st_mtime for p in files)
    key = (str(path.resolve()), mtime, device)
    if key not in _CACHE:
        loaded = _load_dir(path) if path.is_dir() else _load_file(path)
        loaded.name = "shipped" if source == "shipped" else str(source)
        loaded.model.to(device)
        _CACHE[key] = loaded
    return _CACHE[key]


def _load_file(path: Path) -> LoadedModel:
    import torch

    from lab.core.checkpoints import card_path
    from lab.core.inputs import read_json

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise LabInputError(f"{path.name} could not be read as torch weights ({type(err).__name__}); "
                            "give a .pt written by dynlab kv train or a Hugging Face model directory.") from None
    model, codec = model_from_payload(payload, path.name)
    card = read_json(card_path(path)) if card_path(path).exists() else {}
    return LoadedModel(model, codec, str(path), card if isinstance(card, dict) else {})


def _load_dir(path: Path) -> LoadedModel:
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise LabInputError(f"{path.name} is not a Hugging Face model directory with a readable config.json "
                            f"({type(err).__name__}).") from None
    if type(config) not in transformers.MODEL_FOR_CAUSAL_LM_MAPPING:
        raise LabInputError(f"{path.name} holds a {type(config).__name__}, not a causal language model; "
                            "give a directory of a causal LM (e.g. Llama, Qwen, Mistral).")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True,
                                                                  attn_implementation="eager")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise LabInputError(f"{path.name}: the model or its tokenizer could not be loaded "
                            f"({type(err).__name__}); check that its weights and tokenizer files are there.") from None
    return LoadedModel(model.eval(), HFCodec(tokenizer), str(path), {})
