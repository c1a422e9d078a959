"""Why Knorm collapses on the lab's model: where the answer-relevant tokens' keys sit among all key norms.

    .venv/bin/python benchmarks/kvcache_knorm.py            # the shipped checkpoint, about half a minute

Knorm (kvpress ``KnormPress``) keeps, per head, the keys with the *smallest* L2 norm. This measures, on 200
held-out samples of each task the model solves, per layer (keys after RoPE, as the press sees them):

- ``relevant_percentile``: the mean percentile of the answer-relevant tokens' key norms within their head
  and sample (0.5 = like any token; 1 = the largest, evicted first);
- ``relevant_norm_ratio``: their mean key norm over the mean of the other context tokens';
- ``bos_percentile``: the same percentile for ``<bos>`` (an attention sink in many models);

and Knorm's accuracy at a few ratios with and without ``<bos>`` forced kept, to tell the two apart.
Writes ``benchmarks/results/kvcache_knorm.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab.core.files import atomic_write_json  # noqa: E402
from lab.kvcache.compress import compress_batch  # noqa: E402
from lab.kvcache.model import load_model  # noqa: E402
from lab.kvcache.tasks import make_batches  # noqa: E402
from lab.kvcache.train import EVAL_SEED  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kvcache_knorm.json"
RATIOS = (0.05, 0.1, 0.25, 0.5)


def norm_percentiles(model, batch) -> list[dict]:
    """Per layer: where the relevant tokens' and <bos>'s key norms rank among the context's, per head."""
    with torch.no_grad():
        cache = model(input_ids=batch.context, use_cache=True).past_key_values
    relevant = batch.relevant  # (B, Lc) bool
    rows = []
    for layer in cache.layers:
        norm = layer.keys.norm(dim=-1)  # (B, H, Lc)
        rank = norm.argsort(-1).argsort(-1).float() / (norm.shape[-1] - 1)  # 0 smallest .. 1 largest, per head
        rel = relevant[:, None, :].expand_as(norm)
        others = ~rel
        others[..., 0] = False  # <bos> reported on its own
        rows.append({"relevant_percentile": float(rank[rel].mean()),
                     "relevant_norm_ratio": float(norm[rel].mean() / norm[others].mean()),
                     "bos_percentile": float(rank[..., 0].mean())})
    return rows


def knorm_keeping_bos():
    from kvpress import KnormPress

    class KnormKeepBos(KnormPress):
        """Knorm's scores with position 0 never evicted."""

        def score(self, module, hidden_states, keys, values, attentions, kwargs):
            scores = super().score(module, hidden_states, keys, values, attentions, kwargs)
            scores[..., 0] = float("inf")
            return scores

    return KnormPress(), KnormKeepBos()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--tasks", nargs="+", default=["multi_entity", "coreference"])
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    lm = load_model(args.model)
    doc: dict = {"model": args.model, "samples": 200, "eval_seed": EVAL_SEED, "ratios": list(RATIOS), "tasks": {}}
    for task in args.tasks:
        batch = make_batches(task, 200, EVAL_SEED, lm.codec, 200)[0]
        layers = norm_percentiles(lm.model, batch)
        accuracy = {}
        for name, press in zip(("knorm", "knorm_keep_bos"), knorm_keeping_bos(), strict=True):
            accuracy[name] = []
            for ratio in RATIOS:
                out = compress_batch(lm.model, batch.context, batch.question, press, ratio, attention=False,
                                     steps=batch.steps)
                accuracy[name].append(float((out.logits.argmax(-1) == batch.answer).float().mean()))
        doc["tasks"][task] = {"layers": layers, "accuracy": accuracy}
        print(task, [{k: round(v, 2) for k, v in row.items()} for row in layers], accuracy, flush=True)
    doc["seconds"] = time.perf_counter() - started
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out} in {doc['seconds']:.0f} s")


if __name__ == "__main__":
    main()
