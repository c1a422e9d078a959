"""The labs, found by looking for ``LAB = LabSpec(...)`` in every package under ``lab/``.

``lab/core`` holds the mechanism only: it never names a lab. A package under ``lab/`` is a lab when its
``__init__`` defines ``LAB``; the labs are listed in their declared ``order``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import cache

import lab
from lab.core.errors import LabInputError
from lab.core.labs import LabSpec, Verb, resolve

log = logging.getLogger(__name__)

__all__ = ["LabSpec", "Verb", "labs", "lab_info", "lab_keys", "resolve"]


@cache
def labs() -> tuple[LabSpec, ...]:
    """Every declared lab, in order."""
    found = []
    for module in pkgutil.iter_modules(lab.__path__):
        if not module.ispkg or module.name == "core":
            continue
        package = importlib.import_module(f"lab.{module.name}")
        spec = getattr(package, "LAB", None)
        if isinstance(spec, LabSpec):
            if spec.key != module.name:
                log.warning("lab.%s declares key %r; its package name is used as its key", module.name, spec.key)
            found.append(spec)
    return tuple(sorted(found, key=lambda s: (s.order, s.key)))


def lab_keys() -> tuple[str, ...]:
    return tuple(spec.key for spec in labs())


def lab_info(key: str) -> LabSpec:
    for spec in labs():
        if key == spec.key or key in spec.aliases:
            return spec
    raise LabInputError(f"unknown lab {key!r}; known labs: {', '.join(lab_keys())}.")


def __getattr__(name: str):  # LABS / LAB_KEYS as attributes, computed on first use
    if name == "LABS":
        return labs()
    if name == "LAB_KEYS":
        return lab_keys()
    raise AttributeError(name)
