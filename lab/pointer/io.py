"""Instances in the formats people bring, and tours in the formats they take away.

Readers: TSPLIB ``.tsp`` (NODE_COORD_SECTION with EUC_2D, CEIL_2D, ATT or GEO distances), CSV
with ``x,y`` columns (an optional ``instance`` column holds several instances) and NPZ with key
``locs`` of shape (B, n, 2) (rl4co's convention). Writers: TSPLIB ``.tsp`` and ``.tour``, CSV.

Lengths are reported in the file's own units. For TSPLIB files they follow the file's distance
convention (TSPLIB 95, Reinelt 1995, and its FAQ for GEO), so a published optimum can be compared:

* EUC_2D: ``nint(sqrt(dx^2 + dy^2))`` with ``nint(x) = int(x + 0.5)``;
* CEIL_2D: ``ceil(sqrt(dx^2 + dy^2))``;
* ATT: pseudo-Euclidean, ``r = sqrt((dx^2 + dy^2) / 10)``, ``t = nint(r)``, ``t + 1 if t < r else t``;
* GEO: coordinates are DDD.MM (degrees and minutes); ``deg = int(x)`` (truncation),
  ``rad = pi * (deg + 5 * (x - deg) / 3) / 180`` with ``pi = 3.141592``, and
  ``d = int(6378.388 * acos(0.5 * ((1 + q1) * q2 - (1 - q1) * q3)) + 1)``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core.errors import LabInputError
from lab.core.inputs import Source, read_csv, read_npz, read_text, source_name

SUPPORTED_EDGE_WEIGHT_TYPES = ("EUC_2D", "CEIL_2D", "ATT", "GEO")
#: Plain floating-point Euclidean lengths (CSV, NPZ, random instances).
EUCLIDEAN = "EUCLIDEAN"
#: Largest instance accepted: distance matrices are dense (n x n), so memory grows with n^2.
MAX_POINTS = 5000


@dataclass
class Instance:
    """One planar instance.

    Attributes
    ----------
    name : str
    points : np.ndarray
        (n, 2) float64 coordinates in the file's own units.
    distance : str
        ``"EUCLIDEAN"`` (float lengths) or a TSPLIB EDGE_WEIGHT_TYPE from
        :data:`SUPPORTED_EDGE_WEIGHT_TYPES` (integer lengths by that convention).
    comment : str
        Free text (TSPLIB COMMENT).
    """

    name: str
    points: np.ndarray
    distance: str = EUCLIDEAN
    comment: str = ""
    _matrix: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(self.points.shape[0])

    @property
    def is_tsplib(self) -> bool:
        return self.distance != EUCLIDEAN

    def distance_matrix(self) -> np.ndarray:
        """(n, n) distances by this instance's convention (int64 for TSPLIB, float64 otherwise)."""
        if self._matrix is None:
            self._matrix = distance_matrix(self.points, self.distance)
        return self._matrix

    def tour_length(self, tour: np.ndarray | list[int]) -> float:
        """Length of the closed tour in the file's units and convention."""
        idx = np.asarray(tour, dtype=np.int64)
        if idx.size < 2:
            return 0.0
        if not self.is_tsplib:
            pts = self.points[idx]
            return float(np.linalg.norm(pts - np.roll(pts, -1, axis=0), axis=1).sum())
        dist = self.distance_matrix()
        return float(dist[idx, np.roll(idx, -1)].sum())


