"""Choosing the torch device: ``auto`` picks cuda, then mps, then cpu; ``DYNLAB_DEVICE`` overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass

from lab.core.errors import LabInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceChoice:
    """The device that will be used and, in words, why."""

    name: str
    reason: str


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str | None = None) -> DeviceChoice:
    """Turn a requested device (``auto``/``cpu``/``cuda``/``mps``) into one that exists here.

    Parameters
    ----------
    requested
        What the user asked for. ``None`` means: ``DYNLAB_DEVICE`` if set, else ``auto``.

    Returns
    -------
    DeviceChoice
        ``name`` is a valid ``torch.device`` string; ``reason`` explains the choice.
    """
    source = "requested"
    if requested is None or requested == "":
        env = os.environ.get("DYNLAB_DEVICE", "").strip().lower()
        if env:
            requested, source = env, "DYNLAB_DEVICE"
        else:
            requested = "auto"
    requested = requested.lower()
    if requested not in DEVICE_CHOICES:
        raise LabInputError(f"Unknown device '{requested}'; choose one of {', '.join(DEVICE_CHOICES)}.")
    if requested == "auto":
        if _cuda_available():
            import torch

            return DeviceChoice("cuda", f"auto: CUDA GPU found ({torch.cuda.get_device_name(0)})")
        if _mps_available():
            return DeviceChoice("mps", "auto: Apple MPS found")
        return DeviceChoice("cpu", "auto: no CUDA or MPS device found")
    if requested == "cuda" and not _cuda_available():
        return DeviceChoice("cpu", f"{source} cuda, but no CUDA device is available; using cpu")
    if requested == "mps" and not _mps_available():
        return DeviceChoice("cpu", f"{source} mps, but MPS is not available; using cpu")
    return DeviceChoice(requested, f"{source} {requested}")
