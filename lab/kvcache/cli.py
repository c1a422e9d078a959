"""``dynlab kv sweep`` (contract in issue 11).

``sweep --task multi_entity|disambiguation|coreference|multi_hop --presses a,b,... --ratios 0,0.25,... --num N
--seed S [--question-aware] [--model shipped|random|PATH] --json`` prints ``{"results": [{"press", "ratio",
"accuracy", "hallucination_rate", "ger", "retention", "accessibility", "consensus": [per layer], ...}],
"cliff": {press: float|null}, "seconds": float}`` plus ``utilization``, ``ger_per_layer``,
``accessibility_per_layer`` per point, ``uncompressed``, ``susceptibility``, ``ger_hallucination_r`` and
``run_id``. It runs the lab's ``compress`` verb (``dynlab sweep`` is lab/core's grid of any verb). Unknown
press or task, a ratio outside [0, 1), a model that is missing or not a causal LM: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from lab.core.cli import add_common_args, cli_device, emit
from lab.core.errors import LabInputError


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise LabInputError(f"--ratios '{text}' is not a list of numbers; write e.g. --ratios 0,0.5,0.9.") from None


def _cmd_sweep(args: argparse.Namespace) -> int:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb
    from lab.kvcache.sweep import CompressConfig

    config = CompressConfig(task=args.task, presses=tuple(p for p in args.presses.split(",") if p.strip()),
                            ratios=_floats(args.ratios), num=args.num, question_aware=args.question_aware,
                            model=args.model, seed=args.seed, device=cli_device(args.device))
    output, run_id = run_foreground_verb("kvcache", "compress", config, progress=TextProgress("kv sweep"))
    result = output.result
    doc: dict[str, Any] = {**result.to_json(), "run_id": run_id}
    lines = [f"{config.task} ({'question-aware' if config.question_aware else 'question-agnostic'}), "
             f"model {result.model}: uncompressed accuracy {result.uncompressed['accuracy']:.3f}"]
    for p in result.points:
        lines.append(f"  {p['press']:18s} ratio {p['ratio']:.2f}: accuracy {p['accuracy']:.3f}  hallucination "
                     f"{p['hallucination_rate']:.3f}  GER {p['ger']:.3f}  retention {p['retention']:.3f}  "
                     f"accessibility {p['accessibility']:.3f}")
    for press, value in result.cliffs().items():
        lines.append(f"  cliff of {press}: {'none' if value is None else f'{value:.3f}'}")
    if not result.cliffs_meaningful():
        lines.append(f"  note: half the uncompressed accuracy is not above chance ({result.chance():.3f}); this "
                     "model has not learned the task, so these cliffs mark noise")
    lines.append(f"{result.seconds:.1f} s; saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def register(verbs: Any) -> None:
    """Add ``sweep`` to ``dynlab kv``'s verb subparsers (``compress`` and ``train`` come from their configs)."""
    from lab.kvcache.presses import PRESS_NAMES
    from lab.kvcache.sweep import TASK_NAMES, CompressConfig

    d = CompressConfig.default
    p = verbs.add_parser("sweep", help="compression sweep: accuracy, hallucination, GER, retention, accessibility "
                         "and consensus against the ratio per press; the cliff of each press",
                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default=d("task"), help=f"one of {', '.join(TASK_NAMES)} (default %(default)s)")
    p.add_argument("--presses", default=",".join(d("presses")),
                   help=f"comma-separated, from {', '.join(PRESS_NAMES)} (default %(default)s)")
    p.add_argument("--ratios", default=",".join(f"{r:g}" for r in d("ratios")),
                   help="comma-separated compression ratios in [0, 1) (default %(default)s)")
    p.add_argument("--num", type=int, default=d("num"), help="samples (default %(default)s)")
    p.add_argument("--question-aware", action="store_true",
                   help="compress the context and the question (default: the context, before the question)")
    p.add_argument("--model", default=d("model"),
                   help="shipped, random (untrained), a .pt from dynlab kv train, or a local Hugging Face causal-LM "
                        "directory (default %(default)s)")
    add_common_args(p, seed_default=d("seed"))
    p.set_defaults(func=_cmd_sweep)
