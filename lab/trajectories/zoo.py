"""Shipped checkpoints (``assets/checkpoints/trajectories/``), made by ``scripts/train_trajectories.py`` on
simulated scenes only, and user checkpoints written by ``dynlab traj train -o``. Loading reads the JSON card
first and the weights with ``torch.load(weights_only=True)``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lab.core.checkpoints import load_checkpoint, read_card
from lab.core.errors import LabInputError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "trajectories"
SHIPPED = {"group": ASSETS / "group.pt", "seq": ASSETS / "seq.pt", "nri": ASSETS / "springs_nri.pt"}


def checkpoint_model(path: str | Path) -> str:
    """Which model a checkpoint holds (``group`` or ``seq``), from its card."""
    return str(read_card(path)["architecture"].get("model", ""))


def _shipped(name: str) -> Path:
    path = SHIPPED[name]
    if not path.exists():
        raise LabInputError(f"no shipped {name} checkpoint at {path}; train one with `dynlab traj train "
                            f"--model {name} -o CK.pt` and pass --checkpoint CK.pt.")
    return path


@lru_cache(maxsize=8)
def _load_model(path: str, mtime: float, name: str):
    from lab.trajectories.models import build

    state, card = load_checkpoint(path, {"model": name})
    model = build(card["architecture"])
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise LabInputError(f"{Path(path).name} does not match its card's architecture; re-train it.") from None
    return model.eval()


def load_model(name: str, path: str | Path | None = None):
    """The ``group`` or ``seq`` model from ``path`` or the shipped checkpoint (cached, in eval mode)."""
    path = Path(path) if path else _shipped(name)
    if not path.exists():
        raise LabInputError(f"{path.name}: no such checkpoint file; check the path.")
    return _load_model(str(path), path.stat().st_mtime, name)


@lru_cache(maxsize=2)
def _load_nri(path: str, mtime: float):
    from lab.trajectories.nri import SpringsNRI

    state, card = load_checkpoint(path, {"model": "springs_nri"})
    arch = card["architecture"]
    model = SpringsNRI(int(arch["window"]), int(arch["hidden"]), int(arch["edge_types"]),
                       bool(arch.get("projections", False)), bool(arch.get("pair_fit", False)))
    model.load_state_dict(state)
    return model.eval()


def load_nri(path: str | Path | None = None):
    """The springs NRI model from ``path`` or the shipped checkpoint."""
    path = Path(path) if path else _shipped("nri")
    if not path.exists():
        raise LabInputError(f"{path.name}: no such checkpoint file; check the path.")
    return _load_nri(str(path), path.stat().st_mtime)


def card(name: str) -> dict:
    """The JSON card of a shipped checkpoint ({} when it is not there)."""
    path = SHIPPED[name]
    return read_card(path) if path.exists() else {}
