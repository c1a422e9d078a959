"""The attention model of Kool, van Hoof and Welling (2019) for the TSP, as used by POMO (Kwon et al. 2020).

A transformer encoder (no positional encoding: the input is a *set* of points) turns every point
into an embedding h_j that knows about all the others. A light decoder then builds the tour one
node at a time: its query is the context (graph mean, first node, last node), it takes one
multi-head "glimpse" over the unvisited nodes, and the final single-head compatibilities,
clipped with C tanh(.), are the pointer logits. The encoder runs once per instance; each decoding
step costs only O(n d), which is why POMO can afford n rollouts per instance.

Differences from Kool et al., and why: instance normalisation over the nodes (as POMO) instead of
batch normalisation, so a single instance of any n is normalised the same way at train and test
time; the first node is given by the caller (every node for POMO's multi-start), so Kool's learned
first-step placeholders are not needed. Where Kool's policy picks its own first node, a model may carry
a *start head* (``start_head=True``): a small MLP over each node's embedding and the graph's that scores
the nodes as starts, trained after the policy on which start gives the shortest greedy tour
(:mod:`lab.pointer.start_head`). Without one, a single rollout starts at node 0.

References
----------
Kool, W., van Hoof, H., Welling, M. (2019). Attention, Learn to Solve Routing Problems! ICLR.
Kwon, Y.-D. et al. (2020). POMO: Policy Optimization with Multiple Optima for RL. NeurIPS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class InstanceNorm(nn.Module):
    """Normalise each feature over the n nodes of one instance: (B, n, d) -> (B, n, d)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(d, affine=True, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class EncoderLayer(nn.Module):
    """h <- Norm(h + MHA(h)); h <- Norm(h + FF(h)), as in Kool et al. (2019), eq. (2)-(3)."""

    def __init__(self, d: int, heads: int, ff: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.norm1 = InstanceNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.norm2 = InstanceNorm(d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.norm1(h + self.attn(h, h, h, need_weights=False)[0])  # (B, n, d)
        return self.norm2(h + self.ff(h))  # (B, n, d)


#: The decoding-time distance prior, ``(alpha, training n)``, of the decoding running in this thread (or
#: task): ``decoding.decode(distance_prior=...)`` sets it for one call. A context variable rather than a
#: model attribute, so two visitors decoding one cached model at once never see each other's setting.
DISTANCE_PRIOR: ContextVar[tuple[float, int]] = ContextVar("distance_prior", default=(0.0, 1))


@dataclass
class AMState:
    """Decoding state for B rows. Everything per node is computed once by ``init_state``."""

    glimpse_k: torch.Tensor  # (B, H, n, dk) keys of the glimpse attention
    glimpse_v: torch.Tensor  # (B, H, n, dk) values of the glimpse attention
    logit_k: torch.Tensor  # (B, n, d) keys of the final single-head pointer
    node_q: torch.Tensor  # (B, n, d) each node's contribution to the query when it is first / last
    graph_q: torch.Tensor  # (B, d) the graph's (mean embedding's) contribution to the query
    first: torch.Tensor  # (B,) long, -1 before the first choice
    last: torch.Tensor  # (B,) long
    visited: torch.Tensor  # (B, n) bool; the glimpse only looks at unvisited nodes
    points: torch.Tensor  # (B, n, 2) the coordinates, for the decoding-time distance prior
    start_scores: torch.Tensor  # (B, n) the start head's score of each node as the first one (zeros: no head)

    def select(self, idx: torch.Tensor) -> AMState:
        return AMState(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


class AttentionModel(nn.Module):
    """Transformer encoder + pointer decoder for the TSP.

    Parameters
    ----------
    hidden : int
        Embedding size d (Kool et al.: 128).
    layers : int
        Encoder layers (Kool et al.: 3; POMO: 6).
    heads : int
        Attention heads in the encoder and the decoder's glimpse (8).
    ff : int
        Hidden size of the encoder's feed-forward sublayer (512).
    clip : float
        C in the logits C tanh(q k / sqrt(d)); bounds the logits so exploration never collapses (10).
    start_head : bool
        Add the start head, an MLP [h_j; mean h] (2d) -> d -> d -> 1 scoring each node as the first one
        (:meth:`first_node`); it reads the encoder's embeddings and changes nothing else.
    """

    kind = "am"
    task = "tsp"

    def __init__(self, hidden: int = 128, layers: int = 3, heads: int = 8, ff: int = 512, clip: float = 10.0,
                 start_head: bool = False) -> None:
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.hidden, self.layers, self.heads, self.ff, self.clip = hidden, layers, heads, ff, clip
        d = hidden
        self.embed = nn.Linear(2, d)
        self.encoder = nn.ModuleList(EncoderLayer(d, heads, ff) for _ in range(layers))
        # The context query [h_graph; h_first; h_last] W_q, split into three linear maps so each
        # part can be precomputed per node once and merely gathered at every step.
        self.q_graph = nn.Linear(d, d, bias=False)
        self.q_first = nn.Linear(d, d, bias=False)
        self.q_last = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 3 * d, bias=False)  # glimpse keys, glimpse values, pointer keys
        self.out = nn.Linear(d, d, bias=False)  # merges the glimpse heads
        self.start = (nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 1))
                      if start_head else None)

    def architecture(self) -> dict:
        arch = {"model": "am", "task": "tsp", "hidden": self.hidden, "layers": self.layers,
                "heads": self.heads, "ff": self.ff, "clip": self.clip}
        return {**arch, "start_head": True} if self.start is not None else arch  # older cards: no key

    # ----------------------------------------------------------------------------- encoder
    def encode(self, points: torch.Tensor) -> torch.Tensor:
        """points (B, n, 2) -> node embeddings (B, n, d)."""
        h = self.embed(points)
        for layer in self.encoder:
            h = layer(h)
        return h

    def start_scores(self, h: torch.Tensor) -> torch.Tensor:
        """Node embeddings (B, n, d) -> each node's score as the first node (B, n); zeros without a head."""
        if self.start is None:
            return h.new_zeros(h.shape[:2])
        graph = h.mean(dim=1, keepdim=True).expand_as(h)  # (B, n, d)
        return self.start(torch.cat([h, graph], dim=-1))[..., 0]  # (B, n)

    def first_node(self, state: AMState) -> torch.Tensor:
        """The start of a single rollout (B,): the start head's best-scored node, or node 0 without a head."""
        return state.start_scores.argmax(dim=1)  # all zeros -> node 0 (argmax takes the first maximum)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, d) -> (B, H, n, d/H)."""
        B, n, d = x.shape
        return x.view(B, n, self.heads, d // self.heads).transpose(1, 2).contiguous()  # contiguous: 2x faster attention

    def init_state(self, points: torch.Tensor) -> AMState:
        h = self.encode(points)  # (B, n, d)
        B, n, _ = h.shape
        gk, gv, lk = self.kv(h).chunk(3, dim=-1)  # (B, n, d) each
        node_q = torch.stack([self.q_first(h), self.q_last(h)], dim=2)  # (B, n, 2, d)
        none = torch.full((B,), -1, dtype=torch.long, device=h.device)
        return AMState(self._split(gk), self._split(gv), lk, node_q.flatten(2), self.q_graph(h.mean(dim=1)),
                       none, none, torch.zeros(B, n, dtype=torch.bool, device=h.device), points,
                       self.start_scores(h))

    # ----------------------------------------------------------------------------- decoder
    def _logits(self, s: AMState, first: torch.Tensor, last: torch.Tensor, visited: torch.Tensor) -> torch.Tensor:
        """Pointer logits for a batch of contexts.

        first, last : (B, T) long; visited : (B, T, n) bool. Returns (B, T, n), unmasked by ``visited``
        (the caller masks with the task constraint; the glimpse itself only looks at unvisited nodes).
        """
        B, T = first.shape
        d = self.hidden
        qf = s.node_q[..., :d].gather(1, first[..., None].expand(-1, -1, d))  # (B, T, d)
        ql = s.node_q[..., d:].gather(1, last[..., None].expand(-1, -1, d))  # (B, T, d)
        q = s.graph_q[:, None, :] + qf + ql  # (B, T, d) context query
        qh = q.view(B, T, self.heads, -1).transpose(1, 2)  # (B, H, T, dk)
        # Glimpse: attend over the unvisited nodes. When everything is visited (only possible on the
        # final, forced step) allow all nodes rather than produce NaNs.
        look = ~visited | visited.all(dim=-1, keepdim=True)  # (B, T, n)
        # written out rather than F.scaled_dot_product_attention: with a few query rows and n keys the
        # plain products made a CPU POMO training step ~15 % faster (forward and backward), same result
        att = qh @ s.glimpse_k.transpose(-1, -2) / math.sqrt(qh.shape[-1])  # (B, H, T, n)
        att = att.masked_fill(~look[:, None], float("-inf")).softmax(dim=-1)
        g = att @ s.glimpse_v  # (B, H, T, dk)
        g = self.out(g.transpose(1, 2).reshape(B, T, d))  # (B, T, d)
        u = g @ s.logit_k.transpose(1, 2) / math.sqrt(d)  # (B, T, n)
        logits = self.clip * torch.tanh(u)
        alpha, trained_n = DISTANCE_PRIOR.get()
        if alpha:
            # Past its training size the pointer spreads over far nodes; a prior that lowers each node's
            # logit by its distance from the last node (in units of the training n's point spacing, which
            # shrinks as 1/sqrt(n)) keeps the tour local -- the idea of distance-aware attention
            # reshaping (Wang et al. 2024), in a simple linear form.
            n = s.points.shape[1]
            here = s.points.gather(1, last.clamp(min=0)[..., None].expand(-1, -1, 2))  # (B, T, 2)
            dist = torch.cdist(here, s.points)  # (B, T, n)
            logits = logits - alpha * math.sqrt(n / trained_n) * dist
        return logits

    def logits(self, state: AMState) -> torch.Tensor:
        """Scores for the next node: (B, n). Needs the first node already chosen."""
        if bool((state.first < 0).any()):
            raise RuntimeError("the attention model needs its first node given; call advance(state, start) first")
        return self._logits(state, state.first[:, None], state.last[:, None], state.visited[:, None])[:, 0]

    def advance(self, state: AMState, choice: torch.Tensor) -> AMState:
        first = torch.where(state.first < 0, choice, state.first)
        visited = state.visited.scatter(1, choice[:, None], True)
        return AMState(state.glimpse_k, state.glimpse_v, state.logit_k, state.node_q, state.graph_q,
                       first, choice, visited, state.points, state.start_scores)

    def all_starts(self, points: torch.Tensor,
                   pick: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One tour from every start node at once (POMO's multi-start), sharing one encoding.

        The n rollouts of an instance are the T axis of :meth:`_logits`: the node keys and values
        stay (B, H, n, dk) instead of being copied n times, which makes a POMO training step several
        times cheaper (smaller activations, and gradients summed over n queries in one product).

        Parameters
        ----------
        points : (B, n, 2)
        pick : callable
            ``pick(logp (B*n, n)) -> (B*n,)`` chooses the next node (argmax, or a sample).

        Returns
        -------
        tours : (B, n, n) long
            ``tours[b, s]`` is the tour of instance b that starts at node s.
        logp : (B, n)
            Summed log-probability of each tour's choices (its first node is given).
        """
        s = self.init_state(points)
        B, n, _ = points.shape
        first = torch.arange(n, device=points.device).expand(B, n)  # (B, T=n): rollout t starts at node t
        last = first
        visited = torch.eye(n, dtype=torch.bool, device=points.device).expand(B, n, n)  # (B, T, n)
        steps, total = [first], torch.zeros(B, n, device=points.device)
        for _ in range(n - 1):
            logits = self._logits(s, first, last, visited).masked_fill(visited, float("-inf"))  # (B, T, n)
            logp = logits.log_softmax(dim=-1)
            choice = pick(logp.reshape(B * n, n)).view(B, n)  # (B, T)
            total = total + logp.gather(2, choice[..., None])[..., 0]
            visited = visited.scatter(2, choice[..., None], True)
            last = choice
            steps.append(choice)
        return torch.stack(steps, dim=2), total

    # ----------------------------------------------------------------------------- teacher forcing
    def forward(self, points: torch.Tensor, tours: torch.Tensor) -> torch.Tensor:
        """Logits of every step of given tours at once (imitation learning).

        The decoder has no recurrent state -- its context is (graph, first, last, visited set) -- so
        all n-1 steps of a known tour are computed in parallel.

        Parameters
        ----------
        points : (B, n, 2)
        tours : (B, n) long permutations; ``tours[:, 0]`` is the given first node.

        Returns
        -------
        torch.Tensor
            (B, n-1, n): ``out[:, t]`` scores the choice of ``tours[:, t+1]``.
        """
        s = self.init_state(points)
        B, n = tours.shape
        first = tours[:, :1].expand(B, n - 1)  # (B, n-1)
        last = tours[:, :-1]  # (B, n-1) node chosen just before step t
        # visited before step t = tours[:, :t+1]; a cumulative one-hot over the tour order.
        onehot = F.one_hot(tours, n).bool()  # (B, n, n) [b, t, node]
        visited = onehot.cumsum(dim=1).bool()[:, :-1]  # (B, n-1, n)
        return self._logits(s, first, last, visited)
