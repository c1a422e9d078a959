"""What the page shows, computed from the lab's public functions: one prompt, the models on offer, the flow graph.

Small helpers the KV-cache page needs beyond :mod:`lab.kvcache.probe` and :mod:`lab.kvcache.flow`:

- :func:`prompt` -- sample ``index`` of a task's evaluation stream as a batch of one (one of the prompts a
  sweep with that seed measures);
- :func:`model_choices` -- the models a page may offer: the shipped checkpoint when it is there, an untrained
  model, and checkpoints trained here (``train`` runs in the run store);
- :func:`rollout_levels` and :func:`flow_graph` -- the attention rollout of :func:`lab.kvcache.flow.rollout`
  kept at every layer, as a graph (which token feeds which, layer by layer);
- :func:`probe_csv` -- one probe view as a table (a CSV download);
- :func:`verdict`, :func:`flow_rows` and :func:`flow_words` -- one probe view's answer in words, the flow
  table's rows, and the flow graph's token labels (written positions named by what each variant wrote).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.core.runstore import RunStore

#: Label of the untrained model (the ``random`` source of :func:`lab.kvcache.sweep.load`).
UNTRAINED = "random"
#: The artifact a ``train`` run saves (see :meth:`lab.kvcache.train.TrainResult.artifacts`).
TRAINED_ARTIFACT = "kv_llama.pt"


def prompt(task: str, index: int, seed: int, codec: Any) -> Any:
    """Sample ``index`` of ``task``'s evaluation stream for ``seed``, as a :class:`~lab.kvcache.tasks.TaskBatch` of one.

    It is drawn as :func:`lab.kvcache.tasks.make_batches` draws it (one generator, samples in order), so it
    is the ``index``-th prompt of every sweep with that task and seed, whatever its ``num``.
    """
    from lab.kvcache.tasks import encode_sample, generate, stack, task_rng

    rng = task_rng(task, seed)
    for _ in range(int(index) + 1):
        sample = generate(task, rng)
    enc = encode_sample(sample, codec)
    return stack(task, [(enc, codec.decode(enc["context"] + enc["question"]))])


def model_choices(store: RunStore | None = None) -> dict[str, str]:
    """The models a page may offer: ``{choice: source}`` for :class:`lab.kvcache.sweep.CompressConfig`'s ``model``.

    ``shipped`` when its checkpoint exists, ``random`` (untrained, always), and ``run:<id>`` for every
    finished or stopped ``train`` run of this lab whose checkpoint is in the run store (newest first).
    """
    from lab.kvcache.model import SHIPPED

    out = {"shipped": "shipped"} if SHIPPED.exists() else {}
    out[UNTRAINED] = UNTRAINED
    for run in (store or RunStore()).list_runs("kvcache"):
        path = run.artifact_path(TRAINED_ARTIFACT)
        if run.verb == "train" and TRAINED_ARTIFACT in run.artifacts and path.exists():
            out[f"run:{run.run_id}"] = str(path)
    return out


def mixed(matrices: np.ndarray) -> np.ndarray:
    """(L, T, T) head-averaged attention -> the rollout's per-layer matrices ``(A + I) / 2``, rows summing to 1."""
    m = 0.5 * np.asarray(matrices, dtype=float) + 0.5 * np.eye(matrices.shape[-1])[None]
    return m / m.sum(axis=-1, keepdims=True)


def rollout_levels(matrices: np.ndarray) -> np.ndarray:
    """(L + 1, T): where the answer's information sits at every level, from the answer back to the input.

    Row ``L`` is the answer position (one-hot, the output of the last layer); row ``i`` is row ``i + 1``
    pushed back through layer ``i`` (the rollout of :func:`lab.kvcache.flow.rollout`; row 0 is its result).
    """
    m = mixed(matrices)
    n_layers, t, _ = m.shape
    levels = np.zeros((n_layers + 1, t))
    levels[-1, -1] = 1.0
    for i in reversed(range(n_layers)):
        levels[i] = levels[i + 1] @ m[i]
    return levels


@dataclass
class FlowGraph:
    """The rollout as a layered graph over a few tokens.

    ``tokens`` (N,) the positions shown (the answer position last); ``mass`` (L + 1, N) their share at each
    level (row 0: the input, row L: the answer); ``edges`` (layer i, from token index a at level i, to token
    index b at level i + 1, flow) -- the part of level i + 1's mass on ``b`` that layer i took from ``a``.
    """

    tokens: np.ndarray
    mass: np.ndarray
    edges: list[tuple[int, int, int, float]]


