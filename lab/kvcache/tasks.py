"""Four generated tasks whose answer-relevant context tokens are known exactly.

Every sample is a context (``<bos>`` and many short statements), then a question that ends with the queried
symbol; the answer is predicted at the question's last token (multi-hop: after the model has *written* the
chain's middle, see below). Each task is a *look-up*: the answer sits in
one or two statements of the context, two tokens *before* the queried symbol (so the question's last token
can find its statement by its own identity -- measured: this form is learned in a few hundred steps, the
answer-after-key form not in a thousand), and every other statement is a distractor built from the same
symbols. The relevant positions are the tokens those statements contribute to the answer (the queried
symbol, what resolves it, and the answer's symbol):

- ``multi_entity``: ``ann has apple .`` ... ``ben gets apple from ann .`` -- ``who has apple``? The holder
  named by the latest statement about it (a transfer if there was one): that statement's holder and object.
- ``disambiguation``: ``7 for ann smith .`` among records sharing the first or the last name (k first x k
  last names, k = ceil(sqrt(size)): 5 x 5 at the evaluation size; smaller training sizes also draw records
  that all share one name) -- ``score of ann smith``? The value and both name tokens of the one record matching both.
- ``coreference``: ``ann meets ben . she takes apple .`` -- ``who takes apple``? The pronoun's referent is
  the person of its gender in the sentence before: the referent's name, the pronoun, the object.
- ``multi_hop``: ``12 from a .`` ... ``27 from 12 .`` (a leads to 12, 12 to 27; middles are the numbers 0-19,
  ends 20-39) -- ``end of a``? Two look-ups, A -> B -> C: the four symbol tokens of the two links. The model
  answers in two tokens, as a language model answers a two-hop question by naming the bridge first: it
  writes the middle (``12``, :attr:`Query.written`) and then the end (``27``), each one look-up; the end is
  the answer. (In one forward pass, composing the two look-ups was not learned: 0.07 after an hour of CPU
  training; written out, it is learned in minutes, ``benchmarks/kvcache_chain_probe.py``.) Training may also
  ask the one-hop ``end of 12`` (``Sample.practice``), never evaluated.

Samples are drawn from ``numpy.random.default_rng([seed, task index])``: one seed gives the same samples.
``size`` (statements, records, episodes or chains) defaults to the evaluation size; training draws smaller
sizes first (a curriculum).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from lab.core.config import check_choice
from lab.core.errors import LabInputError
from lab.kvcache.vocab import BOS, FEMALE, LETTERS, MALE, NAMES, NUMBERS, OBJECTS, SURNAMES, Codec

TASKS = ("multi_entity", "disambiguation", "coreference", "multi_hop")
FULL_SIZE = {"multi_entity": 16, "disambiguation": 24, "coreference": 16, "multi_hop": 14}
#: Tasks in which every queried symbol has its own answer (values and chain ends are drawn without repeats).
DISTINCT_ANSWERS = frozenset({"disambiguation", "multi_hop"})
MAX_SIZE = {"multi_entity": len(OBJECTS), "disambiguation": 25, "coreference": len(OBJECTS), "multi_hop": 16}


@dataclass
class Query:
    question: list[str]
    answer: str
    relevant: list[int]  # indices of context words the answer depends on
    written: list[str] = field(default_factory=list)  # what the model writes before the answer (multi-hop: the middle)


@dataclass
class Sample:
    context: list[str]  # starts with <bos>
    queries: list[Query]  # one per queried symbol, in random order; evaluation asks the first
    candidates: list[str]  # the entities a question of this sample can be answered with
    practice: list[Query] = field(default_factory=list)  # easier questions training may add; never evaluated


@dataclass(frozen=True)
class TaskBatch:
    """Samples of one task with equal lengths, as token ids (see the module docstring).

    context (B, Lc) long, question (B, Lq) long, answer (B,) long, relevant (B, Lc) bool, candidates (B, C)
    long, written (B, W) long (the reference tokens the model writes before its answer; W = 0 but for
    multi-hop); ``words`` holds, per sample, the context and question tokens as text.
    """

    task: str
    context: torch.Tensor
    question: torch.Tensor
    answer: torch.Tensor
    relevant: torch.Tensor
    candidates: torch.Tensor
    words: list[list[str]]
    written: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        """W: how many tokens the model writes (greedily) before the answer."""
        return 0 if self.written is None else int(self.written.shape[1])

    def __len__(self) -> int:
        return int(self.context.shape[0])


def _pick(rng: np.random.Generator, pool: tuple[str, ...], k: int) -> list[str]:
    return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]


def _statements(statements: list[list[str]]) -> tuple[list[str], list[int]]:
    """Concatenate statements after <bos>; return the words and each statement's start index."""
    words, starts = [BOS], []
    for s in statements:
        starts.append(len(words))
        words += s
    return words, starts


