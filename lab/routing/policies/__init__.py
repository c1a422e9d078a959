"""Exit policies, one per file, behind the ``POLICIES`` registry.

A new policy is a small class subclassing :class:`ExitPolicy` that overrides ``stop`` (and, if its
threshold is not a confidence in [0, 1], ``thresholds``); add it to ``POLICIES`` and the shared tests
(monotone thresholds, shapes) and every figure pick it up.
"""

from __future__ import annotations

from lab.core.errors import LabInputError
from lab.routing.policies.base import (
    CONFIDENCE_GRID,
    ExitOutputs,
    ExitPolicy,
    first_crossing,
    normalised_entropy,
)
from lab.routing.policies.entropy import Entropy
from lab.routing.policies.gate import LearnedGate
from lab.routing.policies.max_prob import MaxProb
from lab.routing.policies.oracle import Oracle
from lab.routing.policies.patience import Patience

POLICIES: dict[str, type[ExitPolicy]] = {p.name: p for p in (MaxProb, Entropy, Patience, LearnedGate, Oracle)}


def make_policy(name: str) -> ExitPolicy:
    """The policy registered as ``name``."""
    if name not in POLICIES:
        raise LabInputError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}.")
    return POLICIES[name]()


__all__ = ["CONFIDENCE_GRID", "POLICIES", "ExitOutputs", "ExitPolicy", "first_crossing", "make_policy",
           "normalised_entropy"]
