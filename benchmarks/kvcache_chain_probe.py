"""Can the KV lab's model learn multi-hop when it may *write* the middle of the chain first?

    .venv/bin/python benchmarks/kvcache_chain_probe.py --minutes 5 --sizes 2 5          # from the shipped model
    .venv/bin/python benchmarks/kvcache_chain_probe.py --minutes 10 --fresh              # a new 4 x 64 model
    git show 644d351:assets/checkpoints/kvcache/kv_llama.pt > /tmp/kv5613.pt            # the model before it wrote
    .venv/bin/python benchmarks/kvcache_chain_probe.py --model /tmp/kv5613.pt --minutes 2.5 --sizes 2 14 --eval-size 14
    .venv/bin/python benchmarks/kvcache_chain_probe.py --model /tmp/kv5613.pt --minutes 1.5 --middles COLORS --ends NUMBERS

Measured (session of 2026-12-01/02, on the step-5613 model, 2 cores shared): with the task's number middles,
both look-ups at 1.00 within 500 steps and 0.99 held out at 14 chains (2.5 minutes); with colour middles
(the task's first form), the end at 1.00 but the middle at chance (0.23-0.26 held out at 4 chains, chance
0.25) after 1000 steps -- the model had never had to write a colour; with number middles and colour ends
the other way round (middle 1.00, end 0.63 and rising).

A diagnostic, not the lab's recipe: the multi-hop question ``end of a`` is answered in two tokens, the middle
(``red``, found from ``red from a .``) and then the end (``7``, from ``7 from red .``), each a one-hop look-up.
Training supervises both tokens (teacher forcing: the second is read after the *true* middle), so the two
columns ``hop1`` / ``hop2`` say which look-up the model learns; the held-out check decodes greedily (the end
is read after the model's *own* middle) at ``--eval-size`` chains. ``--sources`` / ``--middles`` / ``--ends``
swap the word groups (``lab.kvcache.vocab`` names: LETTERS, COLORS, NUMBERS, NAMES, OBJECTS, or a slice such
as ``NUMBERS[:20]``) to separate the
look-up from the words it runs on. Nothing is saved but ``benchmarks/results/kvcache_chain_probe.json``
(the curves of the last run).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from lab.core.files import atomic_write_json  # noqa: E402
from lab.kvcache import vocab  # noqa: E402
from lab.kvcache.model import build_model, llama_config, load_model  # noqa: E402
from lab.kvcache.tasks import multi_hop  # noqa: E402
from lab.kvcache.train import TrainConfig, answer_logits, copy_length, copy_loss  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kvcache_chain_probe.json"


def chain_batch(rng: np.random.Generator, codec, pools, size: int, batch: int) -> tuple[torch.Tensor, ...]:
    """``batch`` sequences ``ctx  end of S1 M1 N1  end of S2 M2 N2 ...`` (half the chains asked).

    Returns ids (B, L), the positions that predict (B, 2Q) (each question's last token, then its middle) and
    the targets there (B, 2Q): middle, end, middle, end, ...
    """
    rows, where, targets = [], [], []
    for _ in range(batch):
        sample = multi_hop(rng, size, pools)
        ids, pos, tgt = codec.encode(sample.context)[0], [], []
        for q, one_hop in list(zip(sample.queries, sample.practice, strict=True))[: max(1, size // 2)]:
            middle = one_hop.question[-1]  # the practice question asks "end of <middle>"
            ids += codec.encode(q.question, first=False)[0]
            pos.append(len(ids) - 1)
            tgt.append(codec.answer_id(middle))
            ids.append(tgt[-1])
            pos.append(len(ids) - 1)
            tgt.append(codec.answer_id(q.answer))
            ids.append(tgt[-1])
        rows.append(ids)
        where.append(pos)
        targets.append(tgt)
    return torch.tensor(rows), torch.tensor(where), torch.tensor(targets)


@torch.no_grad()
def held_out(model, codec, pools, size: int, num: int = 300) -> tuple[float, float]:
    """Greedy two-token answers on ``num`` fresh samples: (middle right, end right)."""
    rng = np.random.default_rng([77, size])
    samples = [multi_hop(rng, size, pools) for _ in range(num)]
    ids = torch.tensor([codec.encode(s.context)[0] + codec.encode(s.queries[0].question, first=False)[0]
                        for s in samples])
    middle = answer_logits(model, ids, torch.full((num, 1), ids.shape[1] - 1))[:, 0].argmax(-1)  # (num,)
    ids = torch.cat([ids, middle[:, None]], 1)
    end = answer_logits(model, ids, torch.full((num, 1), ids.shape[1] - 1))[:, 0].argmax(-1)
    true_middle = torch.tensor([codec.answer_id(s.practice[0].question[-1]) for s in samples])
    true_end = torch.tensor([codec.answer_id(s.queries[0].answer) for s in samples])
    return float((middle == true_middle).float().mean()), float((end == true_end).float().mean())


def word_group(spec: str) -> tuple[str, ...]:
    """``NUMBERS`` or a slice of a group, ``NUMBERS[20:40]`` (disjoint slices make middles and ends of one group)."""
    name, _, rest = spec.partition("[")
    words = getattr(vocab, name)
    if rest:
        lo, hi = (int(v) if v else None for v in rest.rstrip("]").split(":"))
        words = words[lo:hi]
    return tuple(words)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--sizes", type=int, nargs=2, default=(2, 5), help="chains per training context, min max")
    p.add_argument("--eval-size", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--model", default="shipped", help="shipped, or a .pt written by dynlab kv train")
    p.add_argument("--fresh", action="store_true", help="a new 4-layer, 64-wide model (plus the copy task)")
    p.add_argument("--copy", type=int, nargs=2, metavar=("MIN", "MAX"),
                   default=(TrainConfig.copy_min, TrainConfig.copy),
                   help="--fresh: the copy task's length range, drawn per step as the lab's recipe does (default "
                        "its TrainConfig's; MIN 0 = always MAX)")
    p.add_argument("--sources", default="LETTERS")
    p.add_argument("--middles", default="NUMBERS[:20]", help="default: the task's (lab.kvcache.tasks.multi_hop)")
    p.add_argument("--ends", default="NUMBERS[20:]")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    pools = tuple(word_group(name) for name in (args.sources, args.middles, args.ends))
    loaded = load_model(args.model)
    model, codec = loaded.model, loaded.codec
    if args.fresh:
        torch.manual_seed(args.seed)
        model = build_model(llama_config(len(codec), 4, 4, 64))
    model.config._attn_implementation = "sdpa"
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    start, step, hits, curves = time.perf_counter(), 0, [], []
    while time.perf_counter() - start < 60 * args.minutes:
        rng = np.random.default_rng([args.seed, step])
        ids, pos, tgt = chain_batch(rng, codec, pools, int(rng.integers(args.sizes[0], args.sizes[1] + 1)),
                                    args.batch_size)
        logits = answer_logits(model, ids, pos)  # (B, 2Q, V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten())
        if args.fresh:
            loss = loss + copy_loss(model, copy_length(rng, args.copy[1], args.copy[0]), args.batch_size, rng, len(codec))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        right = (logits.argmax(-1) == tgt).float()
        hits.append((float(right[:, 0::2].mean()), float(right[:, 1::2].mean())))
        if step % 100 == 0:
            model.eval()
            middle, end = held_out(model, codec, pools, args.eval_size)
            model.train()
            row = {"step": step, "seconds": round(time.perf_counter() - start, 1),
                   "hop1": float(np.mean([h[0] for h in hits[-50:]])), "hop2": float(np.mean([h[1] for h in hits[-50:]])),
                   "held_out_middle": middle, "held_out_end": end}
            curves.append(row)
            print(" ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    result = {"args": vars(args) | {"sizes": list(args.sizes), "copy": list(args.copy)}, "curves": curves,
              "chance_hop1": float(np.mean([1 / n for n in range(args.sizes[0], args.sizes[1] + 1)]))}
    atomic_write_json(OUT, result)
    return result


if __name__ == "__main__":
    main()
