"""Progress reporting for long work (training, sweeps, factorizations).

Work receives an optional callback and calls it as ``callback(step, total, metrics)``. The callback
returns ``True`` to ask the work to stop; the work then stops at the next safe point and returns
what it has (a partial result is a result, not an error). ``report`` hides the ``None`` case.

Example
-------
>>> def train(steps, on_progress=None):
...     for step in range(1, steps + 1):
...         loss = 1.0 / step
...         if report(on_progress, step, steps, {"loss": loss}):
...             break
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class ProgressCallback(Protocol):
    def __call__(self, step: int, total: int, metrics: Mapping[str, float]) -> bool | None:
        """Receive progress; return True to request that the work stops."""


def report(
    callback: ProgressCallback | None, step: int, total: int, metrics: Mapping[str, float] | None = None
) -> bool:
    """Call ``callback`` if there is one; return True when the work should stop."""
    if callback is None:
        return False
    return bool(callback(step, total, dict(metrics or {})))


class TextProgress:
    """A progress callback for the CLI's foreground jobs, on stderr by default.

    On a terminal it redraws one bar in place (``\\r``); on a pipe or a file it writes a plain line at
    most every ``every`` seconds (and the last step), so ``dynlab ... 2>log`` stays readable.
    """

    def __init__(self, label: str, stream=None, width: int = 30, every: float = 5.0) -> None:
        import sys

        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.every = every
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self._open = False
        self._last = float("-inf")

    def __call__(self, step: int, total: int, metrics: Mapping[str, float]) -> bool:
        import time

        shown = "  ".join(f"{k}={v:.4g}" for k, v in list(metrics.items())[:4] if isinstance(v, int | float))
        done = total > 0 and step >= total
        if self.tty:
            frac = 0.0 if total <= 0 else min(1.0, step / total)
            filled = int(round(frac * self.width))
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {step}/{total} {shown}")
            self._open = not done
            if done:
                self.stream.write("\n")
        else:
            now = time.monotonic()
            if not done and now - self._last < self.every:
                return False
            self._last = now
            self.stream.write(f"{self.label}: {step}/{total} {shown}\n")
        self.stream.flush()
        return False

    def finish(self) -> None:
        """End the bar's line if the work stopped before its last step (converged early, or stopped)."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False
