"""The Pointer Network of Vinyals, Fortunato and Jaitly (2015), readable top to bottom.

An LSTM reads the points one by one; a second LSTM writes the output. At each output step the
decoder state attends over the encoder states, and -- the paper's idea -- the attention weights
*are* the output distribution: the model points at one of its inputs instead of choosing from a
fixed vocabulary, so one set of weights works for any number of points n.

    u_j = v^T tanh(W1 e_j + W2 d_i)        j = 1..n (plus one EOS slot)
    p(C_i | C_1..C_{i-1}, P) = softmax(u)

The decoder's next input is the (embedded) point it just pointed at. Tasks with a variable output
length (hull, Delaunay) point at an extra learned "end of sequence" slot to stop.

References
----------
Vinyals, O., Fortunato, M., Jaitly, N. (2015). Pointer Networks. NeurIPS.
Vinyals, O., Bengio, S., Kudlur, M. (2016). Order Matters: Sequence to sequence for sets. ICLR.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from lab.core.errors import LabInputError

#: How a Ptr-Net reads its points: as given, or sorted by x then y (see ``PointerNetwork``), for these tasks
#: (the TSP's tours start at node 0 by convention, which a sorted frame would move).
INPUT_ORDERS = ("given", "x")
SORTED_TASKS = ("hull", "delaunay")


@dataclass
class PtrState:
    """Decoding state for a batch of B rows (rows may be expanded copies of instances)."""

    keys: torch.Tensor  # (B, m, d) W1 e_j, precomputed once per instance; m = n + 1 (last slot = EOS)
    inputs: torch.Tensor  # (B, m, d) embedded points (+ EOS embedding): the decoder's next input
    h: torch.Tensor  # (L, B, d) decoder LSTM state
    c: torch.Tensor  # (L, B, d)
    query: torch.Tensor  # (B, d) decoder output d_i for the step about to be taken

    def select(self, idx: torch.Tensor) -> PtrState:
        return PtrState(self.keys[idx], self.inputs[idx], self.h[:, idx], self.c[:, idx], self.query[idx])


class PointerNetwork(nn.Module):
    """LSTM encoder/decoder with content-based attention used as the output distribution.

    Parameters
    ----------
    task : str
        "hull", "delaunay" or "tsp" (decides only how the output is masked; the weights do not care).
    hidden : int
        LSTM and attention size d.
    layers : int
        Stacked LSTM layers in the encoder and the decoder.
    input_order : str
        "given": the points are read as they come (the paper's setting); "x" (hull, Delaunay): the decoder
        sorts them by x, then y, before the model reads them, and maps its output back (see
        :func:`lab.pointer.decoding.reading_order`), so the hull label -- counter-clockwise from the smallest
        index -- starts at the leftmost point and Delaunay's ordered triangles sweep from left to right
        (Vinyals, Bengio and Kudlur 2016, "Order Matters").
    """

    kind = "ptrnet"

    def __init__(self, task: str = "tsp", hidden: int = 128, layers: int = 1, input_order: str = "given") -> None:
        super().__init__()
        if input_order not in INPUT_ORDERS or (input_order != "given" and task not in SORTED_TASKS):
            raise LabInputError(f"input order {input_order!r} is not available for {task}; use 'given'"
                                + (" or 'x'." if task in SORTED_TASKS else "."))
        self.task, self.hidden, self.layers, self.input_order = task, hidden, layers, input_order
        d = hidden
        self.embed = nn.Linear(2, d)  # (x, y) -> d; shared by encoder inputs and decoder inputs
        self.encoder = nn.LSTM(d, d, num_layers=layers, batch_first=True)
        self.decoder = nn.LSTM(d, d, num_layers=layers, batch_first=True)
        self.start = nn.Parameter(torch.empty(d).uniform_(-0.1, 0.1))  # first decoder input ("go" symbol)
        # The EOS slot is an extra thing to point at. It gets its own encoder state and input
        # embedding, learned, rather than a fake coordinate that could collide with a real point.
        self.eos_state = nn.Parameter(torch.empty(d).uniform_(-0.1, 0.1))
        self.eos_input = nn.Parameter(torch.empty(d).uniform_(-0.1, 0.1))
        self.W1 = nn.Linear(d, d, bias=False)  # applied to encoder states (keys)
        self.W2 = nn.Linear(d, d, bias=True)  # applied to the decoder state (query)
        self.v = nn.Parameter(torch.empty(d).uniform_(-(d**-0.5), d**-0.5))

    def architecture(self) -> dict:
        """What a checkpoint card must match for these weights to load."""
        arch = {"model": "ptrnet", "task": self.task, "hidden": self.hidden, "layers": self.layers}
        return arch if self.input_order == "given" else {**arch, "input_order": self.input_order}

    # ----------------------------------------------------------------------------- encoder
    def encode(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """Read the points in their given order.

        points (B, n, 2) -> keys (B, n+1, d), inputs (B, n+1, d), final encoder (h, c) (L, B, d) each.
        """
        B = points.shape[0]
        x = self.embed(points)  # (B, n, d)
        enc, (h, c) = self.encoder(x)  # enc (B, n, d): one state per point, the "memory" to point into
        enc = torch.cat([enc, self.eos_state.expand(B, 1, -1)], dim=1)  # (B, n+1, d)
        inputs = torch.cat([x, self.eos_input.expand(B, 1, -1)], dim=1)  # (B, n+1, d)
        return self.W1(enc), inputs, (h, c)

    def scores(self, keys: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """u = v^T tanh(W1 e + W2 d): keys (B, m, d), query (B, [T,] d) -> logits (B, [T,] m)."""
        q = self.W2(query)
        if q.dim() == 2:
            return torch.tanh(keys + q[:, None, :]) @ self.v  # (B, m)
        return torch.tanh(keys[:, None, :, :] + q[:, :, None, :]) @ self.v  # (B, T, m)

    # ----------------------------------------------------------------------------- step-by-step
    def init_state(self, points: torch.Tensor) -> PtrState:
        """Encode and feed the "go" symbol; the returned state is ready to score the first choice."""
        keys, inputs, (h, c) = self.encode(points)
        B = points.shape[0]
        out, (h, c) = self.decoder(self.start.expand(B, 1, -1), (h, c))  # out (B, 1, d)
        return PtrState(keys, inputs, h, c, out[:, 0])

    def logits(self, state: PtrState) -> torch.Tensor:
        """Unmasked pointer scores for the next choice: (B, m)."""
        return self.scores(state.keys, state.query)

    def advance(self, state: PtrState, choice: torch.Tensor) -> PtrState:
        """Feed the chosen input (B,) back into the decoder (the paper's input-feeding)."""
        rows = torch.arange(choice.shape[0], device=choice.device)
        x = state.inputs[rows, choice]  # (B, d)
        out, (h, c) = self.decoder(x[:, None, :], (state.h, state.c))
        return PtrState(state.keys, state.inputs, h, c, out[:, 0])

    # ----------------------------------------------------------------------------- teacher forcing
    def forward(self, points: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Logits along a known output (training): the whole target runs through the decoder LSTM at once.

        Parameters
        ----------
        points : (B, n, 2)
        targets : (B, T) long in [0, n] (n = EOS), padded with -100 after the end.

        Returns
        -------
        torch.Tensor
            (B, T, n+1) unmasked logits; ``out[:, t]`` scores the choice of ``targets[:, t]``.
        """
        keys, inputs, (h, c) = self.encode(points)
        B, T = targets.shape
        prev = targets[:, :-1].clamp(min=0)  # (B, T-1) the inputs fed back, padding replaced by 0
        fed = inputs.gather(1, prev[:, :, None].expand(-1, -1, self.hidden))  # (B, T-1, d)
        dec_in = torch.cat([self.start.expand(B, 1, -1), fed], dim=1)  # (B, T, d)
        out, _ = self.decoder(dec_in, (h, c))  # (B, T, d)
        return self.scores(keys, out)
