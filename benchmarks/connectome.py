"""Connectome lab benchmark: recovery vs SNR, pipeline speed, NTF vs plain tensorly, whole-brain scale,
the masked NTF with neurons missing per animal, and the independent layout at whole-brain scale.

    .venv/bin/python benchmarks/connectome.py            # full (about 15 minutes on 2 shared cores)
    .venv/bin/python benchmarks/connectome.py --quick    # fewer seeds/SNRs, no whole-brain cases
    .venv/bin/python benchmarks/connectome.py --only masked --only independent   # issue 13's sections

Writes ``benchmarks/results/connectome.json``. Targets (issue 4): ARI >= 0.9 at the default SNR; the
whole pipeline for 100 neurons x 60 windows x 5 animals at rank 8 in <= 10 s; 300 x 200 x 5 at rank 10
in <= 2 min and <= 4 GB peak memory. Issue 13 (measured, no target): the masked NTF's communities with
10 % / 30 % of neurons missing per animal against the full-data fit's, and a 5-animal independent-layout
run at 300 neurons. Heavy cases run in a child process so that its peak resident memory (``ru_maxrss``
from ``os.wait4``) is the case's own.
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

from lab.connectome.config import ConnectomeConfig  # noqa: E402
from lab.connectome.pipeline import cohort, prepare, run_pipeline  # noqa: E402
from lab.connectome.synthetic import WormConfig  # noqa: E402
from lab.core.files import atomic_write_json  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "connectome.json"
WINDOW, STEP = 40, 20


def frames_for(windows: int, epochs: int) -> int:
    """Frames per epoch so that ``epochs`` epochs give exactly ``windows`` windows of WINDOW/STEP."""
    total = WINDOW + (windows - 1) * STEP
    return int(np.ceil(total / epochs))


def case_config(neurons: int, windows: int, animals: int, rank: int, communities: int, seed: int = 0,
                device: str = "cpu", layout: str = "auto") -> ConnectomeConfig:
    worm = {"neurons": neurons, "communities": communities, "epochs": 3, "animals": animals,
            "frames_per_epoch": frames_for(windows, 3), "seed": seed}
    return ConnectomeConfig(worm=worm, rank=rank, window=WINDOW, step=STEP, seed=seed, device=device, layout=layout)


CASES = {"pipeline": (100, 60, 5, 8, 5, "auto"), "brain": (300, 200, 5, 10, 8, "auto"),
         # the same worms as independent recordings: 5 x 200 windows one after another, the animal mode of size 1
         "brain_independent": (300, 200, 5, 10, 8, "independent")}


def run_case(name: str, device: str = "cpu") -> dict:
    """One timed pipeline case (called in a child process)."""
    neurons, windows, animals, rank, communities, layout = CASES[name]
    config = case_config(neurons, windows, animals, rank, communities, device=device, layout=layout)
    recording, truth = prepare(config)  # synthetic generation is not part of the timed pipeline
    import igraph  # noqa: F401  (imports are warm in the app; a cold interpreter should not count them)
    import leidenalg  # noqa: F401
    import sklearn.metrics  # noqa: F401
    start = time.perf_counter()
    result = run_pipeline(config, recording=recording, truth=truth)
    seconds = time.perf_counter() - start
    p, w, a = result.tensor.shape
    # "animals": the tensor's animal mode (1 in the independent layout); "recorded_animals": the worms
    return {"neurons": neurons, "windows": w, "animals": a, "recorded_animals": result.recording.shape[0], "pairs": p, "rank": rank, "communities": communities,
            "seconds": seconds, "stages": result.seconds, "iterations": len(result.fit.errors),
            "reconstruction_error": result.fit.error, "ari": result.scores["ari"], "nmi": result.scores["nmi"],
            "device": device, "layout": result.layout, "tensor": list(result.tensor.shape)}


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


def masked_recovery(fractions: list[float], seeds: list[int], animals: int = 4) -> list[dict]:
    """Masked NTF: each animal loses a random ``fraction`` of its neurons (a different subset per animal).

    The worm's traces are the same with and without the missing neurons (the generator draws the subsets
    from their own random stream), so the full-data fit is the reference. The masked run keeps every
    neuron identified in at least one animal (``neurons='min:1'``) and leaves the missing (pair, animal)
    entries out of the fit. Reported: ARI of the masked run's per-window communities against the full-data
    fit's (on the neurons both analysed, mean over windows), and both runs' ARI against the planted truth.
    """
    from sklearn.metrics import adjusted_rand_score

    rows = []
    for frac in fractions:
        vs_full, vs_truth, full_truth, masked_pct, kept = [], [], [], [], []
        for seed in seeds:
            worm = {**WormConfig().to_dict(), "animals": animals, "seed": seed}
            full = run_pipeline(ConnectomeConfig(worm=worm, seed=seed))
            masked = run_pipeline(ConnectomeConfig(worm={**worm, "identified": 1.0 - frac}, seed=seed,
                                                   neurons="min:1"))
            col = [full.recording.names.index(n) for n in masked.recording.names]
            vs_full.append(float(np.mean([adjusted_rand_score(full.membership[w, col], masked.membership[w])
                                          for w in range(len(full.starts))])))
            vs_truth.append(masked.scores["ari"])
            full_truth.append(full.scores["ari"])
            masked_pct.append(100.0 * float((~masked.mask).mean()) if masked.mask is not None else 0.0)
            kept.append(masked.recording.shape[1])
        row = {"missing_per_animal": frac, "animals": animals, "seeds": len(seeds),
               "ari_vs_full_fit_mean": float(np.mean(vs_full)), "ari_vs_full_fit_min": float(np.min(vs_full)),
               "ari_vs_truth_masked": float(np.mean(vs_truth)), "ari_vs_truth_full": float(np.mean(full_truth)),
               "masked_entries_percent": float(np.mean(masked_pct)), "neurons_kept_mean": float(np.mean(kept)),
               "ari_vs_full_fit": vs_full}
        rows.append(row)
        print(f"  {int(frac * 100)} % missing: ARI vs full fit {row['ari_vs_full_fit_mean']:.3f} "
              f"(min {row['ari_vs_full_fit_min']:.3f}); vs truth {row['ari_vs_truth_masked']:.3f} masked, "
              f"{row['ari_vs_truth_full']:.3f} full; {row['masked_entries_percent']:.1f} % of entries masked",
              flush=True)
    return rows


def masked_lowrank(fractions: list[float], seeds: list[int]) -> list[dict]:
    """An exactly rank-5 non-negative (P=780, W=60, A=4) tensor with a random ``fraction`` of entries missing:
    the masked fit's relative error on the missing entries (never seen) and on the observed ones."""
    from lab.connectome.ntf import fit_ntf

    rows = []
    for frac in fractions:
        miss, obs = [], []
        for seed in seeds:
            rng = np.random.default_rng(seed)
            factors = [rng.random((780, 5)), rng.random((60, 5)), rng.random((4, 5))]
            x = np.einsum("pr,wr,ar->pwa", *factors)
            mask = rng.random(x.shape) >= frac
            fit = fit_ntf(x, 5, n_iter_max=1000, tol=1e-9, mask=mask)
            model = fit.reconstruct()
            miss.append(float(np.linalg.norm((model - x)[~mask]) / np.linalg.norm(x[~mask])))
            obs.append(fit.error)
        rows.append({"missing_entries": frac, "seeds": len(seeds), "missing_rel_error_max": float(np.max(miss)),
                     "observed_rel_error_max": float(np.max(obs))})
        print(f"  {int(frac * 100)} % of entries missing: relative error on them <= {np.max(miss):.2e}", flush=True)
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
    tensor = cohort(config, recording)[1].tensor
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
    parser.add_argument("--only", choices=["snr", "pipeline", "ntf", "brain", "masked", "independent"], action="append",
                        help="run only these sections and merge them into the existing results file")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.device)))
        return
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    sections = set(args.only or ["snr", "pipeline", "ntf", "masked"] + ([] if args.quick else ["brain", "independent"]))
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
    if "masked" in sections:
        print("masked NTF: neurons missing per animal (default worm, 4 animals) vs the full-data fit:", flush=True)
        results["masked_missing_neurons"] = masked_recovery([0.1, 0.3], [0, 1] if args.quick else [0, 1, 2])
        print("masked NTF: an exactly low-rank tensor with missing entries:", flush=True)
        results["masked_lowrank"] = masked_lowrank([0.1, 0.3], [0, 1])
    if "independent" in sections:
        print("whole brain as independent recordings: 300 neurons, 5 animals x 200 windows one after another, "
              "rank 10:", flush=True)
        row = in_child("brain_independent", args.device)
        results["brain_independent_300x5x200_rank10"] = row
        print(f"  {row['seconds']:.1f} s, peak {row['peak_memory_gb']:.2f} GB, ARI {row['ari']:.3f}", flush=True)
    results["machine"]["load_average_at_end"] = os.getloadavg()  # other work on the machine slows every case
    OUT.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(OUT, results)
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
