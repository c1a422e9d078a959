"""Where a verb's scenes come from: a simulator, files named in the config, or an upload (the verb's ``data``).

``source``: ``crowd`` or ``springs`` (simulated, seeded by the config's seed), ``files`` (``inputs``: paths of
ETH/UCY or CSV scenes, ground truth read from a sidecar when present), ``upload`` (``data``: a Scene or a
list of Scenes already read by the page).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lab.core.errors import LabInputError
from lab.trajectories.data import Scene, load_scene
from lab.trajectories.simulate import SimulateConfig, simulate

SOURCES = ("crowd", "springs", "files", "upload")


def check_source(source: str, inputs: tuple[str, ...]) -> None:
    if source not in SOURCES:
        raise LabInputError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}.")
    if source == "files" and not inputs:
        raise LabInputError("source 'files' needs at least one input file; pass --input FILE.")


def load_scenes(source: str, inputs: tuple[str, ...], data: Any, *, agents: int, steps: int, seed: int,
                count: int = 1) -> list[Scene]:
    """The scenes a verb works on (``count`` simulated scenes with seeds ``seed, seed + 1, ...``)."""
    if source in ("crowd", "springs"):
        return [simulate(SimulateConfig(kind=source, agents=agents, steps=steps, seed=seed + k)) for k in range(count)]
    if source == "files":
        return [load_scene(path) for path in inputs]
    if data is None:
        raise LabInputError("source 'upload' needs an uploaded scene; choose a file first.")
    scenes = data if isinstance(data, list | tuple) else [data]
    if not all(isinstance(s, Scene) for s in scenes):
        raise LabInputError("the uploaded data is not a scene; upload an ETH/UCY text file or a CSV.")
    return list(scenes)


def observed_history(scene: Scene, frame: int, obs: int) -> tuple[np.ndarray, np.ndarray]:
    """The agents present at frame index ``frame`` and their last ``obs`` positions (obs, N, 2).

    Steps before an agent appeared (or missing inside the window) are filled by extrapolating its
    velocity backwards, so an agent seen for a few steps still gets a history; one seen once stands still.
    """
    agents = np.nonzero(scene.present[frame])[0]
    lo = frame - obs + 1
    hist = np.full((obs, len(agents), 2), np.nan)
    src_lo = max(lo, 0)
    hist[src_lo - lo:] = scene.pos[src_lo:frame + 1, agents]
    for t in range(obs - 2, -1, -1):
        missing = ~np.isfinite(hist[t, :, 0])
        if missing.any():
            nxt = hist[t + 1]
            after = hist[t + 2] if t + 2 < obs else nxt
            hist[t, missing] = (2 * nxt - after)[missing]
    return agents, hist