def multi_entity(rng: np.random.Generator, size: int) -> Sample:
    """``size`` objects held by a cast of 8; ``max(1, size - 2)`` of them change hands once (interleaved)."""
    cast, objects = _pick(rng, NAMES, 8), _pick(rng, OBJECTS, size)
    moved = set(rng.choice(size, size=max(1, size - 2), replace=False).tolist())
    keys = rng.random(size + len(moved))
    events, k = [], size  # (key, object index, kind)
    for i in range(size):
        events.append([keys[i], i, "has"])
        if i in moved:
            a, b = sorted((keys[i], keys[k]))  # the transfer comes after the object's first holder
            events[-1][0] = a
            events.append([b, i, "gives"])
            k += 1
    events.sort(key=lambda e: e[0])
    holder = {i: cast[int(rng.integers(len(cast)))] for i in range(size)}
    statements, last = [], {}
    for _, i, kind in events:
        if kind == "has":
            statements.append([holder[i], "has", objects[i], "."])
            last[i] = (len(statements) - 1, (0, 2))  # holder and object
        else:
            to = cast[int(rng.choice([j for j in range(len(cast)) if cast[j] != holder[i]]))]
            statements.append([to, "gets", objects[i], "from", holder[i], "."])
            holder[i] = to
            last[i] = (len(statements) - 1, (0, 2))  # recipient and object
    words, starts = _statements(statements)
    queries = []
    for i in rng.permutation(size):
        s, offsets = last[int(i)]
        queries.append(Query(["who", "has", objects[i]], holder[int(i)], [starts[s] + o for o in offsets]))
    return Sample(words, queries, cast)


def disambiguation(rng: np.random.Generator, size: int) -> Sample:
    """``size`` records ``value for first last .`` over k first x k last names, k = ceil(sqrt(size)) (>= 2).

    Every size has records that share a name, so matching one name alone never solves it (at size 4, all
    2 x 2 combinations). Below the evaluation size (training's curriculum) a third of the samples give every
    record the same last name and a third the same first name (up to 8 records), so that each name alone
    is seen to matter; the evaluation size is always the k x k grid.
    """
    k = max(2, math.ceil(math.sqrt(size)))
    n_first = n_last = k
    if size < FULL_SIZE["disambiguation"]:
        mode = int(rng.integers(3))  # 0: grid, 1: one last name, 2: one first name (as few as fit)
        if mode == 1:
            n_first, n_last = size, 1
        elif mode == 2:
            n_last = min(size, len(SURNAMES))
            n_first = math.ceil(size / n_last)
    firsts, lasts = _pick(rng, NAMES, n_first), _pick(rng, SURNAMES, n_last)
    combos = [(f, s) for f in firsts for s in lasts]
    people = [combos[i] for i in rng.choice(len(combos), size=size, replace=False)]
    values = _pick(rng, NUMBERS, size)
    words, starts = _statements([[v, "for", f, s, "."] for (f, s), v in zip(people, values, strict=True)])
    queries = [Query(["score", "of", people[i][0], people[i][1]], values[i], [starts[i], starts[i] + 2, starts[i] + 3])
               for i in rng.permutation(size)]
    return Sample(words, queries, values)


def coreference(rng: np.random.Generator, size: int) -> Sample:
    """``size`` episodes ``A meets B . he/she takes O .``, A and B of different genders (a cast of 4 + 4)."""
    women, men = _pick(rng, FEMALE, 4), _pick(rng, MALE, 4)
    objects = _pick(rng, OBJECTS, size)
    statements, who, rel = [], [], []
    for i in range(size):
        pair = [women[int(rng.integers(4))], men[int(rng.integers(4))]]
        order = rng.permutation(2)
        a, b = pair[order[0]], pair[order[1]]
        she = bool(rng.integers(2))
        referent = pair[0] if she else pair[1]
        statements.append([a, "meets", b, ".", "she" if she else "he", "takes", objects[i], "."])
        who.append(referent)
        rel.append([0 if a == referent else 2, 4, 6])  # referent, pronoun, object
    words, starts = _statements(statements)
    queries = [Query(["who", "takes", objects[i]], who[i], [starts[i] + o for o in rel[i]])
               for i in rng.permutation(size)]
    return Sample(words, queries, women + men)


