"""The shipped pointer checkpoints (``assets/checkpoints/pointer/*.pt``, each with its JSON card).

``available()`` lists them; ``load(name_or_path)`` builds the model its card describes and loads the
weights with ``torch.load(weights_only=True)`` (via :mod:`lab.core.checkpoints`), refusing a
checkpoint whose card says it is a different task or model than asked for. ``load_cached`` keeps a
loaded model while its file is unchanged (keyed by the file's mtime), for the page and repeated solves;
``untrained`` is a model with random weights (torch seed 0), to watch the mechanism alone.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lab.core.checkpoints import load_checkpoint
from lab.core.checkpoints import read_card as _read_card
from lab.core.errors import LabInputError
from lab.pointer.models import build_model

log = logging.getLogger(__name__)

ZOO_DIR = Path(__file__).resolve().parents[2] / "assets" / "checkpoints" / "pointer"
#: ``checkpoint`` value of a model with random weights (``untrained``).
UNTRAINED = "untrained"


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
        except LabInputError as err:
            log.warning("not offering the checkpoint %s: %s", path, err)
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
    net.card = _gaps_as_fractions(card)
    return net.eval()


def default_name(task: str, model: str | None = None, n: int | None = None) -> str | None:
    """The preferred shipped checkpoint for a task, or None.

    TSP: the attention model first -- the one trained on TSP50 when ``n`` is given and above 35, else the
    TSP20 one -- then the Ptr-Net. Above 100 nodes, the TSP50 model *before* its POMO fine-tune
    (``am_tsp50_imitation``) comes first: measured (README, Pointer tours), the fine-tune cut the greedy gap
    at n = 50 from 10.0 to 2.8 % and helped the greedy pass up to 200 nodes and on TSPLIB, but POMO x 8 stayed
    worse on TSPLIB's 201-318-node instances (slightly worse at 101-200, better at 51-100), polished as well
    as model-only above 100 nodes, and so did the greedy pass at n = 500.
    """
    names = {e.name: e for e in available()}
    for name in preference(task, n):
        if name in names and (model is None or names[name].model == model):
            return name
    return None


def preference(task: str, n: int | None = None) -> list[str]:
    """Shipped checkpoint names for ``task`` at ``n`` points, best first (the order :func:`default_name` uses)."""
    big = n is not None and n > 35
    am = ["am_tsp50", "am_tsp20"] if big else ["am_tsp20", "am_tsp50"]
    if n is not None and n > 100:
        am = ["am_tsp50_imitation", *am]
    return {"tsp": [*am, "ptrnet_tsp"], "hull": ["ptrnet_hull"], "delaunay": ["ptrnet_delaunay"]}.get(task, [])


def read_card(path: str | Path) -> dict[str, Any]:
    """A checkpoint's card, with gaps as fractions everywhere.

    Cards written before gaps were fractions hold ``gap_pct_<method>_n<n>`` (percent); they are read as
    ``gap_<method>_n<n>`` (fraction), so old and new cards compare directly.
    """
    return _gaps_as_fractions(_read_card(path))


def _gaps_as_fractions(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, str) and key.startswith("gap_pct_") and isinstance(item, int | float):
                out["gap_" + key.removeprefix("gap_pct_")] = item / 100
            else:
                out[key] = _gaps_as_fractions(item)
        return out
    if isinstance(value, list):
        return [_gaps_as_fractions(v) for v in value]
    return value


def card_model(checkpoint: str | Path) -> str:
    """The model kind ("am" or "ptrnet") a checkpoint's card records (``untrained``: the Ptr-Net)."""
    if str(checkpoint) == UNTRAINED:
        return "ptrnet"
    kind = read_card(resolve(checkpoint)).get("architecture", {}).get("model")
    if kind not in ("am", "ptrnet"):
        raise LabInputError(f"{checkpoint}: its card names no pointer model (got {kind!r}); pass a pointer checkpoint.")
    return str(kind)


def trained_range(checkpoint: str | Path | None) -> tuple[int, int] | None:
    """The n range a checkpoint was trained on, from its card (None if unknown)."""
    if not checkpoint or str(checkpoint) == UNTRAINED:
        return None
    try:
        rng = read_card(resolve(checkpoint)).get("trained_n", [])
    except LabInputError:
        return None
    return (int(rng[0]), int(rng[1])) if len(rng) >= 2 else None


def has_start_head(checkpoint: str | Path | None) -> bool:
    """Whether a checkpoint's card says it carries a start head (:mod:`lab.pointer.start_head`)."""
    if not checkpoint or str(checkpoint) == UNTRAINED:
        return False
    try:
        return bool(read_card(resolve(checkpoint)).get("architecture", {}).get("start_head", False))
    except LabInputError:
        return False


def stamp(checkpoint: str | Path | None) -> str:
    """What identifies a checkpoint's weights now (path and mtime): results computed with it are keyed by it."""
    if not checkpoint or str(checkpoint) == UNTRAINED:
        return str(checkpoint or "")
    try:
        path = resolve(checkpoint)
        return f"{path}@{path.stat().st_mtime_ns}"
    except (LabInputError, OSError):
        return str(checkpoint)


_CACHE: OrderedDict[tuple, torch.nn.Module] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def _cached(key: tuple, make) -> torch.nn.Module:
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    net = make()
    with _CACHE_LOCK:
        _CACHE[key] = net
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return net


def load_cached(name_or_path: str | Path, task: str | None = None, model: str | None = None,
                device: str = "cpu") -> torch.nn.Module:
    """:func:`load`, on ``device``, kept while the file is unchanged: a re-saved checkpoint loads afresh.

    The model is shared: callers decode with it (``decoding.decode`` leaves it as it found it) and never
    train it or move it to another device.
    """
    path = resolve(name_or_path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise LabInputError(f"{path.name}: no such checkpoint file; check the path.") from None
    key = (str(path.resolve()), mtime, task, model, device)
    return _cached(key, lambda: load(path, task=task, model=model).to(device))


def untrained(task: str, model: str = "ptrnet", device: str = "cpu") -> torch.nn.Module:
    """A model with random weights (torch seed 0, without touching the global generator), cached."""

    def make() -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            arch = {"model": model, "task": task}
            return build_model(arch).eval().to(device)

    return _cached((UNTRAINED, task, model, device), make)
