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

from lab.core.errors import LabInputError
from lab.pointer.tasks import HULL_RULES


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


def _cross(o: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(a - o) x (b - o) over the last axis (size 2), broadcast; > 0 when b is left of the line o -> a."""
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


class HullConstraint:
    """Convex hull: distinct points, counter-clockwise from the smallest index, then EOS. m = n + 1.

    Index rule (always): the label starts at the hull vertex with the smallest index, so every later
    vertex has a larger index: masking indices below the first one is a free, exact rule. The first
    point must leave at least two larger indices (a hull has >= 3 vertices).

    Geometric rules (when the ``points`` are given; every decoder's default is "simple"):

    - "simple": the new edges q_k -> c and c -> q_0 may not cross an edge of the partial output, so
      the output, closed, is always a simple polygon -- Vinyals et al.'s (2015) definition of a valid
      output (theirs were not always valid; they had no such rule).
    - "convex": the partial output, closed, is always a convex counter-clockwise polygon: every
      chosen point lies left of (or on) every edge. The second point must leave a third one to its
      left, so decoding never gets stuck.

    With either rule EOS is allowed as soon as 3 points are out. Neither says which points are on
    the hull: a polygon through interior points, or one that skips a hull vertex, is allowed;
    telling those apart is still the model's job. ``hull_rule="index"`` is the setting comparable
    with the paper.
    """

    has_eos = True
    tolerance = 1e-9  # cross products this close to 0 count as "on the line" (float noise, collinear points)

    def __init__(self, batch: int, n: int, device: str | torch.device = "cpu",
                 points: torch.Tensor | None = None, rule: str = "simple") -> None:
        if rule not in HULL_RULES:
            raise LabInputError(f"unknown hull rule {rule!r}; choose one of {', '.join(HULL_RULES)}.")
        self.n, self.rule = n, rule
        self.visited = torch.zeros(batch, n, dtype=torch.bool, device=device)  # (B, n)
        self.first = torch.full((batch,), -1, dtype=torch.long, device=device)  # (B,)
        self.length = torch.zeros(batch, dtype=torch.long, device=device)  # (B,)
        self.finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (B,)
        # geometry in float64: the rule compares signs of small cross products
        self.points = None if points is None else points.to(device=device, dtype=torch.float64)  # (B, n, 2)
        self.chain = torch.zeros(batch, n, 2, dtype=torch.float64, device=device)  # (B, n, 2) chosen points

    def allowed(self) -> torch.Tensor:
        B, n = self.visited.shape
        ar = torch.arange(n, device=self.visited.device)[None, :]  # (1, n)
        started = (self.first >= 0)[:, None]  # (B, 1)
        points = torch.where(started, (ar > self.first[:, None]) & ~self.visited, ar <= n - 3)  # (B, n)
        if self.points is not None:
            points = points & (self._convex(points) if self.rule == "convex" else self._simple(points))
        eos = (self.length >= 3) | ~points.any(dim=1)  # (B,)
        points = points & ~self.finished[:, None]
        eos = eos | self.finished
        return torch.cat([points, eos[:, None]], dim=1)  # (B, n + 1)

    def _convex(self, candidates: torch.Tensor) -> torch.Tensor:
        """(B, n) bool: candidates c that keep chain + c, closed, a convex counter-clockwise polygon."""
        P, L, tol = self.points, self.length, self.tolerance
        ok = torch.ones_like(candidates)
        q0 = self.chain[:, 0]  # (B, 2), meaningful once L >= 1

        one = L == 1
        if bool(one.any()):  # second point c: some remaining candidate d must lie strictly left of q0 -> c
            rows = one.nonzero()[:, 0]
            o, p = q0[rows][:, None, None, :], P[rows]  # (R, 1, 1, 2), (R, n, 2)
            left = _cross(o, p[:, :, None, :], p[:, None, :, :]) > tol  # (R, n_c, n_d)
            ok[rows] = (left & candidates[rows][:, None, :]).any(dim=2)
        many = L >= 2
        if bool(many.any()):
            rows = many.nonzero()[:, 0]
            k = int(L[rows].max())
            chain, lr, p = self.chain[rows, :k], L[rows], P[rows]  # (R, k, 2), (R,), (R, n, 2)
            idx = torch.arange(k, device=P.device)[None, :]  # (1, k)
            # (a) c left of every chain edge q_i -> q_{i+1}, i < L - 1
            edge_ok = _cross(chain[:, :-1, None, :], chain[:, 1:, None, :], p[:, None, :, :]) > -tol  # (R, k-1, n)
            edge_ok = edge_ok | (idx[:, :-1] >= (lr - 1)[:, None])[:, :, None]
            qk = chain[torch.arange(len(rows), device=P.device), lr - 1]  # (R, 2) last point
            # (b) every earlier point left of the new edge q_k -> c
            new_ok = _cross(qk[:, None, None, :], p[:, :, None, :], chain[:, None, :, :]) > -tol  # (R, n, k)
            new_ok = new_ok | (idx >= (lr - 1)[:, None])[:, None, :]
            # (c) every later point left of the closing edge c -> q_0
            close_ok = _cross(p[:, :, None, :], chain[:, None, :1, :], chain[:, None, :, :]) > -tol  # (R, n, k)
            close_ok = close_ok | ((idx == 0) | (idx >= lr[:, None]))[:, None, :]
            ok[rows] = edge_ok.all(dim=1) & new_ok.all(dim=2) & close_ok.all(dim=2)
        return ok

    def _simple(self, candidates: torch.Tensor) -> torch.Tensor:
        """(B, n) bool: candidates c whose new edges q_k -> c and c -> q_0 cross no chain edge."""
        P, L = self.points, self.length
        ok = torch.ones_like(candidates)
        many = L >= 2
        if not bool(many.any()):
            return ok
        rows = many.nonzero()[:, 0]
        k = int(L[rows].max())
        chain, lr, p = self.chain[rows, :k], L[rows], P[rows]  # (R, k, 2), (R,), (R, n, 2)
        R = len(rows)
        qk = chain[torch.arange(R, device=P.device), lr - 1]  # (R, 2)
        a, b = chain[:, :-1], chain[:, 1:]  # (R, k-1, 2) chain edges a_i -> b_i, i < L - 1
        i = torch.arange(k - 1, device=P.device)[None, :]

        def crosses(s0, s1):  # segments s0 -> s1 (R, n, 1, 2) vs chain edges (R, 1, k-1, 2): proper crossings
            A, B = a[:, None], b[:, None]
            d1, d2 = _cross(A, B, s0), _cross(A, B, s1)
            d3, d4 = _cross(s0, s1, A), _cross(s0, s1, B)
            return (d1 * d2 < 0) & (d3 * d4 < 0)  # (R, n, k-1)

        c = p[:, :, None, :]  # (R, n, 1, 2)
        tail = crosses(qk[:, None, None, :].expand_as(c), c) & (i <= (lr - 3)[:, None])[:, None, :]
        close = crosses(c, chain[:, None, None, 0, :].expand_as(c)) & ((i >= 1) & (i <= (lr - 2)[:, None]))[:, None, :]
        ok[rows] = ~(tail | close).any(dim=2)
        return ok

    def update(self, choice: torch.Tensor) -> None:
        is_eos = choice == self.n
        idx = choice.clamp(max=self.n - 1)
        live = ~is_eos & ~self.finished
        if self.points is not None:
            rows = live.nonzero()[:, 0]
            self.chain = self.chain.clone()
            self.chain[rows, self.length[rows]] = self.points[rows, idx[rows]]
        self.visited = self.visited | (torch.nn.functional.one_hot(idx, self.n).bool() & live[:, None])
        self.first = torch.where(live & (self.first < 0), choice, self.first)
        self.length = self.length + live.long()
        self.finished = self.finished | is_eos

    def select(self, idx: torch.Tensor) -> HullConstraint:
        new = HullConstraint.__new__(HullConstraint)
        new.n, new.rule = self.n, self.rule
        new.visited, new.first = self.visited[idx], self.first[idx]
        new.length, new.finished = self.length[idx], self.finished[idx]
        new.points = None if self.points is None else self.points[idx]
        new.chain = self.chain[idx]
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


def make_constraint(task: str, batch: int, n: int, device: str | torch.device = "cpu",
                    points: torch.Tensor | None = None, hull_rule: str = "simple"):
    """The constraint object of ``task`` for ``batch`` partial outputs over ``n`` inputs.

    ``points`` (batch, n, 2), for the hull only, switch on its geometric ``hull_rule``
    ("simple" or "convex", see :class:`HullConstraint`); without them only the index rule applies.
    """
    if task == "hull":
        return HullConstraint(batch, n, device, points, hull_rule)
    return CONSTRAINTS[task](batch, n, device)


def teacher_masks(task: str, targets: torch.Tensor, n: int, points: torch.Tensor | None = None,
                  hull_rule: str = "simple") -> torch.Tensor:
    """Masks of allowed choices along given target sequences (teacher forcing).

    Parameters
    ----------
    targets : torch.Tensor
        (B, T) long; choices in [0, m), padding ``-100`` after the end (the rows are treated as finished).
    points, hull_rule
        (B, n, 2) and "simple" or "convex": the hull's geometric rule, as in decoding.

    Returns
    -------
    torch.Tensor
        (B, T, m) bool: ``out[:, t]`` is what the constraint allowed before choosing ``targets[:, t]``.
    """
    B, T = targets.shape
    cons = make_constraint(task, B, n, targets.device, points, hull_rule)
    pad = n if cons.has_eos else 0
    masks = []
    for t in range(T):
        masks.append(cons.allowed())
        step = targets[:, t]
        cons.update(torch.where(step < 0, torch.full_like(step, pad), step))
    return torch.stack(masks, dim=1)
