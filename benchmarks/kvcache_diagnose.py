"""What the KV lab's model does on its two hardest tasks (disambiguation, unsolved; multi-hop, per size).

    .venv/bin/python benchmarks/kvcache_diagnose.py          # the shipped checkpoint, about 20 s

- disambiguation: for 200 samples per size, is the answer right, or the value of a record that shares only
  the first name, only the last name, or neither? (A model matching one name alone makes only one kind.)
- multi-hop: accuracy per size (after the middle the model writes, :mod:`lab.kvcache.tasks`), split by
  whether the chain's second link is written before or after its first (a model that chained while reading
  the context could only solve the first case).

- why disambiguation failed, and what fixed it -- three mechanistic checks:
  - ``one_name_decides``: records that all share the last name (only the first name, the token *before* the
    question's last one, decides), or all share the first name (only the last name decides); chance 1/4;
  - ``copy_by_length``: the copy warm-up (random tokens repeated once) at lengths other than the one it was
    trained at -- only induction heads (a previous-token head, then a look-up on its output) copy at any length;
  - ``previous_token_attention``: per layer, the largest mean attention any head pays to the previous token,
    at the question's last token and at the records' last names (both need the first name for a two-name
    match).

Measured (session of 2026-12-02) on the step-8000 model trained with a fixed copy length of 24: first name
decides 0.28, last name decides 1.00; copy 1.00 at length 24 and <= 0.01 at 12, 20, 28, 36; previous-token
attention <= 0.04 in every layer. The model never formed a previous-token head, so it could not bring the
first name to the position that looks the record up. On the shipped step-12000 model (trained from step
8000 with the copy length drawn in 8-32): 1.00 / 1.00; copy >= 0.98 at every length; a previous-token head
in layer 3 of 4 (0.94 at the question's last token, 0.97 at the records' last names); disambiguation 1.00.

- ``question_aware_first_name``: question-aware compression also compresses the question up to its last
  token, so a press may evict the question's own first name (the token before the last). Per press at ratio
  0.1 on disambiguation: the share of samples in which no head of a layer keeps it, and the accuracy.
  Measured on the step-12000 model (200 samples, the sweep's seed-0 prompts): H2O (observed attention)
  evicts it from every head of layer 4 in 0.945 of the samples and of layer 3 (the previous-token head's) in
  0.23, accuracy 0.535; SnapKV keeps it everywhere, accuracy 0.985 -- accumulated attention scores recent
  tokens low, since few queries have seen them yet.

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


def one_name_decides(lm, size: int = 4) -> dict:
    """Accuracy when all records share the last name (the first name decides) or the first (the last decides)."""
    from lab.kvcache.tasks import Query, Sample, _pick, _statements
    from lab.kvcache.vocab import NAMES, NUMBERS, SURNAMES

    out = {}
    for label, n_first, n_last in (("first_name_decides", size, 1), ("last_name_decides", 1, size)):
        rng, right = np.random.default_rng([5, size]), 0
        for _ in range(SAMPLES):
            firsts, lasts = _pick(rng, NAMES, n_first), _pick(rng, SURNAMES, n_last)
            people = [(f, s) for f in firsts for s in lasts]
            values = _pick(rng, NUMBERS, size)
            words, _ = _statements([[v, "for", f, s, "."] for (f, s), v in zip(people, values, strict=True)])
            i = int(rng.integers(size))
            sample = Sample(words, [Query(["score", "of", *people[i]], values[i], [])], values)
            right += predict(lm, sample) == values[i]
        out[label] = right / SAMPLES
    return out


@torch.no_grad()
def copy_by_length(lm, lengths=(12, 20, 24, 28, 36)) -> dict:
    """Accuracy of the second copy of ``length`` random tokens (``<bos> s s``), every token after the first."""
    vocab, out = len(lm.codec), {}
    for length in lengths:
        seq = torch.from_numpy(np.random.default_rng([6, length]).integers(2, vocab, (64, length)))
        ids = torch.cat([torch.ones(64, 1, dtype=torch.long), seq, seq], 1)
        pred = lm.model(input_ids=ids).logits[:, length + 1:-1].argmax(-1)
        out[str(length)] = float((pred == seq[:, 1:]).float().mean())
    return out


@torch.no_grad()
def previous_token_attention(lm, size: int = 24, num: int = 20) -> dict:
    """Per layer: the largest (over heads) mean attention to the previous token, at the question's last token
    and at the records' last names (records ``value for first last .`` start at 1, five tokens each)."""
    rng = np.random.default_rng([7, size])
    ids = []
    for _ in range(num):
        enc = encode_sample(generate("disambiguation", rng, size), lm.codec)
        ids.append(enc["context"] + enc["question"])
    ids = torch.tensor(ids)
    attentions = lm.model(input_ids=ids, output_attentions=True).attentions  # per layer (B, H, L, L)
    last, records = ids.shape[1] - 1, [1 + 5 * i + 3 for i in range(size)]
    out = {"question_last_token": [], "record_last_name": []}
    for att in attentions:
        out["question_last_token"].append(float(att[:, :, last, last - 1].mean(0).max()))
        out["record_last_name"].append(float(torch.stack([att[:, :, r, r - 1] for r in records]).mean((0, 1)).max()))
    return out


@torch.no_grad()
def question_aware_first_name(lm, presses=("observed_attention", "snapkv"), ratio: float = 0.1) -> dict:
    """Question-aware compression of disambiguation at ``ratio``: per press, per layer, the share of samples in
    which no head keeps the question's first name (the last compressed position), and the accuracy."""
    from lab.kvcache.compress import compress_batch
    from lab.kvcache.tasks import make_batches

    batch = make_batches("disambiguation", SAMPLES, 0, lm.codec, SAMPLES)[0]
    out = {}
    for press in presses:
        res = compress_batch(lm.model, batch.context, batch.question, press, ratio, question_aware=True)
        first_name = res.keep[..., -1]  # (B, layers, kv heads): compressed positions end at the question's T - 2
        out[press] = {"evicted_by_layer": [float((first_name[:, layer].sum(-1) == 0).float().mean())
                                           for layer in range(first_name.shape[1])],
                      "accuracy": float((res.logits.argmax(-1) == batch.answer).float().mean()), "ratio": ratio}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lm = load_model(args.model)
    doc = {"model": args.model, "samples_per_size": SAMPLES, "disambiguation": disambiguation(lm),
           "multi_hop": multi_hop(lm), "one_name_decides": one_name_decides(lm),
           "copy_by_length": copy_by_length(lm), "previous_token_attention": previous_token_attention(lm),
           "question_aware_first_name": question_aware_first_name(lm)}
    for task in ("disambiguation", "multi_hop"):
        for size, row in doc[task].items():
            print(task, size, {k: (round(v, 3) if v is not None else None) for k, v in row.items()}, flush=True)
    for key in ("one_name_decides", "copy_by_length", "previous_token_attention", "question_aware_first_name"):
        print(key, doc[key], flush=True)
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
