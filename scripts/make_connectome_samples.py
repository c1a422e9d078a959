"""Write the connectome lab's sample files from the synthetic generator (fixed seeds, recorded).

    .venv/bin/python scripts/make_connectome_samples.py

Writes ``sample_data/connectome/``:

- ``worm.csv`` (two animals, ``time``/``animal``/``epoch`` columns), ``worm.npz`` (traces (A, N, T), names,
  fps, epochs), ``worm.nwb`` (animal 0 as an NWB ``RoiResponseSeries``) and ``truth.json`` (the worm's
  config, neuron names, epoch bounds and planted communities, and the files it describes);
- ``cohort/``: three synthetic worms standing in for real recordings (no real recording is shipped):
  each has its own subset of identified neurons (named like C. elegans neurons; worm_c's ``AIA?`` is an
  uncertain side), its own number of frames and no shared clock, plus a per-frame behaviour table
  (``worm_a_beh.csv``: ``frame``, ``reversal`` (the drive of the community named after the reversal
  circuit), ``speed``, ``stimulus``) and ``truth.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lab.connectome.readers import recording_to_nwb
from lab.connectome.synthetic import WormConfig, make_worm

SEED, COHORT_SEED = 7, 11
OUT = Path(__file__).resolve().parent.parent / "sample_data" / "connectome"
# names given to the cohort's planted communities (at epoch 0), in order: community 0 takes the reversal circuit
CIRCUITS = [["AVAL", "AVAR", "AVEL", "AVER", "RIML", "RIMR", "AIBL", "AIBR", "AIAL", "AIAR"],
            ["AVBL", "AVBR", "RIBL", "RIBR", "AIYL", "AIYR", "AIZL", "AIZR", "RMDVL", "RMDVR"],
            ["ASHL", "ASHR", "AWCL", "AWCR", "ADEL", "ADER", "URYDL", "URYDR", "SMDVL", "SMDVR"]]


def truth_doc(worm, files: list[str], names: list[str]) -> dict:
    cfg = worm.config
    f = cfg.frames_per_epoch
    return {"generator": "lab.connectome.synthetic.make_worm", "config": cfg.to_dict(), "names": names,
            "epoch_frames": [[e * f, (e + 1) * f] for e in range(cfg.epochs)],
            "membership": worm.membership.tolist(), "files": files, "script": "scripts/make_connectome_samples.py"}


def single_worm() -> None:
    cfg = WormConfig(neurons=20, communities=3, epochs=3, animals=2, frames_per_epoch=200, seed=SEED)
    worm = make_worm(cfg)
    rec = worm.recording
    traces = np.round(rec.traces, 4)
    a_count, n, t = traces.shape
    header = ["time", "animal", "epoch", *rec.names]
    lines = [",".join(header)]
    for a in range(a_count):
        for f in range(t):
            values = ",".join(f"{v:.4f}" for v in traces[a, :, f])
            lines.append(f"{f / rec.fps:.3f},{a},{int(rec.epochs[f])},{values}")
    (OUT / "worm.csv").write_text("\n".join(lines) + "\n")
    np.savez_compressed(OUT / "worm.npz", traces=traces, names=np.asarray(rec.names), fps=np.float64(rec.fps),
                        epochs=rec.epochs)
    rec.traces = traces
    recording_to_nwb(rec, OUT / "worm.nwb", animal=0, description=f"dynlab synthetic worm, seed {SEED}")
    doc = truth_doc(worm, ["worm.csv", "worm.npz", "worm.nwb"], list(rec.names))
    (OUT / "truth.json").write_text(json.dumps(doc, indent=2) + "\n")


def cohort() -> None:
    out = OUT / "cohort"
    out.mkdir(parents=True, exist_ok=True)
    cfg = WormConfig(neurons=30, communities=3, epochs=3, animals=3, frames_per_epoch=200, remix=0.2,
                     identified=0.85, seed=COHORT_SEED)
    worm = make_worm(cfg)
    rec = worm.recording
    names = [""] * cfg.neurons
    for c, circuit in enumerate(CIRCUITS):
        for i, name in zip(np.flatnonzero(worm.membership[0] == c), circuit, strict=False):
            names[i] = name
    spare = iter(f"NEURON{k}" for k in range(cfg.neurons))
    names = [n or next(spare) for n in names]
    lengths = [600, 560, 520]  # recordings of different lengths: no shared clock
    rng = np.random.default_rng(COHORT_SEED)
    files = []
    for a, key in enumerate("abc"):
        t = lengths[a]
        keep = np.flatnonzero(rec.present[a])
        own = [names[i] for i in keep]
        if a == 2 and "AIAL" in own:
            own[own.index("AIAL")] = "AIA?"  # the side of this one was not certain
        lines = [",".join(["time", *own])]
        for f in range(t):
            lines.append(",".join([f"{f / rec.fps:.2f}", *[f"{v:.4f}" for v in rec.traces[a, keep, f]]]))
        (out / f"worm_{key}.csv").write_text("\n".join(lines) + "\n")
        drive = rec.covariates["c0_drive"][a, :t]
        speed = -drive + 0.3 * rng.normal(size=t)
        beh = ["frame,reversal,speed,stimulus"]
        beh += [f"{f},{drive[f]:.4f},{speed[f]:.4f},{int(rec.covariates['stimulus'][a, f])}" for f in range(t)]
        (out / f"worm_{key}_beh.csv").write_text("\n".join(beh) + "\n")
        files.append(f"worm_{key}.csv")
    (out / "truth.json").write_text(json.dumps(truth_doc(worm, files, names), indent=2) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    single_worm()
    cohort()
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.relative_to(OUT.parent.parent)}  {p.stat().st_size / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
