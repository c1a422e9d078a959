"""Decoding a pointer model: greedy, beam search, sampling and POMO multi-start with 8 augmentations.

All decoders drive the same step interface of the models (``init_state``, ``logits``, ``advance``,
``state.select``) and the same task constraints (:mod:`lab.pointer.models.masks`), so every output
is valid by construction -- a permutation for the TSP, a simple polygon for the hull (a convex one
with ``hull_rule="convex"``), distinct ascending triangles for Delaunay -- for any n.

Conventions of the output (:class:`ModelOutput`):

- ``sequence``: TSP: a permutation in the order decoded, from its first node (``start``: an attention
  model's start head when it has one, else node 0; POMO's tours start at node 0); hull: vertex
  indices in order; Delaunay: flattened triangles ``[i0, j0, k0, i1, ...]``.
- ``log_prob`` and ``attention`` are the model's own view of the returned sequence on the given
  points: ``attention[i]`` is the pointer distribution over the n points at step i given
  ``sequence[:i]`` (shape (len(sequence), n)); ``log_prob`` sums the log-probabilities of the choices.
  For greedy decoding that is exactly what happened; for the search decoders it is a replay of
  the winning sequence. The TSP's first node is given, not chosen: its row is one-hot.
- Which candidate wins (beam, sampling, POMO): the best by the task's own objective, as in Kool et
  al. and Kwon et al. -- for the TSP the shortest tour; for the hull the largest simple polygon (the
  hull is the largest-area polygon through the points, so area is its objective as length is the
  TSP's: a candidate wins because it is better, never because it matches a label); for Delaunay,
  which has no such simple objective, the most probable sequence.
- A Ptr-Net with ``input_order="x"`` reads the points sorted by x, then y: every decoder runs in that
  frame (:func:`lab.pointer.frames.reading_order`) and the sequence and attention are mapped back to
  the given indices. Its hull outputs start at the leftmost vertex (the smallest index of the frame it
  reads), not at the smallest given index; its Delaunay triangles are ascending in that frame, not in
  the given indices.
- POMO for the hull: the model chooses its own first point, so there is one start; what remains of
  POMO is its x8 augmentation -- greedy on the 8 symmetric copies of the square, keep the largest.
  Hull outputs are returned counter-clockwise from their smallest index whatever copy they came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lab.core.errors import LabInputError
from lab.pointer.frames import augment8, reading_order, reorder, tour_lengths
from lab.pointer.metrics import is_simple_polygon, polygon_area
from lab.pointer.models.attention_model import DISTANCE_PRIOR
from lab.pointer.models.masks import make_constraint
from lab.pointer.tasks import HULL_RULES, START_RULES

METHODS = ("greedy", "beam", "sample", "pomo")
METHOD_HELP = ("pomo: greedy on the 8 symmetric copies of the square (attention model: from every start node too), "
               "keeping the best -- the shortest tour or the largest hull. beam and sample (seeded) also keep the best "
               "candidate by that objective.")

# Rows x nodes decoded at once; bounds memory (each row holds per-node keys of size ~5 d).
_ROW_NODE_BUDGET = 100_000


@dataclass
class ModelOutput:
    """One decoded instance; see the module docstring for the conventions."""

    sequence: list[int]
    attention: np.ndarray | None
    log_prob: float


def _rollout(model, state, task: str, n: int, rows: int, start: torch.Tensor | None,
             pick: Callable[[torch.Tensor], torch.Tensor], record: bool = False,
             mask_points: torch.Tensor | None = None, hull_rule: str = "simple"):
    """Decode ``rows`` partial outputs step by step until every one is finished.

    ``pick(logp (R, m)) -> (R,)`` chooses; ``start`` (R,) is the TSP's given first node;
    ``mask_points`` (R, n, 2) switch on the hull's geometric ``hull_rule`` (:class:`HullConstraint`).
    Returns choices (R, T) (EOS = n for hull/Delaunay), summed log-probs (R,), and if ``record``
    the per-step distributions over the points (R, T, n).
    """
    device = next(model.parameters()).device
    cons = make_constraint(task, rows, n, device, mask_points, hull_rule)
    seq, probs = [], []
    total = torch.zeros(rows, device=device)
    if task == "tsp":
        state = model.advance(state, start)
        cons.update(start)
        seq.append(start)
        if record:
            probs.append(torch.nn.functional.one_hot(start, n).float())
    while not bool(cons.finished.all()):
        allowed = cons.allowed()  # (R, m)
        logits = model.logits(state)[:, : allowed.shape[1]]  # the Ptr-Net's EOS slot is unused for the TSP
        logp = logits.masked_fill(~allowed, float("-inf")).log_softmax(dim=-1)  # (R, m)
        choice = pick(logp)
        total = total + logp.gather(1, choice[:, None])[:, 0]  # finished rows may only emit EOS: + 0
        seq.append(choice)
        if record:
            probs.append(logp[:, :n].exp())
        cons.update(choice)
        state = model.advance(state, choice)
    return torch.stack(seq, dim=1), total, (torch.stack(probs, dim=1) if record else None)


def _tsp_start(model, state, rows: int, start: str, device: torch.device) -> torch.Tensor:
    """The first node (rows,) of each TSP rollout: the start head's choice, or node 0 (see :data:`START_RULES`)."""
    if start == "learned" and hasattr(model, "first_node"):
        return model.first_node(state)
    return torch.zeros(rows, dtype=torch.long, device=device)


