"""The five labs: what each is, where its page lives, and how a saved run is re-run.

Re-runners are named as ``"module:function"`` strings so that listing labs imports no heavy module.
A re-runner takes a config dict and returns ``(metrics, artifacts)`` like the lab's own job.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LabInfo:
    key: str
    title: str
    question: str
    papers: tuple[str, ...]
    icon: str  # a Material Symbols name, e.g. ":material/route:"
    page: str  # file under pages/
    rerun: str | None = None  # "module:function", None while the lab is not built
    built: bool = False


LABS: tuple[LabInfo, ...] = (
    LabInfo(
        "pointer",
        "Pointer tours",
        "Can attention point at its inputs to solve convex hull, Delaunay and TSP - how close to optimal, how far beyond the training size?",
        ("Vinyals et al. 2015, Pointer Networks", "Kool et al. 2019, Attention, Learn to Solve Routing Problems!", "Kwon et al. 2020, POMO"),
        ":material/route:",
        "pages/pointer.py",
        rerun="lab.pointer.service:rerun",
        built=True,
    ),
    LabInfo(
        "routing",
        "Routing & early exits",
        "Which inputs and tokens get how much compute, and what does that buy?",
        ("Teerapittayanon et al. 2016, BranchyNet", "JEI-DNN", "Dynamic Confidence", "Duo-LLM small/big/skip routes"),
        ":material/alt_route:",
        "pages/routing.py",
    ),
    LabInfo(
        "connectome",
        "Dynamic connectome",
        "Which neurons work together, and when?",
        ("Dyballa et al. 2024, Learning dynamic representations of the functional connectome",),
        ":material/hub:",
        "pages/connectome.py",
        rerun="lab.connectome.pipeline:rerun",
        built=True,
    ),
    LabInfo(
        "kvcache",
        "KV-cache physics",
        "What happens to attention routing when the KV cache is compressed, and where is the cliff?",
        ("Physics of KV-cache compression (2026)", "Meta-Soft attention flow"),
        ":material/memory:",
        "pages/kvcache.py",
    ),
    LabInfo(
        "trajectories",
        "Trajectory groups",
        "Who moves with whom, and does knowing it improve prediction?",
        ("Xu et al. 2022, DynGroupNet", "Kipf et al. 2018, NRI"),
        ":material/groups:",
        "pages/trajectories.py",
    ),
)

LAB_KEYS: tuple[str, ...] = tuple(info.key for info in LABS)


def lab_info(key: str) -> LabInfo:
    for info in LABS:
        if info.key == key:
            return info
    raise KeyError(key)


def resolve(target: str) -> Callable[..., Any]:
    """Import ``"module:function"`` and return the function."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def rerunner(lab: str) -> Callable[[dict[str, Any]], tuple[dict[str, Any], dict[str, Any]]] | None:
    info = lab_info(lab)
    return resolve(info.rerun) if info.rerun else None
