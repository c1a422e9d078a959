"""Planted or known communities to score a run against: a synthetic worm's, or a ``truth.json`` beside the files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.connectome.config import ConnectomeConfig
from lab.core.errors import LabInputError


@dataclass
class Truth:
    """Planted communities: (E, N_t) membership over ``names``, and epoch per frame when the recording lacks it."""

    names: list[str]
    membership: np.ndarray
    epochs: np.ndarray | None = None

    def on(self, names: list[str]) -> np.ndarray:
        """(E, len(names)) membership on these neurons; -1 for a neuron the truth does not name."""
        col = {n: i for i, n in enumerate(self.names)}
        out = np.full((self.membership.shape[0], len(names)), -1, dtype=int)
        for k, n in enumerate(names):
            if n in col:
                out[:, k] = self.membership[:, col[n]]
        return out


def find_truth(config: ConnectomeConfig) -> Truth | None:
    """The config's ``truth`` file, or a ``truth.json`` beside the first input that names that input."""
    import json
    from pathlib import Path

    if config.truth:
        path = Path(config.truth)
        if not path.is_file():
            raise LabInputError(f"{path.name}: no such truth file; give a truth.json with 'names' and 'membership'.")
    elif config.source == "files" and config.inputs:
        path = Path(config.inputs[0]).parent / "truth.json"
        try:
            files = json.loads(path.read_text()).get("files", []) if path.is_file() else []
        except (OSError, ValueError, AttributeError):
            files = []
        if Path(config.inputs[0]).name not in files:
            return None
    else:
        return None
    found = truth_from_json(path)
    if found is None and config.truth:
        raise LabInputError(f"{path.name} is not a truth file; give 'names' and 'membership' (epochs x neurons).")
    return found


def truth_from_json(path: Any) -> Truth | None:
    """A :class:`Truth` from a ``truth.json`` (``names``, ``membership`` (E, N), optional ``epoch_frames``)."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text())
        membership = np.asarray(doc["membership"], dtype=int)
        names = [str(x) for x in doc["names"]]
        bounds = doc.get("epoch_frames") or []
        epochs = None
        if bounds:
            epochs = np.full(int(bounds[-1][1]), -1, dtype=int)
            for e, (lo, hi) in enumerate(bounds):
                epochs[int(lo) : int(hi)] = e
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if membership.ndim != 2 or membership.shape[1] != len(names):
        return None
    return Truth(names, membership, epochs)
