"""Words <-> token ids: the lab's own word-level vocabulary, or a Hugging Face tokenizer behind the same face.

Every task is written in words (:mod:`lab.kvcache.tasks`); a :class:`Codec` turns them into ids and says, for
every id, which word it came from, so the answer-relevant *words* become answer-relevant *token positions*
whatever the tokenizer. The lab's :class:`WordCodec` has one id per word (fixed templates give every sample
of a task the same length); :class:`HFCodec` wraps the tokenizer of a local Hugging Face model directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lab.core.errors import LabInputError

PAD, BOS = "<pad>", "<bos>"

FEMALE = ("ann", "beth", "cara", "dana", "eve", "fay", "gina", "hana", "iris", "jane", "kate", "lily")
MALE = ("adam", "ben", "carl", "dan", "ed", "fred", "greg", "hugo", "ivan", "jack", "kurt", "leo")
NAMES = FEMALE + MALE
SURNAMES = ("smith", "brown", "jones", "green", "white", "black", "stone", "wood")
OBJECTS = ("apple", "ball", "book", "cup", "key", "lamp", "map", "pen", "ring", "box", "coin", "hat", "kite",
           "drum", "bell", "fork")
LETTERS = tuple("abcdefghijklmnop")
COLORS = ("red", "blue", "gold", "pink", "gray", "teal", "navy", "lime", "plum", "rust", "jade", "ruby",
          "sand", "mint", "rose", "onyx")
NUMBERS = tuple(str(i) for i in range(40))
FUNCTION = (".", "?", "has", "gives", "to", "who", "meets", "takes", "he", "she", "scores", "links", "where",
            "does", "end", "with", "and", "see", "it", "score", "of", "gets", "from", "for")

WORDS: tuple[str, ...] = (PAD, BOS) + FUNCTION + NAMES + SURNAMES + OBJECTS + LETTERS + COLORS + NUMBERS


class Codec:
    """Words <-> token ids (see the module docstring). Subclasses set ``bos_id`` and ``pad_id``."""

    name = "codec"
    bos_id: int | None = None
    pad_id: int = 0
    fixed_length = False  # True when every word is one id, so a task's samples all have one length

    def encode(self, words: Sequence[str], *, first: bool = True) -> tuple[list[int], list[int]]:
        """Ids of ``words`` and, per id, the index of the word it encodes.

        ``first`` says the words start a text (a tokenizer may then write the first word without a leading
        space); a question that follows a context is encoded with ``first=False``.
        """
        raise NotImplementedError

    def decode(self, ids: Sequence[int] | Any) -> list[str]:
        """One string per id."""
        raise NotImplementedError

    def answer_id(self, word: str) -> int:
        """The id a model must predict first to answer ``word`` after a question."""
        ids, _ = self.encode([word], first=False)
        return ids[0]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.name}


class WordCodec(Codec):
    """One id per word of :data:`WORDS` (id 0 is padding, id 1 the start token)."""

    name = "words"
    fixed_length = True

    def __init__(self, words: Sequence[str] = WORDS) -> None:
        self.words = tuple(words)
        if len(set(self.words)) != len(self.words):
            raise ValueError("a vocabulary cannot repeat a word")
        self.index = {w: i for i, w in enumerate(self.words)}
        self.pad_id = self.index.get(PAD, 0)
        self.bos_id = self.index.get(BOS)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: Sequence[str], *, first: bool = True) -> tuple[list[int], list[int]]:
        try:
            ids = [self.index[w] for w in words]
        except KeyError as err:
            raise LabInputError(f"the word {err.args[0]!r} is not in the lab's vocabulary; "
                                "use words from lab.kvcache.vocab.WORDS.") from None
        return ids, list(range(len(ids)))

    def decode(self, ids: Sequence[int] | Any) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "words": list(self.words)}


class HFCodec(Codec):
    """A Hugging Face tokenizer: each word is encoded on its own (with a leading space after the first)."""

    name = "hf"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.bos_id = getattr(tokenizer, "bos_token_id", None)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None else 0

    def encode(self, words: Sequence[str], *, first: bool = True) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        owner: list[int] = []
        for i, word in enumerate(words):
            if word == BOS:
                piece = [] if self.bos_id is None else [int(self.bos_id)]
            else:
                text = word if (first and i == 0) or (first and i == 1 and words[0] == BOS) else " " + word
                piece = list(self.tokenizer.encode(text, add_special_tokens=False))
            ids += piece
            owner += [i] * len(piece)
        return ids, owner

    def decode(self, ids: Sequence[int] | Any) -> list[str]:
        return [self.tokenizer.decode([int(i)]) for i in ids]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.name, "tokenizer": type(self.tokenizer).__name__}


def codec_from_dict(data: dict[str, Any]) -> WordCodec:
    """The word codec saved in a checkpoint (``to_dict()`` of a :class:`WordCodec`)."""
    if not isinstance(data, dict) or data.get("kind") != "words" or not isinstance(data.get("words"), list):
        raise LabInputError("the checkpoint's vocabulary is not a word list; re-save it with dynlab kv train.")
    return WordCodec([str(w) for w in data["words"]])
