"""Task constraints: which input a pointer may choose next, so every decoded output is valid.

A pointer model only scores the inputs; whether an output is a tour, a hull or a triangulation
is guaranteed here, by masking. The same masks are used when training with teacher forcing
(the loss is a softmax over the allowed choices only) and when decoding (greedy, beam, sampling,
POMO), so the model never has to spend capacity on learning the rules.

Choices are indices into the n inputs; tasks with a variable output length (hull, Delaunay) have
one extra choice, index n, meaning "end of sequence" (EOS), as in Vinyals et al. (2015).

Every constraint is a small object over a batch of B partial outputs with three methods:
``allowed() -> (B, m) bool``, ``update(choice (B,))`` and ``select(idx)`` (keep/reorder rows, for beam
search and for expanding a batch into samples), plus ``finished`` (B,) bool.
"""

from __future__ import annotations

import torch


class TourConstraint:
    """TSP: each node exactly once; the tour is complete after n choices. m = n (no EOS)."""

    has_eos = False

    def __init__(self, batch: int, n: int, device: str | torch.device = "cpu") -> None:
        self.n = n
        self.visited = torch.zeros(batch, n, dtype=torch.bool, device=device)  # (B, n)
        self.count = 0

    @property
    def finished(self) -> torch.Tensor:
        return self.visited.all(dim=1)  # (B,)

    def allowed(self) -> torch.Tensor:
        return ~self.visited  # (B, n)

    def update(self, choice: torch.Tensor) -> None:
        self.visited = self.visited.scatter(1, choice[:, None], True)
        self.count += 1

    def select(self, idx: torch.Tensor) -> TourConstraint:
        new = TourConstraint.__new__(TourConstraint)
        new.n, new.visited, new.count = self.n, self.visited[idx], self.count
        return new


class HullConstraint:
    """Convex hull: distinct points, counter-clockwise from the smallest index, then EOS. m = n + 1.

    The label starts at the hull vertex with the smallest index, so every later vertex has a larger
    index: masking indices below the first one is a free, exact rule. The first point must leave at
    least two larger indices (a hull has >= 3 vertices); EOS is allowed once 3 points are out.
    """

    has_eos = True

    def __init__(self, batch: int, n: int, device: str | torch.device = "cpu") -> None:
        self.n = n
        self.visited = torch.zeros(batch, n, dtype=torch.bool, device=device)  # (B, n)
        self.first = torch.full((batch,), -1, dtype=torch.long, device=device)  # (B,)
        self.length = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (B,)

    def allowed(self) -> torch.Tensor:
        B, n = self.visited.shape
        ar = torch.arange(n, device=self.visited.device)[None, :]  # (1, n)
        started = (self.first >= 0)[:, None]  # (B, 1)
        points = torch.where(started, (ar > self.first[:, None]) & ~self.visited, ar <= n - 3)  # (B, n)
        eos = (self.length >= 3) | ~points.any(dim=1)  # (B,)
        points = points & ~self.finished[:, None]
        eos = eos | self.finished
        return torch.cat([points, eos[:, None]], dim=1)  # (B, n + 1)

    def update(self, choice: torch.Tensor) -> None:
        is_eos = choice == self.n
        idx = choice.clamp(max=self.n - 1)
        live = ~is_eos & ~self.finished
        self.visited = self.visited | (torch.nn.functional.one_hot(idx, self.n).bool() & live[:, None])
        self.first = torch.where(live & (self.first < 0), choice, self.first)
        self.length = self.length + live.long()
        self.finished = self.finished | is_eos

    def select(self, idx: torch.Tensor) -> HullConstraint:
        new = HullConstraint.__new__(HullConstraint)
        new.n = self.n
        new.visited, new.first = self.visited[idx], self.first[idx]
        new.length, new.finished = self.length[idx], self.finished[idx]
        return new


