"""The ``groups`` verb: inferred groups of every frame and, where ground truth exists, the per-frame ARI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.trajectories.data import Scene, attach_groups
from lab.trajectories.grouping import METHODS, Relations, scene_groups
from lab.trajectories.metrics import frame_ari
from lab.trajectories.scenes import check_source, load_scenes


@dataclass(frozen=True)
class GroupsConfig(LabConfig):
    """Groups per frame by ``method`` (``model``: the group model's relations; ``rule``: distance/velocity).

    ``truth``: a ground-truth file (sidecar ``frame,agent,group`` CSV or ``groups.txt``) for files that have
    none beside them. ``checkpoint``: a group model to use instead of the shipped one.
    """

    source: str = "crowd"
    inputs: tuple[str, ...] = ()
    truth: str = ""
    agents: int = 20
    frames: int = 200
    method: str = "model"
    obs: int = 8
    checkpoint: str = ""
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_source(self.source, self.inputs)
        self.normalise("inputs", tuple(self.inputs))
        self.check_choice("method", METHODS)
        if self.obs < 2 or self.agents < 2 or self.frames < 2:
            raise LabInputError("obs, agents and frames must be 2 or more.")


def _labels_to_groups(scene: Scene, labels: np.ndarray, f: int) -> list[list]:
    members = np.nonzero(labels[f] >= 0)[0]
    groups: dict[int, list] = {}
    for a in members:
        groups.setdefault(int(labels[f, a]), []).append(scene.agents[a])
    return sorted((sorted(g, key=str) for g in groups.values()), key=lambda g: str(g[0]))


@dataclass
class GroupsResult:
    config: GroupsConfig
    scene: Scene
    labels: np.ndarray  # (F, A)
    relations: dict[int, Relations]
    ari: float | None
    ari_rule: float | None
    per_frame_ari: np.ndarray | None
    seconds: float
    stopped: bool = False
    notes: list[str] = field(default_factory=list)

    def frames(self) -> list[dict[str, Any]]:
        present = self.labels >= 0
        return [{"frame": int(self.scene.frames[f]), "groups": _labels_to_groups(self.scene, self.labels, f)}
                for f in range(self.scene.shape[0]) if present[f].any()]

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frames": int((self.labels >= 0).any(1).sum()), "agents": self.scene.shape[1]}
        if self.ari is not None:
            out["ari"] = self.ari
            out["ari_rule"] = self.ari_rule
        present = self.labels >= 0
        sizes = [len(np.unique(self.labels[f, present[f]])) for f in range(len(present)) if present[f].any()]
        out.update(mean_groups_per_frame=float(np.mean(sizes)) if sizes else 0.0, seconds=self.seconds,
                   stopped_early=self.stopped)
        return out

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"frames": self.frames()}
        if self.ari is not None:
            doc["ari"] = self.ari
        return doc

    def csv(self) -> str:
        """``frame,agent,group`` of every present agent (the inferred groups)."""
        lines = ["frame,agent,group"]
        for f, a in zip(*np.nonzero(self.labels >= 0), strict=True):
            lines.append(f"{int(self.scene.frames[f])},{self.scene.agents[a]},{int(self.labels[f, a])}")
        return "\n".join(lines) + "\n"

    def artifacts(self) -> dict[str, str]:
        return {"groups.csv": self.csv()}

    def title(self) -> str:
        return f"trajectories: groups by {self.config.method}"


def run_groups(config: GroupsConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> GroupsResult:
    start = time.perf_counter()
    scene = load_scenes(config.source, config.inputs[:1], data, agents=config.agents, steps=config.frames,
                        seed=config.seed)[0]
    if config.truth:
        attach_groups(scene, config.truth)
    model = None
    if config.method == "model":
        from lab.trajectories.zoo import load_model

        model = load_model("group", config.checkpoint or None)
    stopped = []

    def on_chunk(done: int, total: int) -> bool:
        stop = report(on_progress, done, total, {})
        if stop:
            stopped.append(True)
        return stop

    labels, relations = scene_groups(scene, config.method, model, config.obs, device=config.device, on_chunk=on_chunk)
    ari = ari_rule = per = None
    if scene.groups is not None:
        known = (labels >= 0) & (scene.groups >= 0)
        ari, per = frame_ari(scene.groups, labels, known)
        if config.method == "rule":
            ari_rule = ari
        elif not stopped:
            rule, _ = scene_groups(scene, "rule", None, config.obs)
            ari_rule = frame_ari(scene.groups, rule, known)[0]
    return GroupsResult(config, scene, labels, relations, ari, ari_rule, per, time.perf_counter() - start,
                        bool(stopped))