# -- distance conventions ------------------------------------------------------------------------
def _nint(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _geo_radians(coord: np.ndarray) -> np.ndarray:
    pi = 3.141592  # TSPLIB's own constant, kept so lengths match published optima
    deg = np.trunc(coord)
    minutes = coord - deg
    return pi * (deg + 5.0 * minutes / 3.0) / 180.0


def distance_matrix(points: np.ndarray, distance: str = EUCLIDEAN) -> np.ndarray:
    """Pairwise distances by a TSPLIB convention or plain Euclidean.

    Parameters
    ----------
    points : np.ndarray
        (n, 2) coordinates (for GEO: latitude, longitude in DDD.MM).
    distance : str
        ``"EUCLIDEAN"``, ``"EUC_2D"``, ``"CEIL_2D"``, ``"ATT"`` or ``"GEO"``.

    Returns
    -------
    np.ndarray
        (n, n): float64 for EUCLIDEAN, int64 otherwise; zero diagonal.
    """
    pts = np.asarray(points, dtype=np.float64)
    if distance == "GEO":
        lat, lon = _geo_radians(pts[:, 0]), _geo_radians(pts[:, 1])
        q1 = np.cos(lon[:, None] - lon[None, :])
        q2 = np.cos(lat[:, None] - lat[None, :])
        q3 = np.cos(lat[:, None] + lat[None, :])
        arg = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        dist = np.trunc(6378.388 * np.arccos(arg) + 1.0).astype(np.int64)
        np.fill_diagonal(dist, 0)
        return dist
    diff = pts[:, None, :] - pts[None, :, :]  # (n, n, 2)
    sq = (diff**2).sum(-1)  # (n, n)
    if distance == EUCLIDEAN:
        return np.sqrt(sq)
    if distance == "EUC_2D":
        return _nint(np.sqrt(sq))
    if distance == "CEIL_2D":
        return np.ceil(np.sqrt(sq)).astype(np.int64)
    if distance == "ATT":
        r = np.sqrt(sq / 10.0)
        t = _nint(r)
        return np.where(t < r, t + 1, t).astype(np.int64)
    raise LabInputError(f"not supported: {distance} (supported: {', '.join(SUPPORTED_EDGE_WEIGHT_TYPES)}).")


# -- validation ----------------------------------------------------------------------------------
def validate_points(points: np.ndarray, what: str, task: str = "tsp") -> np.ndarray:
    """Check one instance: shape (n, 2), finite, n >= 3, no repeated points for hull/Delaunay."""
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise LabInputError(f"{what} must be n x 2 coordinates, got shape {pts.shape}; give x,y pairs.")
    if not np.issubdtype(pts.dtype, np.number):
        raise LabInputError(f"{what} has non-numeric coordinates; check the file's values.")
    pts = pts.astype(np.float64)
    bad = ~np.isfinite(pts)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise LabInputError(f"{what} has {int(bad.any(axis=1).sum())} points with NaN or infinite "
                            f"coordinates (first is point {row}); remove or fix them.")
    if pts.shape[0] < 3:
        raise LabInputError(f"{what} has {pts.shape[0]} points; every task needs at least 3.")
    if pts.shape[0] > MAX_POINTS:
        raise LabInputError(f"{what} has {pts.shape[0]} points, over this lab's limit of {MAX_POINTS}; "
                            "split it into smaller instances.")
    if task in ("hull", "delaunay"):
        _, first, counts = np.unique(pts, axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            dup = int(first[np.argmax(counts > 1)])
            raise LabInputError(f"{what} repeats point {dup} ({pts[dup, 0]:g}, {pts[dup, 1]:g}); "
                                f"the {task} task needs distinct points, so remove the duplicates.")
        centred = pts - pts.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-12 * max(1.0, float(np.abs(centred).max()))) < 2:
            raise LabInputError(f"{what}: all points lie on one line, so there is no {task}; use points that span an area.")
    return pts


# -- readers -------------------------------------------------------------------------------------
_KEY = re.compile(r"^\s*([A-Za-z_0-9]+)\s*:\s*(.*?)\s*$")
_SECTIONS = {"NODE_COORD_SECTION", "DISPLAY_DATA_SECTION", "EDGE_WEIGHT_SECTION", "TOUR_SECTION",
             "DEMAND_SECTION", "DEPOT_SECTION", "FIXED_EDGES_SECTION", "EDGE_DATA_SECTION"}


def read_tsplib(source: Source, *, name: str | None = None, task: str = "tsp") -> Instance:
    """Read a TSPLIB ``.tsp`` file with a NODE_COORD_SECTION of 2-D coordinates.

    Raises :class:`LabInputError` for another problem TYPE, an unsupported EDGE_WEIGHT_TYPE
    (``"not supported: <type>"``), a missing or short coordinate section, NaN, or fewer than 3 nodes.
    """
    label = source_name(source, name)
    lines = read_text(source, name=name).splitlines()
    spec: dict[str, str] = {}
    coords: dict[int, tuple[float, float]] = {}
    in_coords = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.upper() == "EOF" or (in_coords and line == "-1"):  # some writers end a section with -1
            break
        if line[0].isalpha():  # a keyword line or a section header
            head = line.split()[0].rstrip(":").upper()
            if head in _SECTIONS:
                in_coords = head == "NODE_COORD_SECTION"
                continue
            match = _KEY.match(line)
            if match:
                spec[match.group(1).upper()] = match.group(2)
            in_coords = False
            continue
        if not in_coords:
            continue
        parts = line.split()
        if len(parts) < 3:
            raise LabInputError(f"{label} line {lineno}: node {parts[0]!r} has no y coordinate; "
                                "each NODE_COORD_SECTION line needs 'id x y'.")
        try:
            node = int(float(parts[0]))
            x, y = float(parts[1]), float(parts[2])
        except ValueError:
            raise LabInputError(f"{label} line {lineno}: {line[:40]!r} is not 'id x y' numbers; fix that line.") from None
        if node in coords:
            raise LabInputError(f"{label} line {lineno}: node id {node} appears twice; each node needs one line.")
        coords[node] = (x, y)
    kind = spec.get("TYPE", "TSP").split()[0].upper() if spec.get("TYPE") else "TSP"
    if kind not in ("TSP",):
        raise LabInputError(f"{label}: not supported: TYPE {kind}; this lab reads symmetric TSP files.")
    ewt = spec.get("EDGE_WEIGHT_TYPE", "").upper()
    if not ewt:
        raise LabInputError(f"{label} has no EDGE_WEIGHT_TYPE; add e.g. 'EDGE_WEIGHT_TYPE : EUC_2D'.")
    if ewt not in SUPPORTED_EDGE_WEIGHT_TYPES:
        what = "gives a distance matrix; the models need point coordinates" if ewt == "EXPLICIT" else \
            "uses a distance this lab does not compute"
        raise LabInputError(f"not supported: {ewt} ({label} {what}); use a file with EDGE_WEIGHT_TYPE "
                            f"{', '.join(SUPPORTED_EDGE_WEIGHT_TYPES)}.")
    if not coords:
        raise LabInputError(f"{label} has no coordinates; it needs a NODE_COORD_SECTION with 'id x y' lines.")
    ids = sorted(coords)
    if "DIMENSION" in spec:
        try:
            dim = int(spec["DIMENSION"])
        except ValueError:
            raise LabInputError(f"{label}: DIMENSION {spec['DIMENSION']!r} is not a whole number; fix the header.") from None
        if dim != len(ids):
            raise LabInputError(f"{label} declares DIMENSION {dim} but has coordinates for {len(ids)} nodes; "
                                "every node needs a coordinate line.")
    points = np.array([coords[i] for i in ids], dtype=np.float64)  # (n, 2), ordered by node id
    inst_name = spec.get("NAME") or Path(label).stem
    validate_points(points, label, task)
    return Instance(name=inst_name, points=points, distance=ewt, comment=spec.get("COMMENT", ""))


def read_csv_points(source: Source, *, name: str | None = None, task: str = "tsp") -> list[Instance]:
    """Read x,y columns; an optional ``instance`` column splits rows into several instances."""
    label = source_name(source, name)
    frame = read_csv(source, name=name, required_columns=("x", "y"))
    from pandas.api.types import is_numeric_dtype

    for col in ("x", "y"):
        if not is_numeric_dtype(frame[col]):
            raise LabInputError(f"{label}: column {col!r} has non-numeric values; keep only numbers in x and y.")
    lower = {c.lower(): c for c in frame.columns}
    stem = Path(label).stem
    if "instance" in lower:
        groups = [(f"{stem}[{key}]", g) for key, g in frame.groupby(lower["instance"], sort=True)]
    else:
        groups = [(stem, frame)]
    out = []
    for inst_name, g in groups:
        pts = g[["x", "y"]].to_numpy(dtype=np.float64)
        out.append(Instance(name=str(inst_name), points=validate_points(pts, f"{label} ({inst_name})", task)))
    return out


def read_npz_locs(source: Source, *, name: str | None = None, task: str = "tsp") -> list[Instance]:
    """Read key ``locs`` of shape (B, n, 2) or (n, 2) from an ``.npz`` archive (never unpickled)."""
    label = source_name(source, name)
    arrays = read_npz(source, name=name)
    if "locs" not in arrays:
        raise LabInputError(f"{label} has no array 'locs' (it has {', '.join(arrays) or 'none'}); "
                            "save the coordinates as locs with shape (B, n, 2).")
    locs = arrays["locs"]
    if locs.ndim == 2:
        locs = locs[None]
    if locs.ndim != 3 or locs.shape[-1] != 2:
        raise LabInputError(f"{label}: 'locs' has shape {locs.shape}; it must be (B, n, 2).")
    stem = Path(label).stem
    return [Instance(name=f"{stem}[{b}]", points=validate_points(locs[b], f"{label} instance {b}", task))
            for b in range(locs.shape[0])]


def load_instances(source: Source, *, name: str | None = None, task: str = "tsp") -> list[Instance]:
    """Read any supported file, choosing the reader from its extension (``.tsp``, ``.csv``, ``.npz``)."""
    label = source_name(source, name)
    suffix = Path(label).suffix.lower()
    if suffix == ".tsp":
        return [read_tsplib(source, name=name, task=task)]
    if suffix in (".csv", ".txt"):
        return read_csv_points(source, name=name, task=task)
    if suffix == ".npz":
        return read_npz_locs(source, name=name, task=task)
    raise LabInputError(f"{label}: unknown file type {suffix or '(none)'}; use a TSPLIB .tsp, a .csv with x,y "
                        "columns or an .npz with 'locs'.")


def random_instance_list(n: int, num: int, seed: int) -> list[Instance]:
    """Seeded uniform instances (see :func:`lab.pointer.tasks.random_instances`) as :class:`Instance`."""
    from lab.pointer.tasks import random_instances

    locs = random_instances(n, num, seed)
    return [Instance(name=f"uniform-n{n}-seed{seed}[{b}]", points=locs[b].astype(np.float64)) for b in range(num)]


# -- writers -------------------------------------------------------------------------------------
def tsplib_text(points: np.ndarray, name: str, distance: str = "EUC_2D", comment: str = "") -> str:
    """A TSPLIB ``.tsp`` file for ``points`` (n, 2); integers are written without decimals."""
    pts = np.asarray(points, dtype=np.float64)
    rows = [f"NAME : {name}", f"COMMENT : {comment}" if comment else None, "TYPE : TSP",
            f"DIMENSION : {len(pts)}", f"EDGE_WEIGHT_TYPE : {distance}", "NODE_COORD_SECTION"]
    out = [r for r in rows if r is not None]
    for i, (x, y) in enumerate(pts, start=1):
        out.append(f"{i} {x:.10g} {y:.10g}")
    out.append("EOF")
    return "\n".join(out) + "\n"


def tour_text(tour: np.ndarray | list[int], name: str, length: float | None = None) -> str:
    """A TSPLIB ``.tour`` file (1-based node ids, terminated by -1)."""
    idx = [int(i) + 1 for i in tour]
    head = [f"NAME : {name}.tour"]
    if length is not None:
        head.append(f"COMMENT : Length = {length:.10g}")
    head += ["TYPE : TOUR", f"DIMENSION : {len(idx)}", "TOUR_SECTION"]
    return "\n".join(head + [str(i) for i in idx] + ["-1", "EOF"]) + "\n"


def read_tour(source: Source, *, name: str | None = None) -> np.ndarray:
    """Read a TSPLIB ``.tour`` file into 0-based indices."""
    label = source_name(source, name)
    nodes: list[int] = []
    active = False
    for line in read_text(source, name=name).splitlines():
        s = line.strip()
        if s.upper().startswith("TOUR_SECTION"):
            active = True
            continue
        if not active or not s:
            continue
        for tok in s.split():
            if tok == "-1" or tok.upper() == "EOF":
                active = False
                break
            try:
                nodes.append(int(tok) - 1)
            except ValueError:
                raise LabInputError(f"{label}: {tok!r} in TOUR_SECTION is not a node id; fix the tour file.") from None
    if not nodes:
        raise LabInputError(f"{label} has no TOUR_SECTION nodes; it is not a TSPLIB tour.")
    return np.asarray(nodes, dtype=np.int64)


def tour_csv(points: np.ndarray, tour: np.ndarray | list[int]) -> str:
    """CSV with one row per visit: ``step,index,x,y`` (0-based index)."""
    pts = np.asarray(points, dtype=np.float64)
    buf = io.StringIO()
    buf.write("step,index,x,y\n")
    for step, i in enumerate(tour):
        buf.write(f"{step},{int(i)},{pts[int(i), 0]:.10g},{pts[int(i), 1]:.10g}\n")
    return buf.getvalue()


def output_csv(task: str, output: np.ndarray | list[int]) -> str:
    """A hull's vertex indices (one per line) or Delaunay triangles (``i,j,k`` per line) as CSV text."""
    rows = np.asarray(output, dtype=np.int64).reshape(-1, 3) if task == "delaunay" else \
        np.asarray(output, dtype=np.int64).reshape(-1, 1)
    return "".join(",".join(str(int(v)) for v in row) + "\n" for row in rows)


def points_csv(points: np.ndarray) -> str:
    """CSV with ``x,y`` columns, one row per point."""
    pts = np.asarray(points, dtype=np.float64)
    return "x,y\n" + "".join(f"{x:.10g},{y:.10g}\n" for x, y in pts)