def _strip(row: torch.Tensor, n: int) -> list[int]:
    """Choices of one row up to (not including) the first EOS."""
    out = []
    for v in row.tolist():
        if v >= n:
            break
        out.append(int(v))
    return out


def _replay(model, points: torch.Tensor, task: str, sequences: list[list[int]], trace: bool, hull_rule: str):
    """Log-probability (and per-step attention) of given sequences: teacher-forced step decoding."""
    B, n, _ = points.shape
    eos = [] if task == "tsp" else [n]
    T = max(len(s) for s in sequences) + len(eos)
    target = torch.full((B, T), n if eos else 0, dtype=torch.long)
    for i, s in enumerate(sequences):
        target[i, : len(s) + len(eos)] = torch.tensor(s + eos)
    target = target.to(points.device)
    step = {"t": 1 if task == "tsp" else 0}

    def forced(logp: torch.Tensor) -> torch.Tensor:
        t = step["t"]
        step["t"] += 1
        return target[:, t] if t < T else torch.full_like(target[:, 0], n)

    start = target[:, 0] if task == "tsp" else None
    _, logp, probs = _rollout(model, model.init_state(points), task, n, B, start, forced, record=trace,
                              mask_points=_mask_points(points, task, hull_rule), hull_rule=hull_rule)
    return logp, probs


def _mask_points(points: torch.Tensor, task: str, hull_rule: str, repeat: int = 1) -> torch.Tensor | None:
    """The points the hull's geometric rule needs, one row per decoded row; None for the other tasks."""
    if task != "hull" or hull_rule == "index":
        return None
    return points.repeat_interleave(repeat, dim=0) if repeat > 1 else points


def _greedy(model, points, task, *, trace=False, hull_rule="simple", start="learned", **_):
    """Most probable choice at every step. Returns its log-probs and trace too (no replay needed)."""
    B, n, _ = points.shape
    state = model.init_state(points)
    first = _tsp_start(model, state, B, start, points.device) if task == "tsp" else None
    seq, logp, probs = _rollout(model, state, task, n, B, first, lambda lp: lp.argmax(dim=-1),
                                record=trace, mask_points=_mask_points(points, task, hull_rule), hull_rule=hull_rule)
    return [_strip(r, n) for r in seq], logp, probs


def _hull_score(points: np.ndarray, seq: list[int], hull_rule: str) -> float:
    """Area of the polygon ``seq`` over ``points`` (n, 2); -inf when it is not a simple polygon.

    Under the "simple" and "convex" rules every output is simple by construction: only the index rule
    needs the (quadratic) check.
    """
    if len(seq) < 3 or (hull_rule == "index" and not is_simple_polygon(points, seq)):
        return float("-inf")
    return polygon_area(points, seq)


def _counter_clockwise(points: np.ndarray, seq: list[int]) -> list[int]:
    """The hull output convention: same start (its smallest index), counter-clockwise."""
    p = np.asarray(points, dtype=np.float64)[seq]
    signed = float(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))
    return seq if signed >= 0 or len(seq) < 3 else [seq[0]] + seq[1:][::-1]


