"""Shared machinery for every lab: devices, seeds, progress, run store, checkpoints, inputs, jobs."""

from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report

__all__ = ["LabInputError", "ProgressCallback", "report"]
