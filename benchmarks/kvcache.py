"""KV-cache lab benchmark: the shipped model uncompressed, the cliff of each press, GER vs hallucination, speed.

    .venv/bin/python benchmarks/kvcache.py                 # everything (several minutes)
    .venv/bin/python benchmarks/kvcache.py --quick         # question-agnostic only, no flow, no hook comparison
    .venv/bin/python benchmarks/kvcache.py --model random  # the pipeline on an untrained model (no targets)

Writes ``benchmarks/results/kvcache.json``. Targets (issue 11): uncompressed accuracy of the shipped model
>= 0.98 per task; the cliff (ratio where accuracy falls below half the uncompressed one) per press and
task; the Pearson r between GER and hallucination rate over the sweep points (the paper reports
r ~ 0.8-0.9); a sweep of 6 presses x 12 ratios x 200 samples in <= 2 min on this CPU (wall time, with
the machine's load average recorded beside it; ``cpu_seconds`` is the process's CPU time, all threads).

Every sweep is ``dynlab kv sweep --task T --presses P --ratios R --num 200`` (``lab.kvcache.sweep``).
Sections:

- ``uncompressed``: accuracy and hallucination rate per task on 1000 samples (seed 0);
- ``sweeps``: per mode (question-agnostic, question-aware) and task, the 6 x 12 sweep: its points, the cliff
  of each press, the susceptibility peak, r(GER, hallucination), and its wall time;
- ``ger_hallucination_r``: r over every point of every task, per mode;
- ``flow``: dropping vs merging evicted tokens (``lab.kvcache.flow``) with SnapKV and Knorm at ratio 0.9;
- ``hooks``: the same sweep run the ordinary kvpress way (one prefill under the press per point) on one task,
  to show what capturing the prefill once saves, and that both give the same table;
- ``probe``: the time of one press at one ratio on one prompt (what the page's slider costs);
- ``two_threads``: the multi-entity sweep again with 2 torch threads (the rest runs with ``--threads``, 1).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lab.core.files import atomic_write_json  # noqa: E402
from lab.kvcache.metrics import pearson  # noqa: E402
from lab.kvcache.presses import DEFAULT_PRESSES  # noqa: E402
from lab.kvcache.sweep import TASK_NAMES, CompressConfig, load, run_compress  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kvcache.json"
RATIOS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
NUM = 200


def uncompressed(model: str) -> dict:
    """Accuracy and hallucination rate of the model on 1000 samples per task, nothing evicted."""
    from lab.kvcache.compress import compress_batch
    from lab.kvcache.metrics import PointStats
    from lab.kvcache.tasks import make_batches

    loaded = load(model)
    out = {}
    for task in TASK_NAMES:
        stats = PointStats()
        for b in make_batches(task, 1000, 0, loaded.codec):
            c = compress_batch(loaded.model, b.context, b.question, None, steps=b.steps)
            stats.add(c.keep_context, c.attention, c.logits, b.answer, b.candidates, b.relevant)
        s = stats.summary()
        out[task] = {"accuracy": s["accuracy"], "hallucination_rate": s["hallucination_rate"], "samples": s["samples"]}
    return out


def sweep(model: str, task: str, question_aware: bool) -> dict:
    config = CompressConfig(task=task, presses=DEFAULT_PRESSES, ratios=RATIOS, num=NUM, question_aware=question_aware,
                            model=model)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_compress(config)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    doc = result.to_json()
    return {"command": f"dynlab kv sweep --task {task} --presses {','.join(DEFAULT_PRESSES)} --ratios "
                       f"{','.join(f'{r:g}' for r in RATIOS)} --num {NUM} --model {model}"
                       + (" --question-aware" if question_aware else ""),
            "seconds": wall, "cpu_seconds": cpu, "uncompressed_accuracy": doc["uncompressed"]["accuracy"], "cliff": doc["cliff"],
            "susceptibility_peak": {p: {"ratio": RATIOS[int(np.argmax(v))], "value": float(np.max(v))}
                                    for p, v in doc["susceptibility"].items()},
            "ger_hallucination_r": doc["ger_hallucination_r"], "results": doc["results"]}


def flow_section(model: str) -> dict:
    from lab.kvcache.flow import flow
    from lab.kvcache.tasks import make_batches

    loaded = load(model)
    out = {}
    for task in TASK_NAMES:
        batch = make_batches(task, NUM, 0, loaded.codec)[0]
        out[task] = {press: flow(loaded.model, batch, press, 0.9, keep_layers=False).summary()
                     for press in ("snapkv", "knorm")}
    return {"ratio": 0.9, "samples": NUM, "tasks": out}


def hooks_section(model: str, task: str = "multi_entity") -> dict:
    """The 6 x 12 sweep with kvpress's hooks (a prefill under the press per point) vs the captured replay."""
    from lab.kvcache.compress import compress_batch_hooked
    from lab.kvcache.metrics import PointStats
    from lab.kvcache.tasks import make_batches

    loaded = load(model)
    batches = make_batches(task, NUM, 0, loaded.codec)
    start = time.perf_counter()
    rows = []
    for press in DEFAULT_PRESSES:
        for ratio in RATIOS:
            stats = PointStats()
            for b in batches:
                c = compress_batch_hooked(loaded.model, b.context, b.question, press, ratio, steps=b.steps)
                stats.add(c.keep_context, c.attention, c.logits, b.answer, b.candidates, b.relevant)
            rows.append({"press": press, "ratio": ratio, **stats.summary()})
    hooked = time.perf_counter() - start
    replay = run_compress(CompressConfig(task=task, presses=DEFAULT_PRESSES, ratios=RATIOS, num=NUM, model=model))
    same = all(a["accuracy"] == b["accuracy"] and a["ger"] == b["ger"] for a, b in zip(rows, replay.points, strict=True))
    return {"task": task, "hooked_seconds": hooked, "replay_seconds": replay.seconds, "same_accuracy_and_ger": same}


