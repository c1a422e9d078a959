"""The eviction presses of the lab: a registry from a name to a factory of NVIDIA ``kvpress`` presses.

The presses themselves are kvpress's (never rewritten here); this file only picks their parameters for
the lab's short contexts (about a hundred tokens instead of tens of thousands) and gives them names.

========================  =====================================================================  =========
name                      what decides which key/value pairs stay                                  attention
========================  =====================================================================  =========
``random``                uniform random scores (seeded): the baseline                            sdpa
``knorm``                 low key norm is kept (Devoto et al. 2024)                               sdpa
``streaming_llm``         the first 4 "sink" tokens and the most recent ones (Xiao et al. 2023)   sdpa
``snapkv``                attention of the last 8 queries, pooled (Li et al. 2024)                sdpa
``tova``                  attention of the last query, averaged over heads (Oren et al. 2024)     sdpa
``observed_attention``    attention received from every query so far: H2O (Zhang et al. 2023)     eager
``expected_attention``    attention expected from future queries (Devoto et al. 2025)             sdpa
``adakv_snapkv``          AdaKV (Feng et al. 2024): SnapKV scores, budget shared across heads     sdpa
``adakv_expected``        AdaKV around expected attention                                         sdpa
========================  =====================================================================  =========

Every scorer press keeps ``max(1, int(n * (1 - ratio)))`` pairs per key/value head and layer
(kvpress's ``compute_n_kept``); AdaKV keeps that many per layer on average over the heads, at least
20 % of it in each head. ``observed_attention`` needs the attention weights of the prefill, so it runs
with eager attention; the others run with sdpa (:mod:`lab.kvcache.compress` switches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lab.core.config import check_choice

#: SnapKV's observation window, scaled from kvpress's 64 tokens (long documents) to the lab's ~100-token contexts.
SNAPKV_WINDOW = 8
#: Expected attention looks this many positions ahead: about a question and its answer here (kvpress: 512).
EXPECTED_FUTURE = 16


@dataclass(frozen=True)
class PressSpec:
    """A named press: ``make(ratio, seed)`` builds a fresh kvpress press at compression ratio ``ratio``.

    Attributes
    ----------
    label : str
        How a person reads the name (legends).
    needs_eager : bool
        The press reads the prefill's attention weights (only eager attention returns them).
    scorer : bool
        A kvpress ``ScorerPress`` (same number kept in every head); the merge variant of
        :mod:`lab.kvcache.flow` wraps only these.
    """

    label: str
    make: Callable[[float, int], Any]
    needs_eager: bool = False
    scorer: bool = True


def _random(ratio: float, seed: int) -> Any:
    from kvpress import RandomPress

    return RandomPress(compression_ratio=ratio, seed=seed)


def _knorm(ratio: float, seed: int) -> Any:
    from kvpress import KnormPress

    return KnormPress(compression_ratio=ratio)


def _streaming(ratio: float, seed: int) -> Any:
    from kvpress import StreamingLLMPress

    return StreamingLLMPress(compression_ratio=ratio, n_sink=4)


def _snapkv(ratio: float, seed: int) -> Any:
    from kvpress import SnapKVPress

    return SnapKVPress(compression_ratio=ratio, window_size=SNAPKV_WINDOW, kernel_size=5)


def _tova(ratio: float, seed: int) -> Any:
    from kvpress import TOVAPress

    return TOVAPress(compression_ratio=ratio)


def _observed(ratio: float, seed: int) -> Any:
    from kvpress import ObservedAttentionPress

    return ObservedAttentionPress(compression_ratio=ratio)


def _expected(ratio: float, seed: int) -> Any:
    from kvpress import ExpectedAttentionPress

    return ExpectedAttentionPress(compression_ratio=ratio, n_future_positions=EXPECTED_FUTURE, n_sink=4)


def _adakv(inner: Callable[[float, int], Any]) -> Callable[[float, int], Any]:
    def make(ratio: float, seed: int) -> Any:
        from kvpress import AdaKVPress

        return AdaKVPress(press=inner(ratio, seed), alpha_safeguard=0.2)

    return make


PRESSES: dict[str, PressSpec] = {
    "random": PressSpec("Random", _random),
    "knorm": PressSpec("Knorm", _knorm),
    "streaming_llm": PressSpec("StreamingLLM", _streaming),
    "snapkv": PressSpec("SnapKV", _snapkv),
    "tova": PressSpec("TOVA", _tova),
    "observed_attention": PressSpec("H2O (observed attention)", _observed, needs_eager=True),
    "expected_attention": PressSpec("Expected attention", _expected),
    "adakv_snapkv": PressSpec("AdaKV + SnapKV", _adakv(_snapkv), scorer=False),
    "adakv_expected": PressSpec("AdaKV + expected attention", _adakv(_expected), scorer=False),
}
PRESS_NAMES: tuple[str, ...] = tuple(PRESSES)
#: The six presses of the benchmark and of the page's first view.
DEFAULT_PRESSES: tuple[str, ...] = ("random", "knorm", "streaming_llm", "snapkv", "tova", "observed_attention")


def check_press(name: str) -> PressSpec:
    """The spec of press ``name``; an unknown name is a one-sentence :class:`~lab.core.errors.LabInputError`."""
    check_choice("press", name, PRESS_NAMES)
    return PRESSES[name]


def make_press(name: str, ratio: float, seed: int = 0) -> Any:
    """A fresh kvpress press ``name`` at compression ratio ``ratio`` (fraction of pairs evicted, in [0, 1)).

    >>> make_press("knorm", 0.5).compression_ratio
    0.5
    """
    return check_press(name).make(float(ratio), int(seed))


__all__ = ["PRESSES", "PRESS_NAMES", "DEFAULT_PRESSES", "PressSpec", "check_press", "make_press", "SNAPKV_WINDOW",
           "EXPECTED_FUTURE"]
