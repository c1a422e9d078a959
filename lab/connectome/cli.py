"""``dynlab connectome run|scan``: the lab from the command line (contract in issue 4).

``run`` prints ``{"factors": [{"time", "animal", "communities", "modularity", ...}], "membership",
"reconstruction_error", "seconds"}`` (plus ``"ari"``, ``"nmi"`` with ``--synthetic``); ``scan`` prints
error and factor similarity per rank. Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lab.core.errors import LabInputError


def parse_ranks(text: str) -> list[int]:
    """``"1-10"``, ``"2,4,6"`` or ``"3"`` -> sorted unique ranks."""
    ranks: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo or hi - lo > 200:
                    raise ValueError(part)
                ranks.update(range(lo, hi + 1))
            elif part:
                ranks.add(int(part))
    except ValueError:
        raise LabInputError(f"--ranks '{text}' is not a rank list; write e.g. 1-10 or 2,4,6.") from None
    if not ranks or min(ranks) < 1:
        raise LabInputError(f"--ranks '{text}' must list ranks of at least 1.")
    return sorted(ranks)


def _add_data_args(p: argparse.ArgumentParser, required: bool) -> None:
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--input", nargs="+", metavar="FILE", help="CSV, NPZ or NWB traces (several files: one set of animals each)")
    src.add_argument("--synthetic", action="store_true", help="a synthetic worm with planted communities")
    p.add_argument("--series", help="NWB: the fluorescence series to read (default: the first RoiResponseSeries)")
    g = p.add_argument_group("synthetic worm")
    g.add_argument("--neurons", type=int, default=40)
    g.add_argument("--communities", type=int, default=4)
    g.add_argument("--epochs", type=int, default=3)
    g.add_argument("--animals", type=int, default=3)
    g.add_argument("--snr", type=float, default=2.0)
    g.add_argument("--frames-per-epoch", type=int, default=300)
    g.add_argument("--seed", type=int, default=0, help="seed of the worm and of the NTF initialisation")
    a = p.add_argument_group("pipeline")
    a.add_argument("--window", type=int, default=40, help="window length in frames")
    a.add_argument("--step", type=int, default=20, help="window step in frames")
    a.add_argument("--affinity", default="derivative-correlation", help="derivative-correlation or gaussian")
    a.add_argument("--smooth", type=float, default=1.0, help="Gaussian smoothing (frames) before the derivative")
    a.add_argument("--method", default="leiden", help="community detection: leiden or louvain")
    a.add_argument("--iterations", type=int, default=300, help="maximum NTF iterations")
    a.add_argument("--device", default=None, help="auto, cpu or cuda (default: DYNLAB_DEVICE or auto)")


def _config(args: argparse.Namespace, rank: int):
    from lab.connectome.pipeline import ConnectomeConfig
    from lab.core.device import resolve_device

    worm = {"neurons": args.neurons, "communities": args.communities, "epochs": args.epochs, "animals": args.animals,
            "snr": args.snr, "frames_per_epoch": args.frames_per_epoch, "seed": args.seed}
    device = resolve_device(args.device).name
    return ConnectomeConfig(
        source="files" if args.input else "synthetic", worm=worm, inputs=list(args.input or []), series=args.series,
        rank=rank, window=args.window, step=args.step, affinity=args.affinity, smooth=args.smooth,
        method=args.method, n_iter_max=args.iterations, seed=args.seed, device="cuda" if device == "cuda" else "cpu",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from lab.cli import emit
    from lab.connectome.pipeline import make_job
    from lab.core.jobs import run_foreground
    from lab.core.progress import TextProgress

    if args.seed < 0:
        raise LabInputError(f"--seed is {args.seed}; use a non-negative integer.")
    config = _config(args, args.rank)
    output, run_id = run_foreground("connectome", "connectome run", make_job(config), progress=TextProgress("NTF"))
    sys.stderr.write("\n")  # the bar stays open when the NTF converges before n_iter_max
    result = output.result
    doc: dict[str, Any] = result.to_json()
    doc["run_id"] = run_id
    lines = [f"rank {config.rank}: reconstruction error {result.fit.error:.4f} after {len(result.fit.errors)} iterations"
             f" in {doc['seconds']:.2f} s"]
    for r, f in enumerate(doc["factors"]):
        sizes = [len(c) for c in f["communities"]]
        lines.append(f"  factor {r}: {len(sizes)} communities (sizes {sizes[:8]}), modularity {f['modularity']:.3f}")
    if "ari" in doc:
        lines.append(f"recovery vs planted truth: ARI {doc['ari']:.3f}, NMI {doc['nmi']:.3f}")
    lines.append(f"saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from lab.cli import emit
    from lab.connectome.pipeline import run_rank_scan
    from lab.core.progress import TextProgress

    ranks = parse_ranks(args.ranks)
    if not 1 <= args.restarts <= 100:
        raise LabInputError(f"--restarts is {args.restarts}; use 1 to 100.")
    if args.seed < 0:
        raise LabInputError(f"--seed is {args.seed}; use a non-negative integer.")
    config = _config(args, max(ranks))
    scan = run_rank_scan(config, ranks, args.restarts, on_progress=TextProgress("rank scan"))
    sys.stderr.write("\n")
    rows = scan.summary()
    for row in rows:
        row["error"] = row["error_min"]
    doc = {
        "ranks": [row["rank"] for row in rows],
        "error": [row["error_min"] for row in rows],
        "similarity": [row["similarity"] for row in rows],
        "scan": rows,
        "errors": scan.errors.tolist(),
        "similarities": scan.similarity.tolist(),
        "restarts": args.restarts,
        "seconds": scan.seconds,
    }
    text = "\n".join(f"rank {r['rank']:>3}: error {r['error_min']:.4f} (mean {r['error_mean']:.4f}),"
                     f" similarity {r['similarity']:.3f}" for r in rows)
    emit(doc, args.json, text)
    return 0


def register(groups: Any) -> None:
    """Add ``dynlab connectome`` with ``run`` and ``scan``."""
    from lab.cli import OneLineArgumentParser, add_json_flag

    p = groups.add_parser("connectome", help="dynamic functional connectome: affinities -> NTF -> communities")
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", parser_class=OneLineArgumentParser)

    run = verbs.add_parser("run", help="factorize and find communities per factor and per window")
    _add_data_args(run, required=True)
    run.add_argument("--rank", type=int, default=3, help="number of NTF factors")
    add_json_flag(run)
    run.set_defaults(func=_cmd_run)

    scan = verbs.add_parser("scan", help="rank scan: error and factor similarity over random restarts")
    _add_data_args(scan, required=False)
    scan.add_argument("--ranks", default="1-6", help="ranks to try, e.g. 1-10 or 2,4,6")
    scan.add_argument("--restarts", type=int, default=5)
    add_json_flag(scan)
    scan.set_defaults(func=_cmd_scan)
    p.set_defaults(func=lambda a: (p.print_help(sys.stdout), 0)[1])
