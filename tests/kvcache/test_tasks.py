"""Task generators: answers and answer-relevant positions re-derived from the words, seeds, batches."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.kvcache.tasks import FULL_SIZE, TASKS, generate, make_batches, task_rng
from lab.kvcache.vocab import BOS, FEMALE, MALE, HFCodec, WordCodec


def _statements(words: list[str]) -> list[tuple[int, list[str]]]:
    """(start index, words) of every '.'-terminated statement after <bos>."""
    assert words[0] == BOS
    out, start = [], 1
    for i, w in enumerate(words):
        if w == ".":
            out.append((start, words[start:i]))
            start = i + 1
    assert start == len(words)
    return out


def derive(task: str, context: list[str], question: list[str]) -> tuple[str, set[int]]:
    """The answer and the relevant context indices, worked out from the words alone."""
    st = _statements(context)
    key = question[-1]
    if task == "multi_entity":
        holder, where = None, None
        for s, w in st:
            if w[1] == "has" and w[2] == key:
                assert holder is None, "an object is introduced twice"
                holder, where = w[0], {s, s + 2}
            elif w[1] == "gets" and w[2] == key:
                assert w[4] == holder, "only the holder can give the object away"
                holder, where = w[0], {s, s + 2}
        return holder, where
    if task == "disambiguation":
        hits = [(s, w) for s, w in st if w[2:4] == question[-2:]]
        assert len(hits) == 1, "the full name must match exactly one record"
        s, w = hits[0]
        return w[0], {s, s + 2, s + 3}
    if task == "coreference":
        for k, (s, w) in enumerate(st):
            if w[1] == "takes" and w[2] == key:
                ps, pw = st[k - 1]
                assert pw[1] == "meets"
                names = FEMALE if w[0] == "she" else MALE
                refs = [j for j in (0, 2) if pw[j] in names]
                assert len(refs) == 1, "the pronoun must fit exactly one person"
                return pw[refs[0]], {ps + refs[0], s, s + 2}
        raise AssertionError("no statement about the object")
    links = {w[2]: (s, w[0]) for s, w in st}  # "B from A": A leads to B
    s0, mid = links[key]
    s1, end = links[mid]
    return end, {s0, s0 + 2, s1, s1 + 2}


@pytest.mark.parametrize("task", TASKS)
def test_answers_and_relevant_positions_match_a_rederivation(task):
    codec = WordCodec()
    batches = make_batches(task, 40, seed=3, codec=codec, batch_size=16)
    assert [len(b) for b in batches] == [16, 16, 8]
    for b in batches:
        lc = b.context.shape[1]
        for i in range(len(b)):
            words = b.words[i]
            context, question = words[:lc], words[lc:]
            answer, relevant = derive(task, context, question)
            assert codec.decode([b.answer[i]]) == [answer]
            assert set(np.flatnonzero(b.relevant[i].numpy()).tolist()) == relevant
            assert int(b.answer[i]) in b.candidates[i].tolist()
            assert context == codec.decode(b.context[i]) and question[-1] in context


@pytest.mark.parametrize("task", TASKS)
def test_every_query_of_a_sample_is_right_and_contexts_are_long(task):
    rng = task_rng(task, 0)
    for size in (2, 5, FULL_SIZE[task]):
        sample = generate(task, rng, size)
        assert len(sample.queries) == size and len({tuple(q.question) for q in sample.queries}) == size
        for q in sample.queries:
            answer, relevant = derive(task, sample.context, q.question)
            assert q.answer == answer and set(q.relevant) == relevant
    assert len(generate(task, rng).context) >= 100


def test_seeds_reproduce_and_differ():
    codec = WordCodec()
    a, b, c = (make_batches("multi_hop", 5, s, codec)[0] for s in (1, 1, 2))
    assert a.words == b.words and bool((a.context == b.context).all())
    assert a.words != c.words


def test_bad_task_and_sizes_are_one_sentence_errors():
    with pytest.raises(LabInputError, match="unknown task"):
        make_batches("sorting", 4, 0, WordCodec())
    with pytest.raises(LabInputError):
        make_batches("coreference", 0, 0, WordCodec())
    with pytest.raises(LabInputError, match="size"):
        generate("multi_hop", np.random.default_rng(0), 17)
    with pytest.raises(LabInputError, match="vocabulary"):
        WordCodec().encode(["zebra"])


class _CharTokenizer:
    """A stand-in tokenizer: one id per character, so words have different token counts."""

    bos_token_id = 300
    pad_token_id = None

    def encode(self, text, add_special_tokens=False):
        return [ord(ch) for ch in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_a_tokenizer_codec_keeps_relevant_words_and_equal_lengths_per_batch():
    codec = HFCodec(_CharTokenizer())
    batches = make_batches("disambiguation", 12, 0, codec, batch_size=4)
    assert sum(len(b) for b in batches) == 12
    for b in batches:
        lc = b.context.shape[1]
        for i in range(len(b)):
            text = "".join(b.words[i]).replace(chr(300), BOS + " ")
            words = text.split(" ")
            context, question = words[:len(words) - 4], words[len(words) - 4:]
            assert question[:2] == ["score", "of"]
            answer, relevant = derive("disambiguation", context, question)
            kept = "".join(ch for ch, r in zip(b.words[i][:lc], b.relevant[i], strict=True) if r)
            assert kept.split() == [w for j, w in enumerate(context) if j in relevant]
            assert b.answer[i] == ord(" ")  # the first token of " <answer>" for this tokenizer
            assert len(text) == b.context.shape[1] + b.question.shape[1] + len(BOS)
            assert "".join(chr(int(t)) for t in b.question[i]).split() == question


@pytest.mark.parametrize("size", [2, 4, 9, 16, 24])
def test_disambiguation_records_share_names_at_every_size(size):
    """A k x k grid of names (k = ceil(sqrt(size))), or below the evaluation size also one shared name."""
    rng = task_rng("disambiguation", 11)
    k = max(2, int(np.ceil(np.sqrt(size))))
    kinds = set()
    for _ in range(60):
        sample = generate("disambiguation", rng, size)
        records = [w for _, w in _statements(sample.context)]
        firsts, lasts = {w[2] for w in records}, {w[3] for w in records}
        q = sample.queries[0].question
        assert sum(w[2:4] == q[-2:] for w in records) == 1
        if len(lasts) == 1:
            kinds.add("one last name")
        elif len(firsts) <= k and len(lasts) <= k:
            kinds.add("grid")
        else:
            assert len(firsts) == int(np.ceil(size / min(size, 8))), "one first name (as few as fit)"
            kinds.add("one first name")
        if size >= 4:  # one name alone never tells the record
            assert sum(w[2] == q[-2] for w in records) > 1 or sum(w[3] == q[-1] for w in records) > 1
    if size >= 9:  # smaller grids can look like the other kinds
        full = size == FULL_SIZE["disambiguation"]
        assert kinds == ({"grid"} if full else {"grid", "one last name", "one first name"})


def test_multi_hop_practice_questions_are_one_hop_and_right():
    rng = task_rng("multi_hop", 12)
    for size in (2, 7, 14):
        sample = generate("multi_hop", rng, size)
        assert len(sample.practice) == size
        links = {w[2]: (s, w[0]) for s, w in _statements(sample.context)}
        for q in sample.practice:
            s, end = links[q.question[-1]]
            assert end == q.answer and end.isdigit() and q.relevant == [s, s + 2]
    assert all(not generate(t, task_rng(t, 0)).practice for t in TASKS if t != "multi_hop")


def test_multi_hop_is_answered_after_writing_the_chains_middle():
    rng = task_rng("multi_hop", 5)
    for size in (2, 9, 16):
        sample = generate("multi_hop", rng, size)
        links = {w[2]: (s, w[0]) for s, w in _statements(sample.context)}  # "B from A": A leads to B
        for q in sample.queries:
            (_, middle), (_, end) = links[q.question[-1]], links[links[q.question[-1]][1]]
            assert q.written == [middle] and q.answer == end
            assert int(middle) < 20 <= int(end)  # middles and ends: two disjoint halves of the numbers
    assert all(not q.written for t in TASKS if t != "multi_hop" for q in generate(t, task_rng(t, 0)).queries)
    batch = make_batches("multi_hop", 5, 0, WordCodec())[0]
    assert batch.steps == 1 and batch.written.shape == (5, 1)
    assert make_batches("coreference", 5, 0, WordCodec())[0].steps == 0