def flow_tokens(matrices: np.ndarray, relevant: np.ndarray, top: int = 10) -> np.ndarray:
    """The positions worth drawing: the ``top`` tokens (not the answer's) with the most rollout mass at any
    level, every answer-relevant token, and the answer position. matrices (L, T, T), relevant (Lc,) bool."""
    levels = rollout_levels(matrices)
    t = levels.shape[-1]
    best = np.argsort(-levels[:, :-1].max(axis=0), kind="stable")[:top]
    return np.array(sorted(set(best.tolist()) | set(np.flatnonzero(relevant).tolist()) | {t - 1}))


def flow_graph(matrices: np.ndarray, tokens: np.ndarray, max_edges: int = 30, min_flow: float = 1e-3) -> FlowGraph:
    """The flow graph of one prompt over ``tokens`` (see :func:`flow_tokens`); matrices (L, T, T) head-averaged
    attention. Per layer, the ``max_edges`` edges carrying the most of the answer's mass (at least ``min_flow``)."""
    m = mixed(matrices)
    levels = rollout_levels(matrices)
    sub = m[:, tokens][:, :, tokens]  # (L, N, N): layer i moves mass from token a (column) to token b (row)
    edges = []
    for i in range(m.shape[0]):
        flow = levels[i + 1, tokens][:, None] * sub[i]  # (N to, N from)
        order = np.argsort(-flow, axis=None, kind="stable")[:max_edges]
        for b, a in zip(*np.unravel_index(order, flow.shape), strict=True):
            if flow[b, a] >= min_flow:
                edges.append((i, int(a), int(b), float(flow[b, a])))
    return FlowGraph(tokens, levels[:, tokens], edges)


def probe_csv(view: Any) -> str:
    """One :class:`~lab.kvcache.probe.ProbeView` as CSV: per compressed position its word, whether it is
    answer-relevant, how many heads of each layer keep it, and the answer's attention on it before/after
    (mean over layers and heads)."""
    layers, _, s = view.keep.shape
    counts = view.keep.sum(axis=1)  # (layers, S)
    before = view.attention_before.mean(axis=(0, 1))
    after = view.attention_after.mean(axis=(0, 1))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["position", "word", "relevant", *[f"heads_keeping_layer{i + 1}" for i in range(layers)],
                     "attention_before", "attention_after"])
    for p in range(s):
        rel = bool(view.relevant[p]) if p < len(view.relevant) else False
        writer.writerow([p, view.words[p], int(rel), *[int(c) for c in counts[:, p]], f"{before[p]:.6g}",
                         f"{after[p]:.6g}"])
    return buf.getvalue()


def verdict(view: Any) -> str:
    """One line of markdown: the answer uncompressed and compressed (with what the model wrote first)."""
    after = "hallucination" if view.hallucinated else "right" if view.correct_after else "wrong"

    def via(written: list[str]) -> str:  # multi-hop: the middle the model wrote before its answer
        return f"via {' '.join(written)}; " if written else ""

    return (f"uncompressed **{view.predicted_before}** ({via(view.written_before)}p {view.p_before:.2f}) -> "
            f"compressed **{view.predicted_after}** ({via(view.written_after)}p {view.p_after:.2f}, {after})")


def _written_words(res: Any, codec: Any) -> dict[str, list[str]]:
    """Per flow variant, the words the model wrote before its answer (multi-hop: the middle; else none)."""
    return {v: codec.decode(w[0].tolist()) for v, w in res.written.items()}


def flow_rows(res: Any, batch: Any, codec: Any, names: dict[str, str]) -> list[dict[str, Any]]:
    """The flow table of a one-prompt :class:`~lab.kvcache.flow.FlowResult`: a row per variant (``names``
    labels them), with what it wrote (tasks that write first), p(answer), KL and the rollout shares."""
    wrote = _written_words(res, codec)
    return [{"variant": names[v], **({"wrote": " ".join(wrote[v])} if batch.steps else {}),
             "p(answer)": float(res.probs[v][0, int(batch.answer[0])]),
             "KL from uncompressed": s["kl_from_full"], "rollout on relevant": s["flow_relevant"],
             "on evicted": s["flow_gone"], "on the context": s["flow_context"]} for v, s in res.summary().items()]


def flow_words(res: Any, batch: Any, codec: Any) -> list[str]:
    """Labels of the flow graph's T + W positions: the prompt's words, then each written position named by
    what the variants wrote there (``full | drop | merge``, repeats once)."""
    wrote = _written_words(res, codec)
    variants = [wrote[v] for v in ("full", "drop", "merge") if v in wrote]
    written = [dict.fromkeys(ws) for ws in zip(*variants, strict=True)]
    return list(batch.words[0]) + [" | ".join(ws) + " (written)" for ws in written]


__all__ = ["prompt", "model_choices", "UNTRAINED", "rollout_levels", "mixed", "FlowGraph", "flow_graph", "flow_tokens",
           "probe_csv", "verdict", "flow_rows", "flow_words"]
