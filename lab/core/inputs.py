"""Reading user files safely: size limits, no pickle, one clear sentence when something is wrong.

Every reader accepts a path, raw ``bytes`` or a binary file-like object (a Streamlit upload), so the
UI and the CLI share one validation path. Errors are :class:`LabInputError` naming the file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from lab.core.errors import LabInputError

#: Default upper bound on one user file, in bytes (override with ``DYNLAB_MAX_UPLOAD_MB``).
DEFAULT_MAX_BYTES = int(float(os.environ.get("DYNLAB_MAX_UPLOAD_MB", "200")) * 1024 * 1024)

Source = str | Path | bytes | IO[bytes]


def source_name(source: Source, name: str | None = None) -> str:
    """A short name for messages: the given name, the file name, or ``'the upload'``."""
    if name:
        return name
    if isinstance(source, str | Path):
        return Path(source).name
    return getattr(source, "name", None) or "the upload"


def read_bytes(source: Source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole user file into memory, refusing files over ``max_bytes`` or empty ones."""
    label = source_name(source, name)
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str | Path):
        path = Path(source)
        if not path.exists():
            raise LabInputError(f"{label}: no such file; check the path.")
        if path.is_dir():
            raise LabInputError(f"{label} is a folder; pass a file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise LabInputError(
                f"{label} is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; use a smaller file."
            )
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
    if len(data) > max_bytes:
        raise LabInputError(f"{label} is over the {max_bytes / 1e6:.0f} MB limit; use a smaller file.")
    if len(data) == 0:
        raise LabInputError(f"{label} is empty; choose a file with data in it.")
    return data


def read_text(source: Source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a user text file as UTF-8 (a BOM is accepted)."""
    data = read_bytes(source, name=name, max_bytes=max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LabInputError(
            f"{source_name(source, name)} is not UTF-8 text (byte {err.start}); save it as UTF-8 text."
        ) from None


def read_csv(
    source: Source,
    *,
    name: str | None = None,
    required_columns: tuple[str, ...] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
):
    """Read a CSV into a pandas DataFrame, checking required columns (case-insensitive).

    Column names are stripped of surrounding spaces. Raises :class:`LabInputError` on an
    unparsable file, no rows, or a missing required column.
    """
    import pandas as pd

    label = source_name(source, name)
    text = read_text(source, name=name, max_bytes=max_bytes)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python")
    except Exception as err:  # pandas raises many types; the person needs one sentence
        raise LabInputError(f"{label} could not be read as CSV ({str(err).splitlines()[0]}); check its format.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise LabInputError(f"{label} has a header but no rows; add data rows.")
    lower = {c.lower(): c for c in frame.columns}
    missing = [c for c in required_columns if c.lower() not in lower]
    if missing:
        raise LabInputError(
            f"{label} has no column {', '.join(repr(m) for m in missing)}; its columns are "
            f"{', '.join(frame.columns[:8])}{'...' if len(frame.columns) > 8 else ''}."
        )
    return frame.rename(columns={lower[c.lower()]: c for c in required_columns})


def read_npz(
    source: Source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> dict[str, np.ndarray]:
    """Read an ``.npz`` archive into a dict of arrays, never unpickling (``allow_pickle=False``)."""
    label = source_name(source, name)
    data = read_bytes(source, name=name, max_bytes=max_bytes)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as err:
        if "pickle" in str(err).lower():
            raise LabInputError(
                f"{label} holds Python objects (pickled arrays), which are never loaded; save plain numeric arrays."
            ) from None
        raise LabInputError(f"{label} is not a valid .npz archive ({err}); save it with numpy.savez.") from None
    except Exception as err:
        raise LabInputError(f"{label} is not a valid .npz archive ({type(err).__name__}); save it with numpy.savez.") from None


def read_json(source: Source, *, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Read a JSON document."""
    label = source_name(source, name)
    text = read_text(source, name=name, max_bytes=max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise LabInputError(f"{label} is not valid JSON (line {err.lineno}: {err.msg}); fix or re-export it.") from None


def require_finite(array: np.ndarray, what: str) -> np.ndarray:
    """Raise if ``array`` has NaN or infinite values; ``what`` names it in the message."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.number):
        raise LabInputError(f"{what} must be numeric, got {array.dtype}; check the file's values.")
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LabInputError(f"{what} has {int(bad.sum())} NaN or infinite values (first at index {first}); remove or fill them.")
    return array
