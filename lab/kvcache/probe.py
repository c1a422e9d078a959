"""One prompt under the microscope: what a press keeps at a ratio, and where the answer looks before and after.

A :class:`Probe` prefills one prompt once (captured as in :mod:`lab.kvcache.compress`); each
:meth:`Probe.view` then replays one press at one ratio on it and reads the answer: a few milliseconds for
the lab's model, so a page can follow a ratio slider, or compare two presses (A/B) on the same prompt.

>>> probe = Probe(loaded.model, batch, index=0)                       # doctest: +SKIP
>>> view = probe.view("snapkv", 0.8)                                  # doctest: +SKIP
>>> view.heads_keeping.shape       # (layers, Lc): how many heads of each layer keep each context token  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lab.kvcache.compress import compress_prefill, prefill
from lab.kvcache.metrics import CONFIDENT, predictions


@dataclass
class ProbeView:
    """One press at one ratio on one prompt.

    Attributes
    ----------
    words : list[str]
        The prompt's T tokens as text (context, then question).
    context_len : int
        Lc; the answer is predicted at position T - 1.
    relevant : (Lc,) bool
        The answer-relevant context positions.
    keep : (layers, Hkv, S) bool
        Which compressed positions each key/value head keeps (S = Lc, or T - 1 question-aware).
    heads_keeping : (layers, Lc) int
        How many heads of each layer keep each context token (Hkv: all; 0: evicted from the layer).
    attention_before, attention_after : (layers, H, T) float
        The answer position's attention over the prompt, uncompressed and compressed (0 where evicted).
    answer, predicted_before, predicted_after : str
        The right answer and the model's argmax answers; ``p_before``/``p_after`` their probabilities.
    written, written_before, written_after : list[str]
        What the model should write before its answer (multi-hop: the chain's middle; empty for the other
        tasks) and what it wrote, uncompressed and compressed.
    """

    press: str
    ratio: float
    words: list[str]
    context_len: int
    relevant: np.ndarray
    keep: np.ndarray
    heads_keeping: np.ndarray
    attention_before: np.ndarray
    attention_after: np.ndarray
    answer: str
    predicted_before: str
    p_before: float
    predicted_after: str
    p_after: float
    hallucinated: bool
    written: list[str] = field(default_factory=list)
    written_before: list[str] = field(default_factory=list)
    written_after: list[str] = field(default_factory=list)

    @property
    def correct_before(self) -> bool:
        return self.predicted_before == self.answer

    @property
    def correct_after(self) -> bool:
        return self.predicted_after == self.answer

    @property
    def evicted_relevant(self) -> np.ndarray:
        """(layers,) answer-relevant tokens no head of the layer keeps (this prompt's GER numerator)."""
        return ((self.heads_keeping == 0) & self.relevant[None, :]).sum(axis=1)


class Probe:
    """A prompt prefilled once, ready for any press and ratio (see the module docstring).

    Parameters
    ----------
    model : the causal LM (Llama layout).
    batch : a :class:`~lab.kvcache.tasks.TaskBatch`; ``index`` picks the prompt.
    codec : turns predicted ids into words (``decode``); None shows ids.
    question_aware : compress the context and the question.
    seed : the random press's seed.
    """

    def __init__(self, model: Any, batch: Any, index: int = 0, *, codec: Any = None, question_aware: bool = False,
                 seed: int = 0) -> None:
        self.model, self.codec, self.seed = model, codec, seed
        self.index = int(index)
        sl = slice(self.index, self.index + 1)
        self.context, self.question = batch.context[sl], batch.question[sl]
        self.answer_id = int(batch.answer[self.index])
        self.written = [] if batch.written is None else batch.written[self.index].tolist()
        self.candidates = batch.candidates[sl]
        self.relevant = batch.relevant[self.index].numpy().astype(bool)
        self.words = list(batch.words[self.index])
        # attention weights too: the H2O press reads them (one prompt: a few hundred KB)
        self.pre = prefill(model, self.context, self.question, question_aware=question_aware, attentions=True,
                           steps=batch.steps)
        self.before = compress_prefill(model, self.pre, None, 0.0)

    def _word(self, token: int) -> str:
        if self.codec is None:
            return str(token)
        return str(self.codec.decode([token])[0])

    def view(self, press: str, ratio: float) -> ProbeView:
        """Press ``press`` at ``ratio`` on this prompt (ratio 0: nothing evicted)."""
        after = compress_prefill(self.model, self.pre, press, ratio, seed=self.seed)
        (pb,), (cb,) = (t.tolist() for t in predictions(self.before.logits))
        pa_t, ca_t = predictions(after.logits)
        pa, ca = int(pa_t[0]), float(ca_t[0])
        wrong_entity = bool((self.candidates[0] == pa).any()) and pa != self.answer_id
        keep = after.keep[0].numpy()
        return ProbeView(press, float(ratio), self.words, self.pre.context_len, self.relevant, keep,
                         keep[..., : self.pre.context_len].sum(axis=1), self.before.attention[0].numpy(),
                         after.attention[0].numpy(), self._word(self.answer_id), self._word(pb), float(cb),
                         self._word(pa), ca, wrong_entity and ca >= CONFIDENT, [self._word(t) for t in self.written],
                         [self._word(t) for t in self.before.written[0].tolist()],
                         [self._word(t) for t in after.written[0].tolist()])


def probe_prompt(model: Any, batch: Any, index: int, press: str, ratio: float, *, codec: Any = None,
                 question_aware: bool = False, seed: int = 0) -> ProbeView:
    """:class:`Probe` and one :meth:`~Probe.view` in one call (keep the Probe to move a slider cheaply)."""
    with torch.inference_mode():
        return Probe(model, batch, index, codec=codec, question_aware=question_aware, seed=seed).view(press, ratio)


__all__ = ["Probe", "ProbeView", "probe_prompt"]
