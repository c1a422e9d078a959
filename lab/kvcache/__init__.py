"""KV-cache physics: what compression does to attention routing.

``vocab`` (words <-> ids) and ``tasks`` (four generated tasks with known answer-relevant positions) ->
``model`` (a transformers Llama built from a config, or a local HF model) trained by ``train``.

Compression: ``presses`` (named kvpress presses) -> ``compress`` (one prefill captured, each press replayed
on it, keep masks per layer and head, the answer's attention) -> ``metrics`` (accuracy, hallucination, GER,
retention, accessibility, utilization, consensus, cliff) -> ``sweep`` (the ``compress`` verb; ``dynlab kv
sweep`` in ``cli``); ``flow`` (attention rollout, dropping vs merging evicted tokens); ``probe`` (one prompt
under the microscope, fast enough for a slider).
"""

from lab.core.labs import LabSpec, Verb

LAB = LabSpec(
    key="kvcache",
    title="KV-cache physics",
    question="What happens to attention routing when the KV cache is compressed, and where is the cliff?",
    papers=("Physics of KV-cache compression (2026)", "Meta-Soft attention flow"),
    icon=":material/memory:",
    page="pages/kvcache.py",
    order=40,
    aliases=("kv",),
    cli="lab.kvcache.cli",
    verbs=(
        Verb("compress", "lab.kvcache.sweep:CompressConfig", "lab.kvcache.sweep:run_compress",
             help="compression sweep: accuracy, hallucination, GER, retention, accessibility, consensus vs ratio "
                  "per press, and each press's cliff (also `dynlab kv sweep`)",
             example={"task": "multi_entity", "presses": ["random", "snapkv"], "ratios": [0.0, 0.5], "num": 8,
                      "model": "random"}),
        Verb("train", "lab.kvcache.train:TrainConfig", "lab.kvcache.train:run_train",
             help="train the lab's Llama on the four tasks (dense answers, a curriculum); saves a checkpoint",
             example={"layers": 1, "heads": 2, "hidden": 16, "steps": 2, "batch_size": 2, "questions": 2,
                      "eval_num": 4}),
    ),
)