def probe_section(model: str) -> dict:
    from lab.kvcache.probe import Probe
    from lab.kvcache.tasks import make_batches

    loaded = load(model)
    batch = make_batches("multi_entity", 4, 0, loaded.codec)[0]
    start = time.perf_counter()
    probe = Probe(loaded.model, batch, 0, codec=loaded.codec)
    first = time.perf_counter() - start
    times = []
    for press in DEFAULT_PRESSES + ("adakv_snapkv", "expected_attention"):
        for ratio in (0.3, 0.6, 0.9):
            t = time.perf_counter()
            probe.view(press, ratio)
            times.append(time.perf_counter() - t)
    return {"prefill_seconds": first, "view_median_seconds": float(np.median(times)),
            "view_max_seconds": float(np.max(times)), "views": len(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: on this shared 2-core machine 2 threads measured slower)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    doc: dict = {"model": args.model, "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                                   "torch_threads": args.threads,
                                                   "load_average_at_start": list(os.getloadavg())},
                 "ratios": list(RATIOS), "presses": list(DEFAULT_PRESSES), "samples": NUM}
    card = getattr(load(args.model), "card", {}) or {}
    if args.model == "shipped":  # which checkpoint these numbers are of (it may be retrained later)
        import hashlib

        from lab.kvcache.model import SHIPPED

        doc["checkpoint_sha1"] = hashlib.sha1(SHIPPED.read_bytes()).hexdigest()
    doc["card_metrics"] = card.get("metrics", {})
    doc["uncompressed"] = uncompressed(args.model)
    print("uncompressed", {t: round(v["accuracy"], 4) for t, v in doc["uncompressed"].items()}, flush=True)
    modes = [False] if args.quick else [False, True]
    doc["sweeps"], doc["ger_hallucination_r"] = {}, {}
    for aware in modes:
        mode = "question_aware" if aware else "question_agnostic"
        doc["sweeps"][mode] = {}
        for task in TASK_NAMES:
            s = sweep(args.model, task, aware)
            doc["sweeps"][mode][task] = s
            print(f"{mode} {task}: {s['seconds']:.1f} s, cliff {s['cliff']}, r {s['ger_hallucination_r']}", flush=True)
        points = [p for t in doc["sweeps"][mode].values() for p in t["results"]]
        doc["ger_hallucination_r"][mode] = pearson([p["ger"] for p in points], [p["hallucination_rate"] for p in points])
    doc["sweep_seconds"] = {mode: {t: s["seconds"] for t, s in tasks.items()} for mode, tasks in doc["sweeps"].items()}
    doc["sweep_seconds_max"] = max(v for tasks in doc["sweep_seconds"].values() for v in tasks.values())
    doc["sweep_target_met"] = doc["sweep_seconds_max"] <= 120.0
    if not args.quick:  # the same sweep with both cores' threads, for comparison
        torch.set_num_threads(2)
        doc["two_threads"] = {k: v for k, v in sweep(args.model, "multi_entity", False).items() if k != "results"}
        torch.set_num_threads(args.threads)
        print("two threads", doc["two_threads"]["seconds"], flush=True)
    doc["probe"] = probe_section(args.model)
    print("probe", doc["probe"], flush=True)
    if not args.quick:
        doc["flow"] = flow_section(args.model)
        doc["hooks"] = hooks_section(args.model)
        print("hooks", doc["hooks"], flush=True)
    doc["machine"]["load_average_at_end"] = list(os.getloadavg())
    doc["total_seconds"] = time.perf_counter() - started
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out} in {doc['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
