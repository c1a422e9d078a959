"""Connectome lab benchmark: recovery vs SNR, pipeline speed, NTF vs plain tensorly, whole-brain scale.

    .venv/bin/python benchmarks/connectome.py            # full (about 10 minutes on 2 shared cores)
    .venv/bin/python benchmarks/connectome.py --quick    # fewer seeds/SNRs, no whole-brain case

Writes ``benchmarks/results/connectome.json``. Targets (issue 4): ARI >= 0.9 at the default SNR; the
whole pipeline for 100 neurons x 60 windows x 5 animals at rank 8 in <= 10 s; 300 x 200 x 5 at rank 10
in <= 2 min and <= 4 GB peak memory. Heavy cases run in a child process so that its peak resident
memory (``ru_maxrss`` from ``os.wait4``) is the case's own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.connectome.pipeline import ConnectomeConfig, build_tensor, prepare, run_pipeline  # noqa: E402
from lab.connectome.synthetic import WormConfig  # noqa: E402
from lab.core.files import atomic_write_json  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "connectome.json"
WINDOW, STEP = 40, 20


def frames_for(windows: int, epochs: int) -> int:
    """Frames per epoch so that ``epochs`` epochs give exactly ``windows`` windows of WINDOW/STEP."""
    total = WINDOW + (windows - 1) * STEP
    return int(np.ceil(total / epochs))


def case_config(neurons: int, windows: int, animals: int, rank: int, communities: int, seed: int = 0,
                device: str = "cpu") -> ConnectomeConfig:
    worm = {"neurons": neurons, "communities": communities, "epochs": 3, "animals": animals,
            "frames_per_epoch": frames_for(windows, 3), "seed": seed}
    return ConnectomeConfig(worm=worm, rank=rank, window=WINDOW, step=STEP, seed=seed, device=device)


def run_case(name: str, device: str = "cpu") -> dict:
    """One timed pipeline case (called in a child process)."""
    cases = {"pipeline": (100, 60, 5, 8, 5), "brain": (300, 200, 5, 10, 8)}
    neurons, windows, animals, rank, communities = cases[name]
    config = case_config(neurons, windows, animals, rank, communities, device=device)
    recording, truth = prepare(config)  # synthetic generation is not part of the timed pipeline
    import igraph  # noqa: F401  (imports are warm in the app; a cold interpreter should not count them)
    import leidenalg  # noqa: F401
    import sklearn.metrics  # noqa: F401
    start = time.perf_counter()
    result = run_pipeline(config, recording=recording, truth=truth)
    seconds = time.perf_counter() - start
    p, w, a = result.tensor.shape
    return {"neurons": neurons, "windows": w, "animals": a, "pairs": p, "rank": rank, "communities": communities,
            "seconds": seconds, "stages": result.seconds, "iterations": len(result.fit.errors),
            "reconstruction_error": result.fit.error, "ari": result.scores["ari"], "nmi": result.scores["nmi"],
            "device": device}


def in_child(name: str, device: str = "cpu") -> dict:
    """Run ``run_case(name)`` in a fresh interpreter; add its peak resident memory in GB."""
    proc = subprocess.Popen([sys.executable, __file__, "--case", name, "--device", device], stdout=subprocess.PIPE,
                            cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"case {name} failed with exit code {proc.returncode}")
    row = json.loads(out.decode().strip().splitlines()[-1])
    row["peak_memory_gb"] = usage.ru_maxrss * 1024 / 1e9  # Linux reports KiB
    row["load_average_after"] = os.getloadavg()  # (1, 5, 15 min): other work on the machine slows the case
    return row


def ari_vs_snr(snrs: list[float], seeds: list[int]) -> list[dict]:
    """Default worm and default pipeline (rank = epochs = 3) at each SNR and seed."""
    rows = []
    for snr in snrs:
        aris, nmis = [], []
        for seed in seeds:
            cfg = ConnectomeConfig(worm={**WormConfig().to_dict(), "snr": snr, "seed": seed}, seed=seed)
            res = run_pipeline(cfg)
            aris.append(res.scores["ari"])
            nmis.append(res.scores["nmi"])
        rows.append({"snr": snr, "ari_mean": float(np.mean(aris)), "ari_min": float(np.min(aris)),
                     "nmi_mean": float(np.mean(nmis)), "seeds": len(seeds), "ari": aris})
        print(f"  snr {snr:>4}: ARI {np.mean(aris):.3f} (min {np.min(aris):.3f}), NMI {np.mean(nmis):.3f}", flush=True)
    return rows


def ntf_vs_plain(max_plain_iter: int = 1000) -> dict:
    """The lab's NTF (HALS, one reported iteration per call) vs one plain ``non_negative_parafac`` call.

    Same float32 tensor (the 100 x 60 x 5 case, rank 8). The plain call (tensorly's multiplicative
    updates, ``init='svd'``) runs ``max_plain_iter`` iterations once, timed; its time to reach the lab's
    final error (+1e-4) is that time times the fraction of iterations it needed (every MU iteration costs
    the same).
    """
    import warnings

    from tensorly.decomposition import non_negative_parafac

    from lab.connectome.ntf import fit_ntf

    config = case_config(100, 60, 5, 8, 5)
    recording, _ = prepare(config)
    tensor, _ = build_tensor(config, recording)
    lab = fit_ntf(tensor, 8, n_iter_max=config.n_iter_max, tol=config.tol)
    target = lab.error + 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        _, errors = non_negative_parafac(tensor, 8, n_iter_max=max_plain_iter, init="svd", tol=1e-30,
                                         return_errors=True)  # tol > 0 makes tensorly record errors
        plain_total = time.perf_counter() - start
    errors = [float(e) for e in errors]
    reached = [k for k, e in enumerate(errors) if e <= target]
    row = {"tensor": list(tensor.shape), "rank": 8, "lab_seconds": lab.seconds, "lab_iterations": len(lab.errors),
           "lab_error": lab.error, "target_error": target, "plain_iterations_run": len(errors),
           "plain_total_seconds": plain_total, "plain_final_error": errors[-1], "plain_reached": bool(reached)}
    if reached:
        k = reached[0] + 1
        row.update(plain_iterations_to_target=k, plain_seconds_to_target=plain_total * k / len(errors))
    # the other way round: how long the lab's fit took to reach the plain call's final error
    lab_reached = [k for k, e in enumerate(lab.errors) if e <= errors[-1]]
    if lab_reached:
        k = lab_reached[0] + 1
        row.update(lab_iterations_to_plain_final=k, lab_seconds_to_plain_final=lab.seconds * k / len(lab.errors))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer SNRs and seeds; skip the whole-brain case")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help="cpu or cuda for the timed cases")
    parser.add_argument("--only", choices=["snr", "pipeline", "ntf", "brain"], action="append",
                        help="run only these sections and merge them into the existing results file")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.device)))
        return
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    sections = set(args.only or ["snr", "pipeline", "ntf"] + ([] if args.quick else ["brain"]))
    previous = json.loads(OUT.read_text()) if (args.only and OUT.exists()) else {}
    results: dict = {**previous, "machine": {"platform": platform.platform(terse=True), "cpus": os.cpu_count(),
                                 "python": platform.python_version(), "load_average_at_start": os.getloadavg()},
                     "quick": args.quick,
                     "command": "benchmarks/connectome.py" + (" --quick" if args.quick else "")}
    if args.only:
        results["command"] = previous.get("command", "benchmarks/connectome.py")
        done = set(results.get("updated_sections", [])) | {f"{n}: benchmarks/connectome.py --only {n}" for n in sections}
        results["updated_sections"] = sorted(done)
    snrs = [1.0, 2.0, 4.0] if args.quick else [0.5, 1.0, 2.0, 4.0, 8.0]
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    if "snr" in sections:
        print("ARI vs SNR (default worm, default pipeline):", flush=True)
        results["ari_vs_snr"] = ari_vs_snr(snrs, seeds)
        default = next(r for r in results["ari_vs_snr"] if r["snr"] == WormConfig().snr)
        results["default_snr"] = {"snr": WormConfig().snr, "ari_mean": default["ari_mean"], "target": 0.9,
                                  "met": default["ari_mean"] >= 0.9}
    if "pipeline" in sections:
        print("pipeline 100 neurons x 60 windows x 5 animals, rank 8:", flush=True)
        row = in_child("pipeline", args.device)
        row.update(target_seconds=10.0, met=row["seconds"] <= 10.0)
        results["pipeline_100x60x5_rank8"] = row
        print(f"  {row['seconds']:.2f} s ({row['iterations']} NTF iterations), ARI {row['ari']:.3f}", flush=True)
    if "ntf" in sections:
        print("NTF: lab call vs plain tensorly non_negative_parafac to the same error:", flush=True)
        results["ntf_vs_plain"] = ntf_vs_plain()
        print(f"  {results['ntf_vs_plain']}", flush=True)
    if "brain" in sections:
        print("whole brain 300 neurons x 200 windows x 5 animals, rank 10:", flush=True)
        row = in_child("brain", args.device)
        row.update(target_seconds=120.0, target_memory_gb=4.0,
                   met=row["seconds"] <= 120.0 and row["peak_memory_gb"] <= 4.0)
        results["brain_300x200x5_rank10"] = row
        print(f"  {row['seconds']:.1f} s, peak {row['peak_memory_gb']:.2f} GB, ARI {row['ari']:.3f}", flush=True)
    results["machine"]["load_average_at_end"] = os.getloadavg()  # other work on the machine slows every case
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(OUT, results)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
