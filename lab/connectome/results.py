"""What a connectome run gives back: :class:`ConnectomeResult` (``run``) and :class:`ScanResult` (``scan``).

Each has ``metrics()`` (the run store's numbers), ``artifacts()`` (files saved with the run), ``to_json()``
(the ``--json`` document) and ``title()``; the files themselves are built in :mod:`lab.connectome.downloads`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.connectome.communities import FactorCommunities
from lab.connectome.config import ConnectomeConfig, ScanConfig
from lab.connectome.data import Recording
from lab.connectome.downloads import DOWNLOADS, communities_csv, factors_csv, factors_npz, figures_zip
from lab.connectome.ntf import NTFResult, RankScan
from lab.core.errors import LabInputError


@dataclass
class ConnectomeResult:
    """One run, everything the page, CLI and downloads need.

    Attributes
    ----------
    recording : Recording
        Traces (A, N, T).
    starts : ndarray of int, shape (W,)
        First frame of every window.
    tensor : ndarray float32, shape (P, W, A)
        The affinity tensor that was factorized.
    fit : NTFResult
        ``fit.stopped``: the NTF was asked to stop; the rest was computed from its partial factors.
    communities : list of FactorCommunities, length R
    membership, factor : ndarray of int, shape (W, N)
    truth : ndarray of int, shape (E, N), or None
        Planted communities (a synthetic worm, or a file with a ``truth.json``); -1 for unknown neurons.
    win_epoch : ndarray of int, shape (W,), or None
    scores : dict or None
        ``ari``, ``nmi`` and per-epoch lists, when there is a truth.
    seconds : dict of float
        Wall time of each stage and ``total``.
    window_animal : ndarray of int, shape (W,)
        Independent layout: the animal of every window; aligned: -1 (every animal).
    layout : str
        ``aligned`` or ``independent``.
    mask : ndarray of bool, shape (P, W, A), or None
        Observed entries of the tensor (None: all).
    covariates : dict of str to ndarray (W,)
        Covariates averaged per window.
    correlations : dict of str to list of float or None
        Correlation of every factor's time loading with every covariate.
    warnings : list of str
        Settings that make the result hard to read (said in words).
    """

    config: ConnectomeConfig
    recording: Recording
    starts: np.ndarray
    tensor: np.ndarray
    fit: NTFResult
    communities: list[FactorCommunities]
    membership: np.ndarray
    factor: np.ndarray
    truth: np.ndarray | None = None
    win_epoch: np.ndarray | None = None
    scores: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    window_animal: np.ndarray | None = None
    layout: str = "aligned"
    mask: np.ndarray | None = None
    covariates: dict[str, np.ndarray] = field(default_factory=dict)
    correlations: dict[str, list[float | None]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.window_animal is None:
            self.window_animal = np.full(len(self.starts), -1, dtype=int)

    @property
    def window(self) -> int:
        return int(self.config.window)

    def window_offsets(self) -> np.ndarray:
        """(A,) first frame of every animal on the page's time axis (independent: animals one after another)."""
        a_count = self.recording.shape[0]
        if self.layout != "independent":
            return np.zeros(a_count, dtype=int)
        used = [int(self.recording.lengths[a]) if np.any(self.window_animal == a) else 0 for a in range(a_count)]
        return np.concatenate([[0], np.cumsum(used)[:-1]]).astype(int)

    def window_frames(self) -> np.ndarray:
        """(W,) every window's first frame on the time axis (independent: offset by the animals before it)."""
        offsets = self.window_offsets()
        return self.starts + np.where(self.window_animal >= 0, offsets[np.maximum(self.window_animal, 0)], 0)

    def boundaries(self) -> list[tuple[float, str]]:
        """Independent layout: (frame where an animal's windows start on the time axis, its name), in order."""
        if self.layout != "independent":
            return []
        offsets = self.window_offsets()
        return [(float(offsets[a]), self.recording.animals[a]) for a in dict.fromkeys(self.window_animal.tolist())]

    def window_label(self, w: int) -> str:
        """``frames 40-80 (10.0-20.0 s), epoch 1, worm 2``: where window ``w`` lies."""
        s, fps = int(self.starts[w]), self.recording.fps
        text = f"frames {s}-{s + self.window} ({s / fps:.1f}-{(s + self.window) / fps:.1f} s)"
        if self.win_epoch is not None:
            e = int(self.win_epoch[w])
            text += f", epoch {e}" if e >= 0 else ", between two epochs"
        if self.window_animal[w] >= 0:
            text += f", {self.recording.animals[int(self.window_animal[w])]}"
        return text

    def animal_loadings(self) -> np.ndarray:
        """(A, R) how much each factor is active in each animal.

        Aligned layout: the NTF's animal factor. Independent layout (the animal mode has one entry): the mean
        of each factor's time loading over that animal's windows, scaled to unit norm per factor like the NTF's.
        """
        if self.layout != "independent":
            return self.fit.animal
        a_count = self.recording.shape[0]
        out = np.zeros((a_count, self.fit.rank))
        for a in range(a_count):
            rows = self.window_animal == a
            if rows.any():
                out[a] = self.fit.time[rows].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=0, keepdims=True), 1e-300)

    @property
    def mean_modularity(self) -> float:
        """Mean over factors of the modularity of each factor's partition."""
        return float(np.mean([c.modularity for c in self.communities]))

    def title(self) -> str:
        c = self.config
        return f"NTF rank {c.rank} ({c.source}, {c.affinity}, {c.method})"

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab connectome run --json`` document."""
        animals = self.animal_loadings()
        factors = [
            {
                "time": self.fit.time[:, r].tolist(),
                "animal": animals[:, r].tolist(),
                "communities": self.communities[r].groups,
                "modularity": float(self.communities[r].modularity),
                "weight": float(self.fit.weights[r]),
            }
            for r in range(self.fit.rank)
        ]
        doc: dict[str, Any] = {
            "factors": factors,
            "membership": self.membership.tolist(),
            "reconstruction_error": float(self.fit.error),
            "seconds": float(self.seconds.get("total", 0.0)),
            "neurons": list(self.recording.names),
            "dropped": {f: list(v) for f, v in self.recording.dropped.items()},
            "layout": self.layout,
            "animals": list(self.recording.animals),
            "window_starts": self.starts.tolist(),
            "window_animal": self.window_animal.tolist(),
            "iterations": len(self.fit.errors),
            "stopped_early": bool(self.fit.stopped),
            "masked_entries": int((~self.mask).sum()) if self.mask is not None else 0,
            "warnings": list(self.warnings),
            "notes": list(self.recording.notes),
        }
        if self.covariates:
            doc["covariates"] = {k: list(v) for k, v in self.correlations.items()}
        if self.scores is not None:
            doc["ari"] = float(self.scores["ari"])
            doc["nmi"] = float(self.scores["nmi"])
        return doc

    def metrics(self) -> dict[str, Any]:
        """Scalar metrics (plus the NTF error curve) for the run store; timings are the ``seconds*`` ones."""
        out: dict[str, Any] = {
            "reconstruction_error": float(self.fit.error),
            "iterations": len(self.fit.errors),
            "mean_modularity": self.mean_modularity,
            "seconds": float(self.seconds.get("total", 0.0)),
            "seconds_ntf": float(self.seconds.get("ntf", 0.0)),
            "curves": {"ntf_error": [float(e) for e in self.fit.errors]},
            "neurons": int(self.recording.shape[1]),
            "windows": int(len(self.starts)),
        }
        if self.scores is not None:
            out["ari"], out["nmi"] = float(self.scores["ari"]), float(self.scores["nmi"])
        if self.fit.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self, with_figures: bool = True) -> dict[str, bytes | str]:
        """Files saved with a run: factors, communities and the key figures."""
        out: dict[str, bytes | str] = {
            "factors.npz": factors_npz(self),
            "factors.csv": factors_csv(self),
            "communities.csv": communities_csv(self),
        }
        if with_figures:
            from lab.connectome import figures

            out["ntf_error.plotly.json"] = figures.ntf_progress_figure(self.fit.errors).to_json()
            out["factors.plotly.json"] = figures.factor_time_figure(self).to_json()
            out["sankey.plotly.json"] = figures.membership_sankey(self).to_json()
        return out

    def download(self, name: str) -> bytes:
        """One of :data:`DOWNLOADS` as bytes (``figures.zip``: every figure as a self-contained HTML file)."""
        if name == "factors.npz":
            return factors_npz(self)
        if name == "factors.csv":
            return factors_csv(self).encode()
        if name == "communities.csv":
            return communities_csv(self).encode()
        if name == "figures.zip":
            return figures_zip(self)
        raise LabInputError(f"unknown download {name!r}; choose one of {', '.join(DOWNLOADS)}.")


@dataclass
class ScanResult:
    """A rank scan (``scan``: errors and similarities per rank and restart) and the config that made it."""

    config: ScanConfig
    scan: RankScan

    def summary(self) -> list[dict[str, float]]:
        return self.scan.summary()

    def title(self) -> str:
        c = self.config
        return f"Rank scan {c.ranks[0]}-{c.ranks[-1]} x {c.restarts} ({c.source}, {c.affinity})"

    def to_json(self) -> dict[str, Any]:
        """The ``dynlab connectome scan --json`` document."""
        rows = self.summary()
        for row in rows:
            row["error"] = row["error_min"]
        return {
            "ranks": [row["rank"] for row in rows],
            "error": [row["error_min"] for row in rows],
            "similarity": [row["similarity"] for row in rows],
            "scan": rows,
            "errors": self.scan.errors.tolist(),
            "similarities": self.scan.similarity.tolist(),
            "restarts": self.config.restarts,
            "seconds": self.scan.seconds,
        }

    def metrics(self) -> dict[str, Any]:
        """Fits done, the time, and per scanned rank (curves) the best error and the restarts' similarity."""
        rows = self.summary()
        out: dict[str, Any] = {
            "fits": int(np.sum(~np.isnan(self.scan.errors))),
            "ranks_scanned": len(rows),
            "seconds": float(self.scan.seconds),
            "curves": {"rank": [float(r["rank"]) for r in rows], "error_min": [r["error_min"] for r in rows],
                       "similarity": [r["similarity"] for r in rows]},
        }
        if self.scan.stopped:
            out["stopped_early"] = True
        return out

    def artifacts(self) -> dict[str, bytes | str]:
        from lab.connectome import figures

        lines = ["rank,error_min,error_mean,similarity,restarts"]
        lines += [f"{r['rank']},{r['error_min']:.6g},{r['error_mean']:.6g},{r['similarity']:.6g},{r['restarts']}"
                  for r in self.summary()]
        return {"rank_scan.csv": "\n".join(lines) + "\n",
                "rank_scan.plotly.json": figures.rank_scan_figure(self.scan).to_json()}
