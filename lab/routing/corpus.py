"""Offline corpora for the token-routing lab, each token labelled with a *kind*.

``synthetic`` -- sequences with known per-token difficulty, generated from a seed. Vocabulary: the digits
``0``-``9`` and the markers ``|``, ``=`` and ``;``. A sequence is a run of 12-token segments::

    a b c d | a b c d = s ;       a..d uniform random digits, s = (a + b + c + d) mod 10

- ``random``: ``a b c d`` the first time -- unpredictable by construction (loss floor ln 10);
- ``easy``: the copy after ``|`` -- every digit is in the context four positions back (induction/copy);
- ``hard``: ``s`` -- a multi-step computation (a 4-term sum mod 10) over tokens earlier in the segment;
- ``marker``: ``| = ;`` -- fixed by position.

``stdlib`` -- real English text built at run time from the docstrings of a fixed list of standard-library
modules (``inspect.getdoc`` of each module and its public members, sorted by name): nothing is
downloaded or shipped. Characters are the tokens (printable ASCII and newline; anything else becomes
``?``). Kinds: ``letter``, ``space`` (space and newline), ``digit``, ``punctuation``. The last tenth is
held out for validation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

CORPORA = ("synthetic", "stdlib")

# -- synthetic ---------------------------------------------------------------------------------------
SYN_VOCAB = [str(d) for d in range(10)] + ["|", "=", ";"]
SYN_KINDS = ("random", "easy", "hard", "marker")
SEGMENT = 12
_SEG_KIND = np.array([0, 0, 0, 0, 3, 1, 1, 1, 1, 3, 2, 3])  # indices into SYN_KINDS


def synthetic_batch(n: int, length: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences of ``length`` tokens (a whole number of segments, then cut) and their kinds."""
    segments = -(-length // SEGMENT)
    a = torch.randint(0, 10, (n, segments, 4), generator=gen)
    s = a.sum(-1, keepdim=True) % 10
    bar, eq, semi = (torch.full((n, segments, 1), SYN_VOCAB.index(c)) for c in "|=;")
    tokens = torch.cat([a, bar, a, eq, s, semi], dim=-1).reshape(n, -1)[:, :length]
    kinds = torch.from_numpy(np.tile(_SEG_KIND, segments)[:length]).expand(n, -1)
    return tokens, kinds.clone()


# -- stdlib docstrings -------------------------------------------------------------------------------
STDLIB_MODULES = ("string", "textwrap", "json", "collections", "functools", "itertools", "re", "random",
                  "statistics", "fractions", "heapq", "bisect", "difflib", "pathlib", "argparse", "datetime",
                  "calendar", "csv", "shutil", "fnmatch", "glob", "copy", "enum", "dataclasses", "typing",
                  "contextlib", "operator", "math", "os", "io")
TEXT_VOCAB = ["\n"] + [chr(c) for c in range(32, 127)]
TEXT_KINDS = ("letter", "space", "digit", "punctuation")


def _char_kind(ch: str) -> int:
    if ch.isalpha():
        return 0
    if ch in " \n":
        return 1
    if ch.isdigit():
        return 2
    return 3


@functools.lru_cache(maxsize=1)
def stdlib_text() -> str:
    """The docstrings of :data:`STDLIB_MODULES` (module, then public members by name), one text."""
    import importlib
    import inspect
    import warnings

    with warnings.catch_warnings():  # typing.io / typing.re say they are deprecated when touched
        warnings.simplefilter("ignore", DeprecationWarning)
        return _stdlib_text(importlib, inspect)


def _stdlib_text(importlib, inspect) -> str:
    parts = []
    for name in STDLIB_MODULES:
        module = importlib.import_module(name)
        doc = inspect.getdoc(module)
        if doc:
            parts.append(doc)
        for key in sorted(dir(module)):
            if key.startswith("_"):
                continue
            obj = getattr(module, key, None)
            if getattr(obj, "__module__", None) not in (name, module.__name__):
                continue  # re-exported from elsewhere: counted once, where it lives
            doc = inspect.getdoc(obj)
            if doc:
                parts.append(doc)
    text = "\n\n".join(parts)
    return "".join(ch if ch in _TEXT_INDEX else "?" for ch in text)


_TEXT_INDEX = {ch: i for i, ch in enumerate(TEXT_VOCAB)}


@functools.lru_cache(maxsize=1)
def stdlib_tokens() -> tuple[np.ndarray, np.ndarray]:
    text = stdlib_text()
    tokens = np.fromiter((_TEXT_INDEX[ch] for ch in text), dtype=np.int64, count=len(text))
    kinds = np.fromiter((_char_kind(ch) for ch in text), dtype=np.int64, count=len(text))
    return tokens, kinds


@dataclass(frozen=True)
class Corpus:
    """Batches of ``(tokens, kinds)``, both (n, length) int64; ``vocab[t]`` is a token's text."""

    name: str
    vocab: tuple[str, ...]
    kinds: tuple[str, ...]

    def batch(self, n: int, length: int, gen: torch.Generator, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        if self.name == "synthetic":
            return synthetic_batch(n, length, gen)
        tokens, kinds = stdlib_tokens()
        cut = int(0.9 * len(tokens))
        lo, hi = (0, cut) if split == "train" else (cut, len(tokens))
        starts = torch.randint(lo, hi - length, (n,), generator=gen).numpy()
        idx = starts[:, None] + np.arange(length)[None]
        return torch.from_numpy(tokens[idx]), torch.from_numpy(kinds[idx])


def load_corpus(name: str) -> Corpus:
    if name == "synthetic":
        return Corpus("synthetic", tuple(SYN_VOCAB), SYN_KINDS)
    return Corpus("stdlib", tuple(TEXT_VOCAB), TEXT_KINDS)