def multi_hop(rng: np.random.Generator, size: int,
              pools: tuple[tuple[str, ...], ...] = (LETTERS, NUMBERS[:20], NUMBERS[20:])) -> Sample:
    """``size`` chains S -> M -> N written ``M from S .`` and ``N from M .``, the 2 x size links shuffled.

    ``pools``: the words of sources, middles and ends (three disjoint groups of at least ``size`` words; the
    task uses letters and two halves of the numbers -- the shipped model learns to write a number in minutes,
    a colour not: ``benchmarks/kvcache_chain_probe.py`` tries other groups).
    """
    sources, middles, ends = (_pick(rng, pool, size) for pool in pools)
    links = [(i, 0) for i in range(size)] + [(i, 1) for i in range(size)]
    links = [links[j] for j in rng.permutation(len(links))]
    statements, where = [], {}
    for n, (i, hop) in enumerate(links):
        a, b = (sources[i], middles[i]) if hop == 0 else (middles[i], ends[i])
        statements.append([b, "from", a, "."])
        where[(i, hop)] = n
    words, starts = _statements(statements)
    queries, practice = [], []
    for i in rng.permutation(size):
        s0, s1 = starts[where[(int(i), 0)]], starts[where[(int(i), 1)]]
        queries.append(Query(["end", "of", sources[i]], ends[i], [s0, s0 + 2, s1, s1 + 2], [middles[i]]))
        practice.append(Query(["end", "of", middles[i]], ends[i], [s1, s1 + 2]))
    return Sample(words, queries, ends, practice)


GENERATORS = {"multi_entity": multi_entity, "disambiguation": disambiguation, "coreference": coreference,
              "multi_hop": multi_hop}


def check_task(task: str) -> str:
    check_choice("task", task, TASKS)
    return task


def generate(task: str, rng: np.random.Generator, size: int | None = None) -> Sample:
    """One sample of ``task`` with ``size`` statements/records/episodes/chains (default: the evaluation size)."""
    check_task(task)
    size = FULL_SIZE[task] if size is None else int(size)
    if not 2 <= size <= MAX_SIZE[task]:
        raise LabInputError(f"size {size} is out of range for {task}; use 2 to {MAX_SIZE[task]}.")
    return GENERATORS[task](rng, size)


def task_rng(task: str, seed: int) -> np.random.Generator:
    """The generator of ``task``'s samples for ``seed`` (tasks draw independent streams)."""
    return np.random.default_rng([int(seed), TASKS.index(check_task(task))])


def encode_sample(sample: Sample, codec: Codec, query: int = 0) -> dict:
    """Token ids of one sample's context and its ``query``-th question, with relevant positions and answer."""
    q = sample.queries[query]
    ctx, owner = codec.encode(sample.context)
    qids, _ = codec.encode(q.question, first=False)
    relevant_words = set(q.relevant)
    written = [i for w in q.written for i in codec.encode([w], first=False)[0]]
    return {"context": ctx, "question": qids, "answer": codec.answer_id(q.answer), "written": written,
            "relevant": [o in relevant_words for o in owner],
            "candidates": [codec.answer_id(c) for c in sample.candidates]}


def make_batches(task: str, num: int, seed: int, codec: Codec, batch_size: int = 256) -> list[TaskBatch]:
    """``num`` evaluation samples of ``task`` (seeded), in batches of equal lengths.

    With the lab's word codec every sample of a task has the same length, so batches hold ``batch_size``
    samples each (the last fewer); with a tokenizer, samples of equal lengths are grouped (in order).
    Unknown task, ``num < 1`` or ``batch_size < 1``: :class:`LabInputError`.
    """
    check_task(task)
    if num < 1 or batch_size < 1:
        raise LabInputError(f"num is {num} and batch size {batch_size}; use positive numbers.")
    rng = task_rng(task, seed)
    groups: dict[tuple[int, int, int], list[tuple[dict, list[str]]]] = {}
    batches: list[TaskBatch] = []
    for _ in range(num):
        sample = generate(task, rng)
        enc = encode_sample(sample, codec)
        key = (len(enc["context"]), len(enc["question"]), len(enc["candidates"]), len(enc["written"]))
        group = groups.setdefault(key, [])
        group.append((enc, codec.decode(enc["context"] + enc["question"])))
        if len(group) == batch_size:
            batches.append(stack(task, groups.pop(key)))
    batches += [stack(task, g) for g in groups.values()]
    return batches


def stack(task: str, items: list[tuple[dict, list[str]]]) -> TaskBatch:
    """One :class:`TaskBatch` of encoded samples of equal lengths: (:func:`encode_sample`'s dict, words) pairs."""
    def col(name: str, dtype: torch.dtype = torch.long) -> torch.Tensor:
        return torch.tensor([e[name] for e, _ in items], dtype=dtype)

    written = torch.tensor([e["written"] for e, _ in items], dtype=torch.long).reshape(len(items), -1)  # (B, W)
    return TaskBatch(task, col("context"), col("question"), col("answer"), col("relevant", torch.bool),
                     col("candidates"), [w for _, w in items], written)
