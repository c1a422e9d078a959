"""What decides a connectome run: :class:`ConnectomeConfig` (the ``run`` verb) and :class:`ScanConfig` (``scan``).

Both are checked on construction: a bad value raises :class:`LabInputError` with one sentence saying what to
give instead. The defaults live here only; the CLI and the page read them from the classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab.connectome.affinities import AFFINITIES, make_affinity
from lab.connectome.cohort import LAYOUTS, parse_neurons
from lab.connectome.communities import METHODS
from lab.connectome.data import plural
from lab.connectome.synthetic import WormConfig
from lab.core.config import LabConfig
from lab.core.errors import LabInputError

SOURCES = ("synthetic", "files", "upload")


def _check_range(name: str, value: Any, lo: float, hi: float, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise LabInputError(f"{name} is {value!r}; {hint}.")


@dataclass(frozen=True)
class ConnectomeConfig(LabConfig):
    """Everything that decides a run (stored in the run store and in lab cards).

    ``source`` is ``"synthetic"`` (a worm made from ``worm``, every setting spelled out; its seed is ``seed``
    unless ``worm`` names its own, so a new seed is a new worm), ``"files"``
    (``inputs``: paths, one or more animals each, neurons matched by name; ``covariates``: one per-frame
    table per input, in the same order; ``truth``: a ``truth.json`` to score against, found beside the
    first input when it names that file) or ``"upload"`` (a recording passed as the verb's ``data``; it is
    not stored, so such a run cannot be re-run from its card).
    ``neurons`` is ``"common"`` (neurons identified in every animal) or ``"min:K"`` (in at least K animals,
    the rest masked); ``layout`` is ``"aligned"``, ``"independent"`` or ``"auto"`` (see
    :func:`lab.connectome.cohort.resolve_layout`).
    ``device`` is what was asked for (``auto``, ``cpu``, ``cuda``, ``mps``); :attr:`ntf_device` is what
    the NTF runs on (``cuda`` when asked for and present, else ``cpu``: tensorly has no MPS path here).
    """

    source: str = "synthetic"
    worm: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    truth: str | None = None
    series: str | None = None
    neurons: str = "common"
    layout: str = "auto"
    rank: int = 3
    window: int = 40
    step: int = 20
    affinity: str = "derivative-correlation"
    smooth: float = 1.0
    method: str = "leiden"
    resolution: float = 1.0
    n_iter_max: int = 300
    tol: float = 1e-5
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()  # seed, device
        self.check_choice("source", SOURCES)
        self.check_choice("affinity", AFFINITIES)
        self.check_choice("method", METHODS, what="community method")
        inputs = (self.inputs,) if isinstance(self.inputs, str) else self.inputs
        self.normalise("inputs", tuple(str(p) for p in inputs))
        covariates = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
        self.normalise("covariates", tuple(str(p) for p in covariates))
        if self.source == "files" and not self.inputs:
            raise LabInputError("source 'files' needs at least one input file.")
        if self.covariates and len(self.covariates) != len(self.inputs):
            raise LabInputError(f"{plural(len(self.covariates), 'covariate file')} for "
                                f"{plural(len(self.inputs), 'input file')}; give one covariate file per input, "
                                "in the same order.")
        parse_neurons(self.neurons)
        self.check_choice("layout", LAYOUTS)
        _check_range("rank", self.rank, 1, 200, "choose a rank between 1 and 200")
        _check_range("window", self.window, 3, 100_000, "use a window of at least 3 frames")
        _check_range("step", self.step, 1, 100_000, "use a step of at least 1 frame")
        _check_range("resolution", self.resolution, 0, 100, "use a positive value (1 = plain modularity)")
        if self.resolution == 0:
            raise LabInputError("resolution is 0; use a positive value (1 = plain modularity).")
        _check_range("n_iter_max", self.n_iter_max, 1, 100_000, "use 1 to 100000 iterations")
        make_affinity(self.affinity, smooth=self.smooth)  # validates smooth
        if not isinstance(self.worm, dict):
            raise LabInputError(f"worm must be a mapping of synthetic-worm settings, got {type(self.worm).__name__}.")
        unknown = sorted(set(self.worm) - set(WormConfig.field_names()))
        if unknown:
            raise LabInputError(f"unknown synthetic-worm setting {unknown[0]!r}; use {', '.join(WormConfig.field_names())}.")
        # every worm setting spelled out (a saved run names its worm in full), in a fresh dict nobody else holds;
        # the seed only when the worm was given its own (else it follows ``seed``, also after ``replace``)
        full = self.worm_config().to_dict()
        self.normalise("worm", {k: v for k, v in full.items() if k != "seed" or "seed" in self.worm})

    def worm_config(self) -> WormConfig:
        """The synthetic worm this config describes (validated)."""
        return WormConfig(**{"seed": self.seed, **self.worm})

    @property
    def ntf_device(self) -> str:
        """The device the NTF runs on: ``cuda`` when it was asked for (or ``auto`` found it), else ``cpu``."""
        if self.device == "cpu":
            return "cpu"
        from lab.core.device import resolve_device

        return "cuda" if resolve_device(self.device).name == "cuda" else "cpu"


@dataclass(frozen=True)
class ScanConfig(ConnectomeConfig):
    """A rank scan: the run's fields plus the ranks to try and the restarts per rank.

    ``rank`` is set to the largest scanned rank (what the scan goes up to), so it never tells two scans of the
    same ranks apart.
    """

    ranks: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    restarts: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        ranks = (self.ranks,) if isinstance(self.ranks, int) else self.ranks
        if not ranks or any(isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 200 for r in ranks):
            raise LabInputError(f"ranks are {list(ranks)}; list ranks between 1 and 200.")
        self.normalise("ranks", tuple(sorted(set(ranks))))
        self.normalise("rank", self.ranks[-1])
        _check_range("restarts", self.restarts, 1, 100, "use 1 to 100 restarts per rank")
