"""Write the connectome lab's sample files from the synthetic generator (fixed seed, recorded).

    .venv/bin/python scripts/make_connectome_samples.py

Writes ``sample_data/connectome/``: ``worm.csv`` (two animals, ``time``/``animal``/``epoch`` columns),
``worm.npz`` (traces (A, N, T), names, fps, epochs), ``worm.nwb`` (animal 0 as an NWB
``RoiResponseSeries``) and ``truth.json`` (the worm's config with its seed and the planted communities).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lab.connectome.data import recording_to_nwb
from lab.connectome.synthetic import WormConfig, make_worm

SEED = 7
OUT = Path(__file__).resolve().parent.parent / "sample_data" / "connectome"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
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
    truth = {"generator": "lab.connectome.synthetic.make_worm", "config": cfg.to_dict(),
             "membership": worm.membership.tolist(), "script": "scripts/make_connectome_samples.py"}
    (OUT / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    for p in sorted(OUT.iterdir()):
        print(f"{p.relative_to(OUT.parent.parent)}  {p.stat().st_size / 1e3:.1f} kB")


if __name__ == "__main__":
    main()
