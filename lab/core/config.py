"""The base of every lab's config: validated once, frozen after, JSON round trip exact.

A lab's config is a frozen dataclass deriving from :class:`LabConfig`::

    @dataclass(frozen=True)
    class SolveConfig(LabConfig):
        task: str = "tsp"
        seed: int = 0

        def __post_init__(self) -> None:
            super().__post_init__()          # seed >= 0, device known, when the config has them
            self.check_choice("task", TASKS)  # one sentence, LabInputError, on a bad value
            self.normalise("eval_ns", tuple(self.eval_ns))  # the only way to touch a field, here only

Defaults live in the config and nowhere else: the CLI and the pages read them with
:meth:`LabConfig.default`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from lab.core.errors import LabInputError

C = TypeVar("C", bound="LabConfig")


@dataclass(frozen=True)
class LabConfig:
    """Base of the config dataclasses of every lab verb (subclasses are ``@dataclass(frozen=True)``)."""

    def __post_init__(self) -> None:
        names = self.field_names()
        if "seed" in names:
            seed = self.seed  # type: ignore[attr-defined]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise LabInputError(f"seed is {seed!r}; use a non-negative integer.")
        if "device" in names:
            from lab.core.device import DEVICE_CHOICES

            self.check_choice("device", DEVICE_CHOICES)

    # -- validation helpers, for __post_init__ ---------------------------------------------------
    def check_choice(self, name: str, options: Iterable[Any], *, what: str | None = None) -> None:
        """Raise a one-sentence :class:`LabInputError` unless field ``name`` is one of ``options``."""
        check_choice(what or name.replace("_", " "), getattr(self, name), options)

    def normalise(self, name: str, value: Any) -> None:
        """Set a field while validating (``__post_init__`` only): the config is frozen after that."""
        object.__setattr__(self, name, value)

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of field ``name`` (what the CLI and the page show before anyone changes it)."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                if f.default is not dataclasses.MISSING:
                    return f.default
                if f.default_factory is not dataclasses.MISSING:
                    return f.default_factory()
                raise KeyError(f"{cls.__name__}.{name} has no default")
        raise KeyError(f"{cls.__name__} has no field {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists); :meth:`from_dict` gives back an equal config."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], *, strict: bool = False) -> C:
        """Build from a dict such as ``to_dict()`` wrote; unknown keys are ignored unless ``strict``."""
        if not isinstance(data, dict):
            raise LabInputError(f"a {cls.__name__} must be a JSON object, got {type(data).__name__}.")
        hints = typing.get_type_hints(cls)
        names = cls.field_names()
        unknown = sorted(set(data) - set(names))
        if strict and unknown:
            raise LabInputError(f"{cls.__name__} has no field {unknown[0]!r}; its fields are {', '.join(names)}.")
        kwargs = {k: _from_json(v, hints.get(k)) for k, v in data.items() if k in names}
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise LabInputError(f"{cls.__name__}: {err}; check the config's values.") from None

    def replace(self: C, **changes: Any) -> C:
        """A validated copy with some fields changed (configs are never changed in place)."""
        return dataclasses.replace(self, **changes)


def check_choice(what: str, value: Any, options: Iterable[Any]) -> None:
    """``unknown task 'x'; choose one of tsp, hull, delaunay.`` as a :class:`LabInputError`."""
    options = tuple(options)
    if value not in options:
        raise LabInputError(f"unknown {what} {value!r}; choose one of {', '.join(str(o) for o in options)}.")


def parse_bool(text: str) -> bool:
    """``true/1/yes/on`` or ``false/0/no/off`` (any case), as written on a command line or in a URL."""
    if text.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if text.strip().lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"'{text}' is not true or false")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _from_json(value: Any, hint: Any) -> Any:
    """Undo :func:`_jsonable` for one field: lists back to tuples where the field is a tuple."""
    if hint is None or value is None:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            if (typing.get_origin(arg) or arg) is tuple and isinstance(value, list):
                return tuple(value)
        return value
    if (origin or hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value
