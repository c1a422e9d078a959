"""Simulators with ground truth: the lab's proof that inferred relations and groups are real.

- :func:`simulate_springs`: NRI-style particles in a box joined by springs that appear and vanish
  (Kipf et al. 2018, made dynamic): every ``switch_every`` steps a new random spring graph; the truth is
  the graph of every step (``Scene.edges``) and its connected components (``Scene.groups``).
- :func:`simulate_crowd`: pedestrians walking in groups to goals through a waypoint (social-force
  motion: a drive to the goal, cohesion to the group, repulsion from everyone else, a little noise);
  groups form on entry, merge when two walk close and alike, and split when some members leave for
  another goal. Written at 2.5 fps (0.4 s a frame step, frame numbers every 10), like ETH/UCY, with
  the group id of every agent at every frame.

Both return a :class:`~lab.trajectories.data.Scene`; a seed reproduces it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback, report
from lab.trajectories.data import Scene

KINDS = ("crowd", "springs")
FRAME_STEP = 10


@dataclass(frozen=True)
class SimulateConfig(LabConfig):
    """A simulated scene.

    ``agents``: pedestrians on the plaza at once (crowd) or particles (springs); ``steps``: frames written.
    Crowd knobs: ``split_rate``/``merge_rate`` are events per group per minute; ``noise`` is the random
    acceleration (m/s^2). Springs knobs: ``switch_every`` frames between graph changes, ``edge_prob``.
    """

    kind: str = "crowd"
    agents: int = 20
    steps: int = 200
    split_rate: float = 0.6
    merge_rate: float = 1.0
    noise: float = 0.15
    strength: float = 0.5
    switch_every: int = 40
    edge_prob: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("kind", KINDS)
        if not 2 <= self.agents <= 500:
            raise LabInputError(f"agents is {self.agents}; use 2 to 500.")
        if not 2 <= self.steps <= 20_000:
            raise LabInputError(f"steps is {self.steps}; use 2 to 20000.")
        if self.switch_every < 1:
            raise LabInputError(f"switch_every is {self.switch_every}; use 1 or more frames.")
        for name in ("split_rate", "merge_rate", "noise", "strength"):
            if getattr(self, name) < 0:
                raise LabInputError(f"{name.replace('_', ' ')} is {getattr(self, name)}; use a value of 0 or more.")
        if not 0 <= self.edge_prob <= 1:
            raise LabInputError(f"edge_prob is {self.edge_prob}; use a probability between 0 and 1.")


def simulate(config: SimulateConfig, on_progress: ProgressCallback | None = None) -> Scene:
    if config.kind == "springs":
        return simulate_springs(config, on_progress)
    return simulate_crowd(config, on_progress)


# -- dynamic springs ------------------------------------------------------------------------------------
def components(adj: np.ndarray) -> np.ndarray:
    """Connected components of a symmetric boolean adjacency (n, n) -> label per node (0..)."""
    n = adj.shape[0]
    labels = -np.ones(n, dtype=np.int64)
    current = 0
    for start in range(n):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = current
        while stack:
            i = stack.pop()
            for j in np.nonzero(adj[i])[0]:
                if labels[j] < 0:
                    labels[j] = current
                    stack.append(j)
        current += 1
    return labels


def simulate_springs(config: SimulateConfig, on_progress: ProgressCallback | None = None,
                     box: float = 5.0, sub_steps: int = 100, dt: float = 0.001) -> Scene:
    """Particles joined by springs ``F_i = -k sum_j A_ij (x_i - x_j)`` in a box with elastic walls.

    Leapfrog integration with ``dt``; one frame every ``sub_steps`` steps (as NRI's springs data). The
    spring graph ``A`` is redrawn (each pair with ``edge_prob``) every ``switch_every`` frames.
    """
    rng = np.random.default_rng(config.seed)
    n, T = config.agents, config.steps
    x = rng.normal(0, 0.5, (n, 2))
    v = rng.normal(0, 1, (n, 2))
    v *= 0.5 / np.linalg.norm(v, axis=1, keepdims=True)
    pos = np.zeros((T, n, 2))
    edges = np.zeros((T, n, n), dtype=np.int8)
    adj = np.zeros((n, n))
    k = config.strength

    def force(x: np.ndarray) -> np.ndarray:
        diff = x[:, None, :] - x[None, :, :]  # (n, n, 2): x_i - x_j
        return -k * (adj[..., None] * diff).sum(1)

    for t in range(T):
        if t % config.switch_every == 0:
            upper = np.triu(rng.random((n, n)) < config.edge_prob, 1)
            adj = (upper | upper.T).astype(float)
        pos[t], edges[t] = x, adj.astype(np.int8)
        for _ in range(sub_steps):
            v = v + 0.5 * dt * force(x)
            x = x + dt * v
            v = v + 0.5 * dt * force(x)
            over, under = x > box, x < -box
            x = np.where(over, 2 * box - x, np.where(under, -2 * box - x, x))
            v = np.where(over | under, -v, v)
        if t % 50 == 0 and report(on_progress, t + 1, T, {"frame": float(t)}):
            pos, edges = pos[: t + 1], edges[: t + 1]
            break
    groups = np.stack([components(e.astype(bool)) for e in edges])
    frames = FRAME_STEP * np.arange(len(pos))
    return Scene(frames=frames, agents=list(range(1, n + 1)), pos=pos, frame_step=FRAME_STEP, dt=0.4,
                 name=f"springs (seed {config.seed})", groups=groups, edges=edges)


# -- crowd in groups -------------------------------------------------------------------------------------
@dataclass
class _Group:
    gid: int
    route: list[np.ndarray]  # waypoints then the exit point
    speed: float


WIDTH, HEIGHT = 24.0, 16.0
SUB = 4  # integration steps per frame step (0.1 s each)
SIZES, SIZE_P = (1, 2, 3, 4), (0.35, 0.35, 0.2, 0.1)


def _edge_point(rng: np.random.Generator, side: int) -> np.ndarray:
    if side == 0:
        return np.array([-1.0, rng.uniform(1, HEIGHT - 1)])
    if side == 1:
        return np.array([WIDTH + 1.0, rng.uniform(1, HEIGHT - 1)])
    if side == 2:
        return np.array([rng.uniform(1, WIDTH - 1), -1.0])
    return np.array([rng.uniform(1, WIDTH - 1), HEIGHT + 1.0])


def _route(rng: np.random.Generator, side_in: int) -> list[np.ndarray]:
    """A waypoint inside the plaza, then an exit on another side (so walkers turn, as people do)."""
    side_out = int(rng.choice([s for s in range(4) if s != side_in]))
    waypoint = np.array([rng.uniform(4, WIDTH - 4), rng.uniform(3, HEIGHT - 3)])
    return [waypoint, _edge_point(rng, side_out)]


def simulate_crowd(config: SimulateConfig, on_progress: ProgressCallback | None = None) -> Scene:
    """Pedestrians in groups on a plaza: social-force walking, groups that form, merge and split.

    Each frame step is 0.4 s (4 integration steps of 0.1 s). Truth: the group id of every agent per frame.
    """
    rng = np.random.default_rng(config.seed)
    dt, tau, radius = 0.4 / SUB, 0.5, 0.3
    x = np.zeros((0, 2))
    v = np.zeros((0, 2))
    gid = np.zeros(0, dtype=np.int64)
    pid = np.zeros(0, dtype=np.int64)
    groups: dict[int, _Group] = {}
    rows_pos: list[np.ndarray] = []
    rows_pid: list[np.ndarray] = []
    rows_gid: list[np.ndarray] = []
    next_pid, next_gid = 1, 0

    def spawn(inside: bool) -> None:
        nonlocal x, v, gid, pid, next_pid, next_gid
        size = int(rng.choice(SIZES, p=SIZE_P))
        side = int(rng.integers(4))
        route = _route(rng, side)
        start = (np.array([rng.uniform(2, WIDTH - 2), rng.uniform(2, HEIGHT - 2)]) if inside
                 else _edge_point(rng, side))
        if inside:
            route = route[1:] if rng.random() < 0.5 else route
        speed = float(rng.uniform(0.9, 1.5))
        heading = route[0] - start
        heading /= np.linalg.norm(heading) + 1e-9
        normal = np.array([-heading[1], heading[0]])
        offsets = (np.arange(size) - (size - 1) / 2) * 0.7
        new_x = start + offsets[:, None] * normal + rng.normal(0, 0.1, (size, 2))
        if len(x) and np.min(np.linalg.norm(new_x[:, None] - x[None], axis=-1)) < 1.0:
            return  # the spot is taken; try again next frame
        groups[next_gid] = _Group(next_gid, route, speed)
        x = np.concatenate([x, new_x])
        v = np.concatenate([v, np.repeat((speed * heading)[None], size, 0)])
        gid = np.concatenate([gid, np.full(size, next_gid)])
        pid = np.concatenate([pid, np.arange(next_pid, next_pid + size)])
        next_pid += size
        next_gid += 1

    for _ in range(200):
        if len(x) >= config.agents:
            break
        spawn(inside=True)

    minute = 60.0 / 0.4  # frame steps per minute
    for t in range(config.steps):
        rows_pos.append(x.copy())
        rows_pid.append(pid.copy())
        rows_gid.append(gid.copy())
        for _ in range(SUB):
            x, v = _social_force_step(x, v, gid, groups, rng, dt, tau, radius, config.noise)
        # waypoints reached, exits, events
        for g in list(np.unique(gid)):
            members = gid == g
            centre = x[members].mean(0)
            group = groups[int(g)]
            if len(group.route) > 1 and np.linalg.norm(centre - group.route[0]) < 1.5:
                group.route.pop(0)
        inside = (x[:, 0] > -0.5) & (x[:, 0] < WIDTH + 0.5) & (x[:, 1] > -0.5) & (x[:, 1] < HEIGHT + 0.5)
        done = np.array([len(groups[int(g)].route) == 1 for g in gid], dtype=bool) & ~inside
        keep = ~done
        x, v, gid, pid = x[keep], v[keep], gid[keep], pid[keep]
        for g in list(np.unique(gid)):
            members = np.nonzero(gid == g)[0]
            if len(members) >= 2 and rng.random() < config.split_rate / minute:
                leave = members[rng.permutation(len(members))[: int(rng.integers(1, len(members)))]]
                side = int(rng.integers(4))
                groups[next_gid] = _Group(next_gid, _route(rng, side)[1:], float(rng.uniform(0.9, 1.5)))
                gid[leave] = next_gid
                next_gid += 1
        if config.merge_rate > 0:
            _merge(x, v, gid, groups, rng, config.merge_rate / minute)
        if len(x) < config.agents and rng.random() < 0.5:
            spawn(inside=False)
        if t % 50 == 0 and report(on_progress, t + 1, config.steps, {"frame": float(t)}):
            break
    return _rows_to_scene(rows_pos, rows_pid, rows_gid, config.seed)


def _social_force_step(x, v, gid, groups, rng, dt, tau, radius, noise):
    n = len(x)
    if n == 0:
        return x, v
    targets = np.stack([groups[int(g)].route[0] for g in gid])
    speeds = np.array([groups[int(g)].speed for g in gid])
    to_goal = targets - x
    e = to_goal / (np.linalg.norm(to_goal, axis=1, keepdims=True) + 1e-9)
    force = (speeds[:, None] * e - v) / tau
    diff = x[:, None, :] - x[None, :, :]  # (n, n, 2): x_i - x_j
    dist = np.linalg.norm(diff, axis=-1) + np.eye(n) * 1e3
    unit = diff / dist[..., None]
    same = gid[:, None] == gid[None, :]
    push = 2.0 * np.exp((2 * radius - dist) / 0.3)  # social repulsion, weaker inside a group
    push = np.where(same, 0.3 * push, push) * (dist < 4.0)
    force += (push[..., None] * unit).sum(1)
    for g in np.unique(gid):  # cohesion: back towards the group's centre and its mean velocity
        members = gid == g
        size = int(members.sum())
        if size < 2:
            continue
        centre, mean_v = x[members].mean(0), v[members].mean(0)
        gap = centre - x[members]
        far = np.linalg.norm(gap, axis=1, keepdims=True)
        reach = 0.45 * np.sqrt(size)
        force[members] += 1.5 * gap * np.clip(far - reach, 0, None) / (far + 1e-9) + 0.8 * (mean_v - v[members])
    force += rng.normal(0, noise, force.shape)
    v = v + dt * force
    speed = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.where(speed > 2.0, v * 2.0 / speed, v)
    return x + dt * v, v


def _merge(x, v, gid, groups, rng, rate) -> None:
    ids = list(np.unique(gid))
    for a_i, a in enumerate(ids):
        for b in ids[a_i + 1:]:
            ma, mb = gid == a, gid == b
            if not ma.any() or not mb.any():
                continue
            close = np.linalg.norm(x[ma].mean(0) - x[mb].mean(0)) < 3.0
            va, vb = v[ma].mean(0), v[mb].mean(0)
            alike = va @ vb > 0.7 * np.linalg.norm(va) * np.linalg.norm(vb)
            if close and alike and rng.random() < rate:
                keep, drop = (a, b) if ma.sum() >= mb.sum() else (b, a)
                gid[gid == drop] = keep


def _rows_to_scene(rows_pos, rows_pid, rows_gid, seed: int) -> Scene:
    agents = sorted({int(p) for row in rows_pid for p in row})
    col = {a: k for k, a in enumerate(agents)}
    T, A = len(rows_pos), len(agents)
    pos = np.full((T, A, 2), np.nan)
    groups = np.full((T, A), -1, dtype=np.int64)
    for t, (p, ids, g) in enumerate(zip(rows_pos, rows_pid, rows_gid, strict=True)):
        cols = [col[int(i)] for i in ids]
        pos[t, cols] = p
        groups[t, cols] = g
    pos = np.round(pos, 3)  # what the written file holds: a scene read back equals this one
    return Scene(frames=FRAME_STEP * np.arange(T), agents=agents, pos=pos, frame_step=FRAME_STEP, dt=0.4,
                 name=f"crowd (seed {seed})", groups=groups)


# -- the verb ---------------------------------------------------------------------------------------------
@dataclass
class SimulateResult:
    config: SimulateConfig
    scene: Scene
    stopped: bool = False

    def metrics(self) -> dict[str, Any]:
        s = self.scene
        present = s.present
        n_groups = [len(np.unique(s.groups[f][present[f]])) for f in range(s.shape[0])] if s.groups is not None else [0]
        return {"frames": s.shape[0], "agents": s.shape[1], "rows": int(present.sum()),
                "mean_agents_per_frame": float(present.sum(1).mean()),
                "mean_groups_per_frame": float(np.mean(n_groups)), "stopped_early": self.stopped}

    def artifacts(self) -> dict[str, str]:
        out = {"scene.txt": self.scene.to_text(), "scene.txt.groups.csv": self.scene.groups_csv()}
        if self.scene.edges is not None:
            out["scene.txt.edges.csv"] = self.scene.edges_csv()
        return out

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.config.kind, **self.metrics()}

    def title(self) -> str:
        return f"trajectories: simulate {self.config.kind} ({self.scene.shape[1]} agents)"


def run_simulate(config: SimulateConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> SimulateResult:
    stopped = []

    def progress(step, total, metrics):
        stop = report(on_progress, step, total, metrics)
        if stop:
            stopped.append(True)
        return stop

    scene = simulate(config, progress)
    return SimulateResult(config, scene, stopped=bool(stopped))