class DelaunayConstraint:
    """Delaunay: triangles (i < j < k) in strictly increasing lexicographic order, then EOS. m = n + 1.

    The label lists each triangle ascending and the triangles sorted, so the next triangle must be
    lexicographically larger than the previous one. That rules out repeated triangles and repeated
    indices inside a triangle. Every rule below also keeps the partial output completable (a first
    index leaves room for two more, and so on), so decoding never gets stuck. EOS is allowed only
    between triangles, after at least one; at most 2n - 5 triangles (the most a planar triangulation
    of n points in general position can have).
    """

    has_eos = True

    def __init__(self, batch: int, n: int, device: str | torch.device = "cpu") -> None:
        self.n = n
        self.max_triangles = max(1, 2 * n - 5)
        self.prev = torch.full((batch, 3), -1, dtype=torch.long, device=device)  # (B, 3) last full triangle
        self.cur = torch.full((batch, 3), -1, dtype=torch.long, device=device)  # (B, 3) triangle being written
        self.pos = torch.zeros(batch, dtype=torch.long, device=device)  # (B,) 0, 1 or 2
        self.triangles = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (B,)

    def allowed(self) -> torch.Tensor:
        n = self.n
        ar = torch.arange(n, device=self.prev.device)[None, :]  # (1, n)
        a, b, c = (self.prev[:, i : i + 1] for i in range(3))  # (B, 1) each; -1 before the first triangle
        a2, b2 = self.cur[:, 0:1], self.cur[:, 1:2]
        none = a < 0
        # position 0: a' in [a, n-3]; a' == a only if some (a, b', c') > (a, b, c) exists, i.e. b < n-2
        first = (ar <= n - 3) & ((ar > a) | (none | (ar == a)) & (none | (b < n - 2)))
        # position 1: b' in (a', n-2]; if a' == a then b' >= b, and b' == b only if c < n-1
        same_a = ~none & (a2 == a)
        second = (ar > a2) & (ar <= n - 2) & (~same_a | (ar > b) | ((ar == b) & (c < n - 1)))
        # position 2: c' in (b', n-1]; if (a', b') == (a, b) then c' > c
        same_ab = same_a & (b2 == b)
        third = (ar > b2) & (~same_ab | (ar > c))
        pos = self.pos[:, None]
        points = torch.where(pos == 0, first, torch.where(pos == 1, second, third))  # (B, n)
        at_boundary = self.pos == 0
        full = self.triangles >= self.max_triangles
        points = points & ~(at_boundary & full)[:, None] & ~self.finished[:, None]
        eos = at_boundary & ((self.triangles >= 1) | full)
        eos = eos | self.finished | ~points.any(dim=1)
        return torch.cat([points, eos[:, None]], dim=1)  # (B, n + 1)

    def update(self, choice: torch.Tensor) -> None:
        is_eos = choice == self.n
        live = ~is_eos & ~self.finished
        rows = torch.arange(choice.shape[0], device=choice.device)
        cur = self.cur.clone()
        cur[rows, self.pos.clamp(max=2)] = torch.where(live, choice, cur[rows, self.pos.clamp(max=2)])
        done_tri = live & (self.pos == 2)
        self.prev = torch.where(done_tri[:, None], cur, self.prev)
        self.cur = torch.where(done_tri[:, None], torch.full_like(cur, -1), cur)
        self.pos = torch.where(live, (self.pos + 1) % 3, self.pos)
        self.triangles = self.triangles + done_tri.long()
        self.finished = self.finished | is_eos

    def select(self, idx: torch.Tensor) -> DelaunayConstraint:
        new = DelaunayConstraint.__new__(DelaunayConstraint)
        new.n, new.max_triangles = self.n, self.max_triangles
        new.prev, new.cur, new.pos = self.prev[idx], self.cur[idx], self.pos[idx]
        new.triangles, new.finished = self.triangles[idx], self.finished[idx]
        return new


CONSTRAINTS = {"tsp": TourConstraint, "hull": HullConstraint, "delaunay": DelaunayConstraint}


def make_constraint(task: str, batch: int, n: int, device: str | torch.device = "cpu"):
    """The constraint object of ``task`` for ``batch`` partial outputs over ``n`` inputs."""
    return CONSTRAINTS[task](batch, n, device)


def teacher_masks(task: str, targets: torch.Tensor, n: int) -> torch.Tensor:
    """Masks of allowed choices along given target sequences (teacher forcing).

    Parameters
    ----------
    targets : torch.Tensor
        (B, T) long; choices in [0, m), padding ``-100`` after the end (the rows are treated as finished).

    Returns
    -------
    torch.Tensor
        (B, T, m) bool: ``out[:, t]`` is what the constraint allowed before choosing ``targets[:, t]``.
    """
    B, T = targets.shape
    cons = make_constraint(task, B, n, targets.device)
    pad = n if cons.has_eos else 0
    masks = []
    for t in range(T):
        masks.append(cons.allowed())
        step = targets[:, t]
        cons.update(torch.where(step < 0, torch.full_like(step, pad), step))
    return torch.stack(masks, dim=1)
