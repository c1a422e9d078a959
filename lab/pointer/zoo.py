"""The shipped pointer checkpoints (``assets/checkpoints/pointer/*.pt``, each with its JSON card).

``available()`` lists them; ``load(name_or_path)`` builds the model its card describes and loads the
weights with ``torch.load(weights_only=True)`` (via :mod:`lab.core.checkpoints`), refusing a
checkpoint whose card says it is a different task or model than asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lab.core.checkpoints import load_checkpoint, read_card
from lab.core.errors import LabInputError
from lab.pointer.models import build_model

ZOO_DIR = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "pointer"


@dataclass(frozen=True)
class ZooEntry:
    """A shipped checkpoint: ``name`` is the file stem (e.g. ``ptrnet_hull``)."""

    name: str
    task: str
    model: str
    path: Path
    card: dict[str, Any]


def available(folder: str | Path | None = None) -> list[ZooEntry]:
    """Shipped checkpoints that have a readable card, sorted by name."""
    folder = Path(folder) if folder is not None else ZOO_DIR
    entries = []
    for path in sorted(folder.glob("*.pt")):
        try:
            card = read_card(path)
        except LabInputError:
            continue  # a half-copied or foreign file is not offered
        arch = card["architecture"]
        entries.append(ZooEntry(path.stem, str(arch.get("task")), str(arch.get("model")), path, card))
    return entries


def resolve(name_or_path: str | Path, folder: str | Path | None = None) -> Path:
    """A zoo name (``am_tsp20``) or a path to a ``.pt`` file -> the ``.pt`` path."""
    path = Path(name_or_path)
    if path.suffix in (".pt", ".json") or path.exists():
        return path.with_suffix(".pt")
    for entry in available(folder):
        if entry.name == str(name_or_path):
            return entry.path
    names = ", ".join(e.name for e in available(folder)) or "none shipped"
    raise LabInputError(f"no checkpoint named {name_or_path!r}; choose one of: {names}, or give a .pt path.")


def load(name_or_path: str | Path, task: str | None = None, model: str | None = None,
         folder: str | Path | None = None) -> torch.nn.Module:
    """Build and load a pointer model from a zoo name or a checkpoint path.

    Parameters
    ----------
    task, model : str, optional
        When given, the card's architecture must say the same (else :class:`LabInputError`).

    Returns
    -------
    torch.nn.Module
        A :class:`~lab.pointer.models.PointerNetwork` or :class:`~lab.pointer.models.AttentionModel`
        in eval mode, with ``.card`` set to its card.
    """
    path = resolve(name_or_path, folder)
    expected = {k: v for k, v in (("task", task), ("model", model)) if v is not None}
    state, card = load_checkpoint(path, expected_architecture=expected)
    net = build_model(card["architecture"])
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise LabInputError(
            f"{path.name}: the weights do not match the architecture in its card; re-train or re-save it with dynlab."
        ) from None
    net.card = card
    return net.eval()


def default_name(task: str, model: str | None = None, n: int | None = None) -> str | None:
    """The preferred shipped checkpoint for a task, or None.

    TSP: the attention model first -- the one trained on TSP50 when ``n`` is given and above 35,
    else the TSP20 one -- then the Ptr-Net.
    """
    big = n is not None and n > 35
    am = ["am_tsp50", "am_tsp20"] if big else ["am_tsp20", "am_tsp50"]
    prefs = {"tsp": [*am, "ptrnet_tsp"], "hull": ["ptrnet_hull"], "delaunay": ["ptrnet_delaunay"]}
    names = {e.name: e for e in available()}
    for name in prefs.get(task, []):
        if name in names and (model is None or names[name].model == model):
            return name
    return None
