"""Scenes: one container, the ETH/UCY and CSV readers that fill it, ground-truth group sidecars, windows.

Formats read (every file goes through :mod:`lab.core.inputs`: size limit, UTF-8, one sentence on error):

- ETH/UCY text: ``frame ped_id x y`` per line (further columns ignored), whitespace or tab separated,
  metres. The frame step is inferred (the most common difference between consecutive frames: 10 in the
  common copies of hotel/univ/zara, 6 in eth; 0.4 s at 2.5 fps); rows may be unsorted; a duplicated
  (frame, agent) is averaged.
- CSV with a header naming ``frame, agent, x, y`` (``ped_id``/``ped``/``id`` accepted for ``agent``).
- Ground-truth groups: a sidecar ``FILE.groups.csv`` (``frame, agent, group``), or the ``groups.txt`` of
  the annotated ETH/UCY copies (one group per line, member ids separated by spaces; static groups).

A scene is a dense grid ``pos (F, A, 2)`` of consecutive frame steps, NaN where an agent is absent; a gap in
the recording (frames more than a step apart, e.g. where the scene is empty) becomes one empty grid step,
so no window spans it, and ``frames`` keeps every grid step's real frame number.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core.errors import LabInputError
from lab.core.inputs import Source, read_text, source_name

#: Seconds per frame step at the 2.5 fps convention of the ETH/UCY benchmark copies.
DEFAULT_DT = 0.4
#: Largest dense grid (frames x agents) a scene may have.
MAX_CELLS = 40_000_000
AGENT_ALIASES = ("agent", "ped_id", "ped", "id", "agent_id", "track_id", "pedestrian")


@dataclass
class Scene:
    """Agents' positions on a regular frame grid.

    Attributes
    ----------
    frames : ndarray of int, shape (F,)
        Frame number of every grid step (increasing; a gap's empty step is a step after the last real frame).
    agents : list, length A
        Agent ids as in the file (ints when every id is an integer).
    pos : ndarray, shape (F, A, 2)
        Positions in metres, NaN where the agent is absent.
    frame_step : int
        Frame numbers per grid step.
    dt : float
        Seconds per grid step.
    groups : ndarray of int, shape (F, A), or None
        Ground-truth group id per frame and agent (-1 where absent or unknown).
    edges : ndarray of int8, shape (F, A, A), or None
        Ground-truth interaction edges per frame (the springs simulator).
    """

    frames: np.ndarray
    agents: list
    pos: np.ndarray
    frame_step: int = 10
    dt: float = DEFAULT_DT
    name: str = "scene"
    groups: np.ndarray | None = None
    edges: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def present(self) -> np.ndarray:
        """(F, A) bool: the agent has a position at that frame."""
        return np.isfinite(self.pos[..., 0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.pos.shape[0]), int(self.pos.shape[1])

    def frame_index(self, frame: int) -> int:
        """The grid step of frame number ``frame`` (-1 when the frame is not on the grid)."""
        i = int(np.searchsorted(self.frames, frame))
        return i if i < len(self.frames) and int(self.frames[i]) == int(frame) else -1

    def to_text(self) -> str:
        """The scene in the ETH/UCY format (``frame\\tped_id\\tx\\ty``), sorted by frame then agent."""
        lines = []
        for f, a in zip(*np.nonzero(self.present), strict=True):
            x, y = self.pos[f, a]
            lines.append(f"{int(self.frames[f])}\t{self.agents[a]}\t{x:.3f}\t{y:.3f}")
        return "\n".join(lines) + "\n"

    def groups_csv(self) -> str:
        """The ground-truth sidecar ``frame,agent,group`` (empty string when there is no truth)."""
        if self.groups is None:
            return ""
        lines = ["frame,agent,group"]
        for f, a in zip(*np.nonzero(self.present & (self.groups >= 0)), strict=True):
            lines.append(f"{int(self.frames[f])},{self.agents[a]},{int(self.groups[f, a])}")
        return "\n".join(lines) + "\n"

    def edges_csv(self) -> str:
        """Ground-truth edges ``frame,agent_a,agent_b`` (springs; empty string when there are none)."""
        if self.edges is None:
            return ""
        lines = ["frame,agent_a,agent_b"]
        for f, a, b in zip(*np.nonzero(np.triu(self.edges, 1)), strict=True):
            lines.append(f"{int(self.frames[f])},{self.agents[a]},{self.agents[b]}")
        return "\n".join(lines) + "\n"


# -- reading ------------------------------------------------------------------------------------------
def _number(token: str, label: str, lineno: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise LabInputError(f"{label} line {lineno}: {what} {token[:20]!r} is not a number; "
                            "each line must be 'frame ped_id x y'.") from None
    if not np.isfinite(value):
        raise LabInputError(f"{label} line {lineno}: {what} is {token!r}; remove or fill rows without positions.")
    return value


def _rows_whitespace(text: str, label: str) -> tuple[np.ndarray, list, np.ndarray]:
    frames, ids, xy = [], [], []
    seen_data = False
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if not seen_data and not _is_number(parts[0]) and any(c.isalpha() for c in parts[0]):
            seen_data = True  # a header line such as "frame ped_id x y"
            continue
        seen_data = True
        if len(parts) < 4:
            raise LabInputError(f"{label} line {lineno} has {len(parts)} values; each line must be 'frame ped_id x y'.")
        frames.append(_number(parts[0], label, lineno, "frame"))
        ids.append(_number(parts[1], label, lineno, "ped_id"))
        xy.append((_number(parts[2], label, lineno, "x"), _number(parts[3], label, lineno, "y")))
    return np.asarray(frames, float), ids, np.asarray(xy, float).reshape(-1, 2)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _rows_csv(text: str, label: str) -> tuple[np.ndarray, list, np.ndarray]:
    import pandas as pd

    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    header = not all(_is_number(t) for t in first.split(",") if t.strip())
    try:
        table = pd.read_csv(io.StringIO(text), header=0 if header else None, skipinitialspace=True,
                            comment="#", dtype=str)
    except Exception as err:  # noqa: BLE001 - pandas raises many types; a person needs one sentence
        raise LabInputError(f"{label} could not be read as CSV ({str(err).splitlines()[0]}); "
                            "use columns frame, agent, x, y.") from None
    if not header:
        if table.shape[1] < 4:
            raise LabInputError(f"{label} has {table.shape[1]} columns; use frame, agent, x, y.")
        table = table.iloc[:, :4]
        table.columns = ["frame", "agent", "x", "y"]
    cols = {str(c).strip().lower(): c for c in table.columns}
    agent = next((cols[a] for a in AGENT_ALIASES if a in cols), None)
    missing = [n for n, c in (("frame", cols.get("frame")), ("agent", agent), ("x", cols.get("x")),
                              ("y", cols.get("y"))) if c is None]
    if missing:
        raise LabInputError(f"{label} has no column {', '.join(missing)}; its columns are "
                            f"{', '.join(str(c) for c in list(table.columns)[:8])} - use frame, agent, x, y.")
    if table.empty:
        raise LabInputError(f"{label} has a header but no rows; add rows of frame, agent, x, y.")
    out = {}
    for name, col in (("frame", cols["frame"]), ("x", cols["x"]), ("y", cols["y"])):
        values = pd.to_numeric(table[col].str.strip(), errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            raise LabInputError(f"{label} row {row + 1 + header}: {name} {table[col].iloc[row]!r} is not a number; "
                                "fix or remove that row.")
        out[name] = values
    raw_ids = table[agent].astype(str).str.strip().tolist()
    ids: list = []
    for token in raw_ids:
        ids.append(float(token) if _is_number(token) and np.isfinite(float(token)) else token)
    return out["frame"], ids, np.stack([out["x"], out["y"]], axis=1)


def _clean_ids(ids: list) -> list:
    """Integer-valued numeric ids become ints; anything else becomes strings."""
    if all(isinstance(i, float) and float(i).is_integer() for i in ids):
        return [int(i) for i in ids]
    return [str(int(i)) if isinstance(i, float) and i.is_integer() else str(i) for i in ids]


def infer_frame_step(frames: np.ndarray) -> int:
    """The most common difference between consecutive distinct frames (ties: the smallest); 1 for one frame."""
    unique = np.unique(np.round(frames).astype(np.int64))
    if len(unique) < 2:
        return 1
    diffs, counts = np.unique(np.diff(unique), return_counts=True)
    return int(diffs[np.argmax(counts)])


def scene_from_rows(frames: np.ndarray, ids: Sequence, xy: np.ndarray, *, name: str = "scene",
                    dt: float = DEFAULT_DT, notes: list[str] | None = None) -> Scene:
    """Build a :class:`Scene` from rows (any order; duplicates averaged; a gap becomes one empty step)."""
    notes = list(notes or [])
    if len(frames) == 0:
        raise LabInputError(f"{name} has no rows of positions; each line must be 'frame ped_id x y'.")
    if not np.allclose(frames, np.round(frames), atol=1e-6):
        raise LabInputError(f"{name} has non-integer frame numbers (e.g. {frames[~np.isclose(frames, np.round(frames))][0]}); "
                            "frames must be whole numbers.")
    frames_i = np.round(frames).astype(np.int64)
    step = infer_frame_step(frames_i)
    unique = np.unique(frames_i)
    diffs = np.diff(unique)
    # Consecutive frames one step apart are consecutive grid steps; a longer difference is a gap, kept as one
    # empty step (no window may span it; recordings such as eth restart on another phase after a gap).
    jumps = np.where(diffs < 1.5 * step, 1, 2).astype(np.int64)
    odd = int(((diffs != step) & (diffs < 1.5 * step)).sum())
    if odd:
        notes.append(f"{odd} frame differences were not the frame step {step}; those frames were taken as one step apart.")
    unique_index = np.concatenate([[0], np.cumsum(jumps)])
    index = unique_index[np.searchsorted(unique, frames_i)]
    ids = _clean_ids(list(ids))
    agents = sorted(set(ids), key=lambda a: (isinstance(a, str), a))
    lookup = {a: k for k, a in enumerate(agents)}
    col = np.array([lookup[a] for a in ids], dtype=np.int64)
    n_frames, n_agents = int(index.max()) + 1, len(agents)
    if n_frames * n_agents > MAX_CELLS:
        raise LabInputError(f"{name} spans {n_frames} frame steps x {n_agents} agents, over the "
                            f"{MAX_CELLS:,} limit; split it into shorter scenes.")
    total = np.zeros((n_frames, n_agents, 2))
    count = np.zeros((n_frames, n_agents))
    np.add.at(total, (index, col), xy)
    np.add.at(count, (index, col), 1)
    dups = int((count > 1).sum())
    if dups:
        notes.append(f"{dups} (frame, agent) pairs appeared more than once; their positions were averaged.")
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = total / count[..., None]
    pos[count == 0] = np.nan
    grid = np.empty(n_frames, dtype=np.int64)  # real frame numbers; inside a gap, steps after the last real one
    last = np.maximum.accumulate(np.where(np.isin(np.arange(n_frames), unique_index), np.arange(n_frames), 0))
    grid[:] = unique[np.searchsorted(unique_index, last)] + step * (np.arange(n_frames) - last)
    return Scene(frames=grid, agents=agents, pos=pos, frame_step=step, dt=dt, name=name, notes=notes)


def read_scene(source: Source, *, name: str | None = None, dt: float = DEFAULT_DT) -> Scene:
    """Read an ETH/UCY text file or a CSV (by extension ``.csv``, or commas in the first data line)."""
    label = source_name(source, name)
    text = read_text(source, name=name)
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    if label.lower().endswith(".csv") or "," in first:
        frames, ids, xy = _rows_csv(text, label)
    else:
        frames, ids, xy = _rows_whitespace(text, label)
    if len(frames) == 0:
        raise LabInputError(f"{label} has no rows of positions; each line must be 'frame ped_id x y'.")
    return scene_from_rows(frames, ids, xy, name=label, dt=dt)


def read_groups_csv(source: Source, scene: Scene, *, name: str | None = None) -> np.ndarray:
    """A ``frame, agent, group`` sidecar as (F, A) group ids (-1 where not given)."""
    label = source_name(source, name)
    text = read_text(source, name=name)
    import pandas as pd

    try:
        table = pd.read_csv(io.StringIO(text), skipinitialspace=True, dtype=str)
    except Exception as err:  # noqa: BLE001
        raise LabInputError(f"{label} could not be read as CSV ({str(err).splitlines()[0]}); "
                            "use columns frame, agent, group.") from None
    cols = {str(c).strip().lower(): c for c in table.columns}
    agent = next((cols[a] for a in AGENT_ALIASES if a in cols), None)
    if "frame" not in cols or agent is None or "group" not in cols:
        raise LabInputError(f"{label} needs columns frame, agent, group; it has {', '.join(map(str, table.columns))}.")
    frames = pd.to_numeric(table[cols["frame"]], errors="coerce").to_numpy(float)
    group_col = table[cols["group"]].astype(str).str.strip()
    if not np.isfinite(frames).all():
        raise LabInputError(f"{label}: some frame values are not numbers; fix or remove those rows.")
    codes = {g: k for k, g in enumerate(sorted(set(group_col)))}
    ids = _clean_ids([float(t) if _is_number(t) else t for t in table[agent].astype(str).str.strip()])
    lookup = {a: k for k, a in enumerate(scene.agents)}
    out = np.full(scene.shape, -1, dtype=np.int64)
    for f, a, g in zip(frames, ids, group_col, strict=True):
        k = lookup.get(a)
        i = scene.frame_index(int(round(f)))
        if k is not None and 0 <= i < scene.shape[0]:
            out[i, k] = codes[g]
    return out


def read_groups_txt(source: Source, scene: Scene, *, name: str | None = None) -> np.ndarray:
    """The ``groups.txt`` of annotated ETH/UCY copies: one group per line, static over the scene.

    Ids may repeat on a line; an id on two lines keeps its first line; agents on no line are singletons.
    """
    label = source_name(source, name)
    text = read_text(source, name=name)
    lookup = {str(a): k for k, a in enumerate(scene.agents)}
    member = np.full(len(scene.agents), -1, dtype=np.int64)
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = line.replace(",", " ").split()
        for token in tokens:
            if not _is_number(token):
                raise LabInputError(f"{label} line {lineno}: {token[:20]!r} is not an agent id; "
                                    "write one group per line as ids separated by spaces.")
            key = str(int(float(token))) if float(token).is_integer() else token
            k = lookup.get(key)
            if k is not None and member[k] < 0:
                member[k] = lineno
    nxt = int(member.max()) + 1 if len(member) else 0
    for k in np.nonzero(member < 0)[0]:
        member[k] = nxt
        nxt += 1
    out = np.where(scene.present, member[None, :], -1)
    return out


def find_groups_file(path: str | Path) -> Path | None:
    """The ground truth beside a scene file: ``FILE.groups.csv``, else ``groups.txt`` in its folder."""
    path = Path(path)
    for candidate in (Path(str(path) + ".groups.csv"), path.parent / "groups.txt"):
        if candidate.is_file():
            return candidate
    return None


def attach_groups(scene: Scene, groups_path: str | Path | None) -> Scene:
    """Read a ground-truth groups file (sidecar CSV or groups.txt) into ``scene.groups``."""
    if groups_path is None:
        return scene
    groups_path = Path(groups_path)
    if groups_path.name.lower().endswith(".csv"):
        scene.groups = read_groups_csv(groups_path, scene)
    else:
        scene.groups = read_groups_txt(groups_path, scene)
    scene.notes.append(f"ground-truth groups from {groups_path.name}.")
    return scene


def load_scene(path: str | Path, *, groups: str | Path | None = None, find_truth: bool = True,
               dt: float = DEFAULT_DT) -> Scene:
    """Read a scene file and, when present, its ground-truth groups (``groups`` or the sidecar found)."""
    scene = read_scene(path, dt=dt)
    truth = groups if groups is not None else (find_groups_file(path) if find_truth else None)
    return attach_groups(scene, truth)


# -- windows ------------------------------------------------------------------------------------------
@dataclass
class Windows:
    """Sliding windows of ``obs + pred`` consecutive frame steps, each agent present in all of them.

    Attributes
    ----------
    starts : ndarray of int, shape (W,)
        First frame index of each window (only windows with at least ``min_agents`` agents).
    agents : list of ndarray of int
        For each window, the agent indices present in every one of its frames.
    """

    starts: np.ndarray
    agents: list[np.ndarray]
    obs: int
    pred: int

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def n_tracks(self) -> int:
        return int(sum(len(a) for a in self.agents))

    def tracks(self, scene: Scene, w: int) -> np.ndarray:
        """(N, obs + pred, 2) positions of window ``w``'s agents."""
        s = int(self.starts[w])
        return np.transpose(scene.pos[s:s + self.obs + self.pred, self.agents[w]], (1, 0, 2))


def make_windows(scene: Scene, obs: int = 8, pred: int = 12, stride: int = 1, min_agents: int = 1) -> Windows:
    """Windows starting at every ``stride``-th frame step; an agent joins one only if present throughout.

    A gap in an agent's track (or an empty stretch of the recording) therefore never falls inside a window.
    """
    length = obs + pred
    present = scene.present.astype(np.int64)  # (F, A)
    n_frames = present.shape[0]
    if n_frames < length:
        return Windows(np.zeros(0, dtype=np.int64), [], obs, pred)
    csum = np.concatenate([np.zeros((1, present.shape[1]), np.int64), np.cumsum(present, axis=0)])
    full = (csum[length:] - csum[:-length]) == length  # (F - length + 1, A)
    starts, agents = [], []
    for s in range(0, full.shape[0], stride):
        idx = np.nonzero(full[s])[0]
        if len(idx) >= min_agents:
            starts.append(s)
            agents.append(idx)
    return Windows(np.asarray(starts, dtype=np.int64), agents, obs, pred)


def check_windows(windows: Windows, scene: Scene) -> None:
    """Raise a one-sentence error when a scene has no complete window."""
    if len(windows) == 0:
        raise LabInputError(f"{scene.name} has no agent present for {windows.obs + windows.pred} consecutive frame "
                            f"steps (obs {windows.obs} + pred {windows.pred}); use a longer scene or shorter "
                            "--obs/--pred.")
