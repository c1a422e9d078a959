"""What the KV lab's model does on its two hardest tasks (disambiguation, unsolved; multi-hop, per size).

    .venv/bin/python benchmarks/kvcache_diagnose.py          # the shipped checkpoint, about 20 s

- disambiguation: for 200 samples per size, is the answer right, or the value of a record that shares only
  the first name, only the last name, or neither? (A model matching one name alone makes only one kind.)
- multi-hop: accuracy per size (after the middle the model writes, :mod:`lab.kvcache.tasks`), split by
  whether the chain's second link is written before or after its first (a model that chained while reading
  the context could only solve the first case).

Writes ``benchmarks/results/kvcache_diagnose.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lab.core.files import atomic_write_json  # noqa: E402
from lab.kvcache.model import load_model  # noqa: E402
from lab.kvcache.tasks import encode_sample, generate  # noqa: E402
from lab.kvcache.train import write_and_answer  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kvcache_diagnose.json"
SAMPLES = 200


def predict(lm, sample) -> str:
    """The model's answer, after the tokens it writes first (multi-hop: the chain's middle)."""
    enc = encode_sample(sample, lm.codec)
    ids = torch.tensor([enc["context"] + enc["question"]])
    _, logits = write_and_answer(lm.model, ids, len(enc["written"]))
    return lm.codec.decode([int(logits[0].argmax())])[0]


def disambiguation(lm, sizes=(4, 8, 16, 24)) -> dict:
    out = {}
    for size in sizes:
        rng = np.random.default_rng([3, size])
        kinds = {"right": 0, "same_first_only": 0, "same_last_only": 0, "neither": 0, "not_a_value": 0}
        for _ in range(SAMPLES):
            sample = generate("disambiguation", rng, size)
            pred, q = predict(lm, sample), sample.queries[0]
            records = {sample.context[i]: sample.context[i + 2: i + 4] for i in range(1, len(sample.context), 5)}
            if pred == q.answer:
                kinds["right"] += 1
            elif pred not in records:
                kinds["not_a_value"] += 1
            elif records[pred][0] == q.question[-2]:
                kinds["same_first_only"] += 1
            elif records[pred][1] == q.question[-1]:
                kinds["same_last_only"] += 1
            else:
                kinds["neither"] += 1
        out[str(size)] = {k: v / SAMPLES for k, v in kinds.items()}
    return out


def multi_hop(lm, sizes=(3, 6, 10, 14)) -> dict:
    out = {}
    for size in sizes:
        rng = np.random.default_rng([4, size])
        hits = {"second_link_first": [], "first_link_first": []}
        for _ in range(SAMPLES):
            sample = generate("multi_hop", rng, size)
            q = sample.queries[0]
            first, _, second, _ = q.relevant  # the two links' start positions
            hits["second_link_first" if second < first else "first_link_first"].append(predict(lm, sample) == q.answer)
        out[str(size)] = {k: (float(np.mean(v)) if v else None) for k, v in hits.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lm = load_model(args.model)
    doc = {"model": args.model, "samples_per_size": SAMPLES, "disambiguation": disambiguation(lm),
           "multi_hop": multi_hop(lm)}
    for task in ("disambiguation", "multi_hop"):
        for size, row in doc[task].items():
            print(task, size, {k: (round(v, 3) if v is not None else None) for k, v in row.items()}, flush=True)
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