def _best(points: torch.Tensor, task: str, seq: torch.Tensor, logp: torch.Tensor, k: int,
          hull_rule: str = "simple") -> list[list[int]]:
    """Pick one of k candidate rows per instance: shortest tour (TSP), largest simple polygon (hull),
    most probable (Delaunay)."""
    B, n, _ = points.shape
    if task == "tsp":
        score = -tour_lengths(points.repeat_interleave(k, dim=0), seq)
    elif task == "hull":
        pts = points.double().cpu().numpy()
        score = torch.tensor([_hull_score(pts[r // k], _strip(seq[r], n), hull_rule) for r in range(B * k)],
                             dtype=torch.float64, device=seq.device)
        score = torch.where(score.isfinite(), score, logp.double() - 1e9)  # no valid candidate: most probable
    else:
        score = logp
    best = score.view(B, k).argmax(dim=1) + torch.arange(B, device=seq.device) * k  # (B,) row index
    return [_strip(seq[r], n) for r in best.tolist()]


def _sample(model, points, task, *, num_samples=16, seed=0, hull_rule="simple", start="learned", **_):
    B, n, _ = points.shape
    k = int(num_samples)
    gen = torch.Generator(device=points.device).manual_seed(int(seed))
    state = model.init_state(points).select(torch.arange(B, device=points.device).repeat_interleave(k))
    first = _tsp_start(model, state, B * k, start, points.device) if task == "tsp" else None

    def draw(logp: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(logp.exp(), 1, generator=gen)[:, 0]

    seq, logp, _ = _rollout(model, state, task, n, B * k, first, draw,
                            mask_points=_mask_points(points, task, hull_rule, k), hull_rule=hull_rule)
    return _best(points, task, seq, logp, k, hull_rule)


def _beam(model, points, task, *, beam_width=5, hull_rule="simple", start="learned", **_):
    """Beam search: keep the k most probable partial outputs per instance (summed log-probs)."""
    B, n, _ = points.shape
    k = int(beam_width)
    device = points.device
    base = torch.arange(B, device=device) * k  # (B,) first row of each instance's beam
    state = model.init_state(points).select(torch.arange(B, device=device).repeat_interleave(k))
    cons = make_constraint(task, B * k, n, device, _mask_points(points, task, hull_rule, k), hull_rule)
    score = torch.full((B, k), float("-inf"), device=device)
    score[:, 0] = 0.0  # all k rows start identical: only one of them is live at first
    hist = torch.zeros(B * k, 0, dtype=torch.long, device=device)
    if task == "tsp":
        first = _tsp_start(model, state, B * k, start, device)
        state, hist = model.advance(state, first), first[:, None]
        cons.update(first)
    while not bool(cons.finished.all()):
        allowed = cons.allowed()  # (Bk, m)
        m = allowed.shape[1]
        logp = model.logits(state)[:, :m].masked_fill(~allowed, float("-inf")).log_softmax(dim=-1)
        cand = (score.view(B * k, 1) + logp).view(B, k * m)  # (B, k*m)
        top, flat = cand.topk(k, dim=1)  # (B, k)
        parent = (flat // m + base[:, None]).flatten()  # (Bk,) rows to continue
        choice = (flat % m).flatten()  # (Bk,)
        # A dead candidate (-inf: fewer than k valid continuations) still needs a *valid* choice so
        # the constraint stays consistent; its -inf score keeps it from ever winning.
        allowed_p = allowed[parent]
        dead = ~allowed_p.gather(1, choice[:, None])[:, 0]
        choice = torch.where(dead, allowed_p.float().argmax(dim=1), choice)
        state, cons = state.select(parent), cons.select(parent)
        hist = torch.cat([hist[parent], choice[:, None]], dim=1)
        cons.update(choice)
        state = model.advance(state, choice)
        score = top
    if task == "tsp":
        flat_score = torch.where(score.isfinite(), -tour_lengths(points.repeat_interleave(k, dim=0), hist).view(B, k),
                                 torch.full_like(score, float("-inf")))
    else:
        flat_score = score
    best = flat_score.argmax(dim=1) + base
    if task == "hull":  # the largest simple polygon among the k finished beams
        return _best(points, task, hist, flat_score.flatten(), k, hull_rule)
    return [_strip(hist[r], n) for r in best.tolist()]


def _pomo(model, points, task, *, augment=True, hull_rule="simple", **_):
    """POMO: greedy rollouts from every start node (attention model) on 8 symmetric copies; keep the shortest.

    The Ptr-Net reads its input in order and was trained to start at node 0, so it gets the 8
    copies with the single start 0. Hull: see the module docstring.
    """
    if task == "delaunay":
        raise LabInputError("POMO decoding is for the TSP and the hull; use greedy, beam or sample for Delaunay.")
    if task == "hull":
        return _pomo_hull(model, points, augment, hull_rule)
    B, n, _ = points.shape
    device = points.device
    copies = augment8(points) if augment else points[None]  # (A, B, n, 2)
    starts = n if model.kind == "am" else 1
    best_len = torch.full((B,), float("inf"), device=device)
    best_tour = torch.zeros(B, n, dtype=torch.long, device=device)
    argmax = lambda lp: lp.argmax(dim=-1)  # noqa: E731
    for copy in copies:  # one copy at a time keeps memory at B*n rows
        if starts > 1:  # the n rollouts of an instance share its encoding (no copies of keys and values)
            seq = model.all_starts(copy, argmax)[0].reshape(B * starts, n)
        else:  # the Ptr-Net: the single start 0
            first = torch.zeros(B, dtype=torch.long, device=device)
            seq = _rollout(model, model.init_state(copy), task, n, B, first, argmax)[0]
        lengths = tour_lengths(points.repeat_interleave(starts, dim=0), seq).view(B, starts)
        length, which = lengths.min(dim=1)
        better = length < best_len
        best_len = torch.where(better, length, best_len)
        rows = which + torch.arange(B, device=device) * starts
        best_tour = torch.where(better[:, None], seq[rows], best_tour)
    # rotate each tour so that it starts at node 0 (same cycle, same direction)
    shift = (best_tour == 0).long().argmax(dim=1)  # (B,)
    idx = (torch.arange(n, device=device)[None, :] + shift[:, None]) % n
    return best_tour.gather(1, idx).tolist()


def _pomo_hull(model, points: torch.Tensor, augment: bool, hull_rule: str) -> list[list[int]]:
    """Greedy on each symmetric copy (a polygon is a polygon of the original too); keep the largest simple one."""
    B, n, _ = points.shape
    copies = augment8(points) if augment else points[None]  # (A, B, n, 2)
    pts = points.double().cpu().numpy()
    best: list[list[int]] = [[] for _ in range(B)]
    best_score = [float("-inf")] * B
    for copy in copies:
        order = reading_order(model, copy)  # a symmetric copy of sorted points is no longer sorted
        if order is not None:
            copy = reorder(copy, order)
        seq, _, _ = _rollout(model, model.init_state(copy), "hull", n, B, None, lambda lp: lp.argmax(dim=-1),
                             mask_points=_mask_points(copy, "hull", hull_rule), hull_rule=hull_rule)
        back = None if order is None else order.cpu().tolist()
        for i, row in enumerate(seq):
            cand = _strip(row, n) if back is None else [back[i][j] for j in _strip(row, n)]
            score = _hull_score(pts[i], cand, hull_rule)
            if score > best_score[i] or not best[i]:
                best[i], best_score[i] = cand, score
    # a copy read in another order may start elsewhere: every output starts at its smallest index, as the
    # index rule of a replay in this frame requires
    best = [s[s.index(min(s)):] + s[: s.index(min(s))] if s else s for s in best]
    return [_counter_clockwise(pts[i], s) for i, s in enumerate(best)]


DECODERS: dict[str, Callable] = {"greedy": _greedy, "beam": _beam, "sample": _sample, "pomo": _pomo}


def _rows_per_instance(model, method: str, n: int, beam_width: int, num_samples: int) -> int:
    return {"greedy": 1, "beam": beam_width, "sample": num_samples,
            "pomo": n if getattr(model, "kind", "") == "am" else 1}[method]


def decode(model, points: np.ndarray, task: str, method: str = "greedy", *, beam_width: int = 5,
           num_samples: int = 16, augment: bool = True, trace: bool = False, device: str = "cpu",
           seed: int = 0, hull_rule: str = "simple", distance_prior: float = 0.0,
           start: str = "learned") -> list[ModelOutput]:
    """Decode a batch of instances with a pointer model.

    Parameters
    ----------
    model : PointerNetwork or AttentionModel
    points : np.ndarray
        (B, n, 2) coordinates in [0, 1] (see ``tasks.normalize``), n >= 3; all instances share n.
    task : str
        "tsp", "hull" or "delaunay" (the attention model does only "tsp").
    method : str
        "greedy", "beam" (``beam_width``), "sample" (``num_samples`` per instance, seeded by ``seed``) or
        "pomo" (TSP: every start node x the 8 symmetric copies when ``augment``).
    trace : bool
        Also return the per-step pointer distributions (``ModelOutput.attention``, (steps, n)).
    hull_rule : str
        Hull only: "simple" (every output a simple polygon), "convex" (a convex counter-clockwise
        polygon) or "index" (the index rule alone: the setting of Vinyals et al. 2015, whose outputs
        may self-intersect); see :class:`~lab.pointer.models.masks.HullConstraint`.
    distance_prior : float
        Attention model only, >= 0: lower each node's logit by ``distance_prior`` x its distance from the
        last node, in units of the point spacing at the model's training n (its card's ``trained_n``).
        0 (default) is the network alone. Not trained: a decoding-time prior for instances larger than
        the training ones (measured in the README, Pointer tours, *Generalisation*).
    start : str
        TSP, greedy / beam / sample: "learned" (default) starts the rollout at the node the attention
        model's start head scores best (node 0 for a model without one: every Ptr-Net, and attention
        models trained before the head); "node0" starts at node 0. POMO starts from every node.

    Returns
    -------
    list[ModelOutput]
        One per instance, in order.
    """
    if method not in DECODERS:
        raise LabInputError(f"unknown decoding {method!r}; choose one of {', '.join(METHODS)}.")
    model_task = getattr(model, "task", "tsp")
    if model_task != task:
        raise LabInputError(f"this {model.kind} model was trained for {model_task}, not {task}; choose a {task} model.")
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.ndim != 3 or pts.shape[-1] != 2 or pts.shape[1] < 3:
        raise LabInputError(f"points must have shape (B, n, 2) with n >= 3, got {pts.shape}.")
    if not np.isfinite(pts).all():
        raise LabInputError("the points contain NaN or infinite coordinates; remove or fix them.")
    if hull_rule not in HULL_RULES:
        raise LabInputError(f"unknown hull rule {hull_rule!r}; choose one of {', '.join(HULL_RULES)}.")
    if int(beam_width) < 1 or int(num_samples) < 1:
        raise LabInputError("beam_width and num_samples must be at least 1.")
    if not (np.isfinite(distance_prior) and distance_prior >= 0):
        raise LabInputError(f"the distance prior must be a number >= 0 (0 = off), got {distance_prior}.")
    if distance_prior and model.kind != "am":
        raise LabInputError("the distance prior is for the attention model; use 0 with a Ptr-Net.")
    if start not in START_RULES:
        raise LabInputError(f"unknown start {start!r}; choose one of {', '.join(START_RULES)}.")
    B, n, _ = pts.shape
    was_training = model.training
    model.eval()
    model.to(device)
    per = _rows_per_instance(model, method, n, int(beam_width), int(num_samples))
    chunk = max(1, _ROW_NODE_BUDGET // (per * n))
    outputs: list[ModelOutput] = []
    trained = getattr(model, "card", {}).get("trained_n") or [n]
    prior = DISTANCE_PRIOR.set((float(distance_prior), int(max(trained))))  # this call, this thread only
    try:
        with torch.inference_mode():
            for lo in range(0, B, chunk):
                x = torch.from_numpy(pts[lo : lo + chunk]).to(device)
                order = reading_order(model, x)  # (b, n) or None
                if order is not None:
                    x = reorder(x, order)
                found = DECODERS[method](model, x, task, beam_width=beam_width, num_samples=num_samples,
                                         augment=augment, seed=seed + lo, trace=trace, hull_rule=hull_rule,
                                         start=start)
                if isinstance(found, tuple):  # greedy already knows its log-probs and trace
                    seqs, logp, probs = found
                else:  # search decoders: score the winners by replaying them
                    seqs = found
                    logp, probs = _replay(model, x, task, seqs, trace, hull_rule)
                if order is not None:  # back to the given indices
                    back = order.cpu().tolist()
                    seqs = [[back[i][j] for j in s] for i, s in enumerate(seqs)]
                    if trace:  # column j of the sorted frame is the given point order[j]
                        probs = torch.zeros_like(probs).scatter_(2, order[:, None, :].expand_as(probs), probs)
                for i, s in enumerate(seqs):
                    att = probs[i, : len(s)].cpu().numpy() if trace else None
                    outputs.append(ModelOutput(sequence=s, attention=att, log_prob=float(logp[i])))
    finally:
        model.train(was_training)
        DISTANCE_PRIOR.reset(prior)
    return outputs
