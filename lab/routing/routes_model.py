"""A tiny causal transformer LM whose every layer offers a small FFN, a big FFN, or skipping it (Duo-LLM).

Layer ``l`` of :class:`RoutesLM`: ``x = x + attn(ln1(x))`` (causal, always computed), then the FFN slot on
``u = ln2(x)``, chosen per token: ``skip`` (0: ``x`` goes on unchanged), ``small`` (1: d -> h_s -> d) or
``big`` (2: d -> h_b -> d), ``x = x + ffn(u)``. A *route* is one choice per layer, coded as the integer
``sum_l choice_l * 3**(L-1-l)`` (the first layer is the most significant base-3 digit), so the ``3**L``
routes are ``0 .. 3**L - 1``; a route's first ``l`` digits are its *prefix* at depth ``l``.

:func:`route_table` is the exhaustive oracle's measurement: the next-token loss of every position under
every route. A token's route changes that token's own computation only; the tokens before it, which it
attends to, keep the *reference route* (all big). Then the loss at position ``t`` depends on ``t``'s route
alone, the ``3**L`` routes of all positions are measured in one pass per route (sharing prefixes: a
depth-``l`` state is computed once for its ``3**(L-l)`` completions), and the oracle is exact. In the
attention of layer ``l`` position ``t``'s query meets the reference keys/values of positions ``s < t`` and
its own key/value (computed from its own routed state) at ``s = t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.routing.macs import count_macs

CHOICES = ("skip", "small", "big")
SKIP, SMALL, BIG = 0, 1, 2


@dataclass(frozen=True)
class Arch:
    """Shape of a :class:`RoutesLM` (what a checkpoint needs to rebuild it)."""

    vocab: int
    layers: int
    d_model: int
    heads: int
    small_hidden: int
    big_hidden: int
    context: int


class FFN(nn.Sequential):
    """d -> hidden -> d with a GELU: the small and the big module of a layer differ only in ``hidden``."""

    def __init__(self, d: int, hidden: int):
        super().__init__(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))


class Attention(nn.Module):
    """Causal multi-head self-attention whose keys/values may come from a reference pass (see the module doc)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def project(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, d) -> q, k, v, each (B, H, T, d/H)."""
        b, t, d = h.shape
        q, k, v = self.qkv(h).split(d, dim=-1)
        return tuple(z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))

    def forward(self, h: torch.Tensor, ref: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """h (B, T, d) -> (B, T, d). ``ref``: reference (k, v), each (B, H, T, d/H), for positions ``s < t``."""
        b, t, d = h.shape
        q, k, v = self.project(h)
        if ref is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k_ref, v_ref = ref
            scale = 1.0 / math.sqrt(q.shape[-1])
            scores = q @ k_ref.transpose(-1, -2) * scale  # (B, H, T, T): query t against reference key s
            own = (q * k).sum(-1) * scale  # (B, H, T): query t against its own key
            eye = torch.eye(t, dtype=torch.bool, device=h.device)
            scores = torch.where(eye, own.unsqueeze(-1), scores)
            scores = scores.masked_fill(torch.triu(torch.ones_like(eye), 1), float("-inf"))
            p = torch.softmax(scores, dim=-1)
            diag = torch.diagonal(p, dim1=-2, dim2=-1)  # (B, H, T): weight on the token itself
            y = p.masked_fill(eye, 0.0) @ v_ref + diag.unsqueeze(-1) * v
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Attention (always) then the FFN slot: skip, small or big, chosen per token."""

    def __init__(self, arch: Arch):
        super().__init__()
        d = arch.d_model
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, arch.heads)
        self.small = FFN(d, arch.small_hidden)
        self.big = FFN(d, arch.big_hidden)

    def ffn(self, u: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
        """u (..., d), choice (...) in {0, 1, 2} -> the slot's output (..., d); only the chosen module runs."""
        y = torch.zeros_like(u)
        for c, module in ((SMALL, self.small), (BIG, self.big)):
            mask = choice == c
            if mask.any():
                y = y.index_put((mask,), module(u[mask]))
        return y

    def all_choices(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The slot's output under skip, small and big, each shaped like ``u``."""
        return torch.zeros_like(u), self.small(u), self.big(u)


class RoutesLM(nn.Module):
    """Token + position embeddings, ``layers`` routed blocks, a final LayerNorm and the LM head."""

    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        self.embed = nn.Embedding(arch.vocab, arch.d_model)
        self.pos = nn.Parameter(torch.randn(arch.context, arch.d_model) * 0.02)
        self.blocks = nn.ModuleList(Block(arch) for _ in range(arch.layers))
        self.ln = nn.LayerNorm(arch.d_model)
        self.head = nn.Linear(arch.d_model, arch.vocab)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens) + self.pos[: tokens.shape[1]]

    def forward(self, tokens: torch.Tensor, routes: torch.Tensor) -> torch.Tensor:
        """tokens (B, T), routes (B, T, L) choices in {0, 1, 2} -> logits (B, T, vocab); every token its route."""
        x = self.embed_tokens(tokens)
        for li, block in enumerate(self.blocks):
            x = x + block.attn(block.ln1(x))
            x = x + block.ffn(block.ln2(x), routes[..., li])
        return self.head(self.ln(x))


# -- routes as integers --------------------------------------------------------------------------------
def route_digits(codes: torch.Tensor | int, layers: int) -> torch.Tensor:
    """Route codes (...) -> choices (..., L), first layer first."""
    codes = torch.as_tensor(codes)
    powers = 3 ** torch.arange(layers - 1, -1, -1)
    return (codes.unsqueeze(-1) // powers) % 3


def route_code(choices: list[int] | tuple[int, ...]) -> int:
    code = 0
    for c in choices:
        code = 3 * code + int(c)
    return code


def route_name(code: int, layers: int) -> str:
    """``'S b -'``-style text: ``-`` skip, ``s`` small, ``B`` big, one letter per layer."""
    return " ".join("-sB"[int(c)] for c in route_digits(code, layers).tolist())


def ffn_macs(model: RoutesLM) -> tuple[int, int]:
    """MACs per token of one layer's (small, big) FFN, counted from its Linear layers on one token."""
    block = model.blocks[0]
    u = torch.zeros(1, model.arch.d_model)
    return (count_macs(block.small, u, modules=block.small), count_macs(block.big, u, modules=block.big))


@dataclass
class RouteTable:
    """Every route's loss at every position, and what the routers saw on the way.

    ``loss`` (N, 3**L): next-token cross-entropy (nats) of the N positions under each route;
    ``router_logits``: per layer ``l``, (N, 3**l, 3), the router's logits at each prefix (when a router ran);
    ``inputs``: per layer ``l``, (N, 3**l, d), the FFN slot's input ``u`` at each prefix (when kept).
    """

    loss: torch.Tensor
    router_logits: list[torch.Tensor] | None = None
    inputs: list[torch.Tensor] | None = None


@torch.no_grad()
def route_table(model: RoutesLM, tokens: torch.Tensor, router: nn.Module | None = None,
                keep_inputs: bool = False) -> RouteTable:
    """The loss of every position of ``tokens`` (B, T+1) under all ``3**L`` routes (module doc: the protocol).

    Returns a :class:`RouteTable` over the ``N = B*T`` positions predicting ``tokens[:, 1:]``. ``router``,
    if given, is called as ``router(l, u)`` with ``u`` (..., d) and returns logits (..., 3).
    """
    model.eval()
    inp, target = tokens[:, :-1], tokens[:, 1:]
    b, t = inp.shape
    d, n_layers = model.arch.d_model, model.arch.layers
    # the reference pass (all big): every layer's keys and values
    refs = []
    x = model.embed_tokens(inp)
    for block in model.blocks:
        _, k, v = block.attn.project(block.ln1(x))
        refs.append((k, v))
        x = x + block.attn(block.ln1(x))
        x = x + block.big(block.ln2(x))
    states = model.embed_tokens(inp).unsqueeze(0)  # (P, B, T, d): P prefixes, here the empty one
    logits_per_layer, inputs_per_layer = [], []
    for li, block in enumerate(model.blocks):
        p = states.shape[0]
        flat = states.reshape(p * b, t, d)
        k_ref, v_ref = (z.repeat(p, 1, 1, 1) for z in refs[li])
        x = flat + block.attn(block.ln1(flat), ref=(k_ref, v_ref))
        u = block.ln2(x)
        if router is not None:
            logits_per_layer.append(router(li, u).reshape(p, b * t, 3).transpose(0, 1).contiguous())
        if keep_inputs:
            inputs_per_layer.append(u.reshape(p, b * t, d).transpose(0, 1).contiguous())
        children = [(x + y).reshape(p, b, t, d) for y in block.all_choices(u)]
        states = torch.stack(children, dim=1).reshape(p * 3, b, t, d)  # child code = prefix * 3 + choice
    logits = model.head(model.ln(states))  # (R, B, T, V)
    r = states.shape[0]
    ce = F.cross_entropy(logits.reshape(r * b * t, -1), target.reshape(-1).repeat(r), reduction="none")
    assert r == 3 ** n_layers
    return RouteTable(ce.reshape(r, b * t).t().contiguous(), logits_per_layer or None, inputs_per_layer or None)


__all__ = ["Arch", "RoutesLM", "RouteTable", "route_table", "route_digits", "route_code", "route_name", "ffn_macs",
           "CHOICES", "SKIP", "SMALL", "BIG"]
