"""Checkpoints: a torch ``state_dict`` file next to a JSON card.

The card (``<name>.json`` beside ``<name>.pt``) records the architecture, how it was trained (script,
command, seed) and measured metrics. Loading checks the card's architecture fields against what the
caller expects *before* touching the weights, and loads with ``weights_only=True`` (no pickle code).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lab.core.errors import LabInputError
from lab.core.files import atomic_write_bytes, atomic_write_json
from lab.core.inputs import read_json


def card_path(weights_path: str | Path) -> Path:
    return Path(weights_path).with_suffix(".json")


def state_dict_bytes(state_dict: Mapping[str, Any]) -> bytes:
    """``state_dict`` as the bytes of a ``.pt`` file (tensors detached, on the CPU)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buffer)
    return buffer.getvalue()


def save_checkpoint(path: str | Path, state_dict: Mapping[str, Any], card: Mapping[str, Any]) -> Path:
    """Write ``state_dict`` to ``path`` (``.pt``) and ``card`` to the ``.json`` beside it, atomically.

    ``card`` must contain an ``"architecture"`` mapping (e.g. ``{"model": "ptrnet", "hidden": 128}``).
    """
    if "architecture" not in card or not isinstance(card["architecture"], Mapping):
        raise ValueError("a checkpoint card needs an 'architecture' mapping")
    path = Path(path)
    atomic_write_bytes(path, state_dict_bytes(state_dict))
    atomic_write_json(card_path(path), dict(card))
    return path


def read_card(path: str | Path) -> dict[str, Any]:
    """Read the JSON card of a checkpoint (``path`` may be the ``.pt`` or the ``.json``)."""
    cpath = card_path(path)
    if not cpath.exists():
        raise LabInputError(f"{Path(path).name} has no card {cpath.name} beside it; keep the .json card with the weights.")
    card = read_json(cpath)
    if not isinstance(card, dict) or not isinstance(card.get("architecture"), dict):
        raise LabInputError(f"{cpath.name} is not a checkpoint card (no 'architecture' section); use a card written by dynlab.")
    return card


def load_checkpoint(
    path: str | Path, expected_architecture: Mapping[str, Any] | None = None, map_location: str = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load a checkpoint's ``state_dict`` and card.

    Parameters
    ----------
    path
        The ``.pt`` file.
    expected_architecture
        Fields the card's ``architecture`` must match exactly (e.g. ``{"model": "ptrnet", "task": "hull"}``);
        a mismatch raises :class:`LabInputError` naming the field, and the weights are not read.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise LabInputError(f"{path.name}: no such checkpoint file; check the path.")
    card = read_card(path)
    arch = card["architecture"]
    for key, want in (expected_architecture or {}).items():
        have = arch.get(key)
        if have != want:
            raise LabInputError(
                f"{path.name} is a checkpoint for {key}={have!r}, not {key}={want!r}; choose a matching checkpoint."
            )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise LabInputError(f"{path.name} could not be loaded as torch weights ({type(err).__name__}); re-save it with dynlab.") from None
    if not isinstance(state, dict):
        raise LabInputError(f"{path.name} does not hold a state_dict; re-save it with dynlab.")
    return state, card
