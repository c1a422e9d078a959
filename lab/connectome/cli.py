"""``dynlab connectome run|scan``: the lab from the command line (contract in issue 4).

``run`` prints ``{"factors": [{"time", "animal", "communities", "modularity", ...}], "membership",
"reconstruction_error", "seconds", "run_id"}`` (plus ``"ari"``, ``"nmi"`` with ``--synthetic``); ``scan``
prints error and factor similarity per rank. Both run through :func:`lab.core.verbs.run_foreground_verb`
(text bar on stderr, Ctrl-C stops and keeps the partial result, saved as a run that records its verb).
Defaults are read from the configs. Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from lab.core.cli import add_common_args, cli_device, emit
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


def format_ranks(ranks: tuple[int, ...]) -> str:
    """The inverse of :func:`parse_ranks` for a default: ``(1, 2, 3)`` -> ``"1-3"``, else ``"2,4,6"``."""
    if len(ranks) > 2 and list(ranks) == list(range(ranks[0], ranks[-1] + 1)):
        return f"{ranks[0]}-{ranks[-1]}"
    return ",".join(str(r) for r in ranks)


def _add_data_args(p: argparse.ArgumentParser) -> None:
    from lab.connectome.affinities import AFFINITIES
    from lab.connectome.communities import METHODS
    from lab.connectome.pipeline import ConnectomeConfig as C
    from lab.connectome.synthetic import WormConfig as W

    src = p.add_mutually_exclusive_group()  # neither: the config's default source, a synthetic worm
    src.add_argument("--input", nargs="+", metavar="FILE", help="CSV, NPZ or NWB traces (several files: one set of animals each)")
    src.add_argument("--synthetic", action="store_true",
                     help="a synthetic worm with planted communities (the default without --input)")
    p.add_argument("--series", help="NWB: the fluorescence series to read (default: the first RoiResponseSeries)")
    g = p.add_argument_group("synthetic worm")
    for name, kind in (("neurons", int), ("communities", int), ("epochs", int), ("animals", int), ("snr", float),
                       ("frames_per_epoch", int)):
        g.add_argument("--" + name.replace("_", "-"), type=kind, default=W.default(name),
                       help=f"(default {W.default(name)})")
    g.add_argument("--seed", type=int, default=C.default("seed"),
                   help=f"seed of the worm and of the NTF initialisation (default {C.default('seed')})")
    a = p.add_argument_group("pipeline")
    a.add_argument("--window", type=int, default=C.default("window"),
                   help=f"window length in frames (default {C.default('window')})")
    a.add_argument("--step", type=int, default=C.default("step"), help=f"window step in frames (default {C.default('step')})")
    a.add_argument("--affinity", default=C.default("affinity"), help=f"{' or '.join(AFFINITIES)} (default %(default)s)")
    a.add_argument("--smooth", type=float, default=C.default("smooth"),
                   help="Gaussian smoothing (frames) before the derivative (default %(default)s)")
    a.add_argument("--method", default=C.default("method"),
                   help=f"community detection: {' or '.join(METHODS)} (default %(default)s)")
    a.add_argument("--iterations", type=int, default=C.default("n_iter_max"),
                   help="maximum NTF iterations (default %(default)s)")
    add_common_args(p, seed_default=None)  # --device (default: DYNLAB_DEVICE, else auto) and --json


def _values(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields the data and pipeline options give (shared by ``run`` and ``scan``)."""
    worm = {"neurons": args.neurons, "communities": args.communities, "epochs": args.epochs, "animals": args.animals,
            "snr": args.snr, "frames_per_epoch": args.frames_per_epoch}  # its seed is the run's --seed
    return {"source": "files" if args.input else "synthetic", "worm": worm, "inputs": tuple(args.input or ()),
            "series": args.series, "window": args.window, "step": args.step, "affinity": args.affinity,
            "smooth": args.smooth, "method": args.method, "n_iter_max": args.iterations, "seed": args.seed,
            "device": cli_device(args.device)}


def _run(verb: str, config: Any, label: str) -> tuple[Any, str | None]:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    output, run_id = run_foreground_verb("connectome", verb, config, progress=TextProgress(label))
    return output.result, run_id


def _cmd_run(args: argparse.Namespace) -> int:
    from lab.connectome.pipeline import ConnectomeConfig

    config = ConnectomeConfig(**_values(args), rank=args.rank)
    result, run_id = _run("run", config, "NTF")
    doc: dict[str, Any] = result.to_json()
    doc["run_id"] = run_id
    lines = [f"rank {config.rank}: reconstruction error {result.fit.error:.4f} after {len(result.fit.errors)} iterations"
             f" in {doc['seconds']:.2f} s" + (" (stopped early)" if result.fit.stopped else "")]
    for r, f in enumerate(doc["factors"]):
        sizes = [len(c) for c in f["communities"]]
        lines.append(f"  factor {r}: {len(sizes)} communities (sizes {sizes[:8]}), modularity {f['modularity']:.3f}")
    if "ari" in doc:
        lines.append(f"recovery vs planted truth: ARI {doc['ari']:.3f}, NMI {doc['nmi']:.3f}")
    lines.append(f"saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from lab.connectome.pipeline import ScanConfig

    config = ScanConfig(**_values(args), ranks=tuple(parse_ranks(args.ranks)), restarts=args.restarts)
    result, run_id = _run("scan", config, "rank scan")
    doc = result.to_json()
    doc["run_id"] = run_id
    text = "\n".join(f"rank {r['rank']:>3}: error {r['error_min']:.4f} (mean {r['error_mean']:.4f}),"
                     f" similarity {r['similarity']:.3f}" for r in doc["scan"])
    emit(doc, args.json, text + f"\nsaved as run {run_id}")
    return 0


def register(verbs: Any) -> None:
    """Add the ``run`` and ``scan`` parsers to ``dynlab connectome``'s verb subparsers."""
    from lab.connectome.pipeline import ConnectomeConfig, ScanConfig

    run = verbs.add_parser("run", help="factorize and find communities per factor and per window")
    _add_data_args(run)
    run.add_argument("--rank", type=int, default=ConnectomeConfig.default("rank"),
                     help="number of NTF factors (default %(default)s)")
    run.set_defaults(func=_cmd_run)

    scan = verbs.add_parser("scan", help="rank scan: error and factor similarity over random restarts")
    _add_data_args(scan)
    scan.add_argument("--ranks", default=format_ranks(ScanConfig.default("ranks")),
                      help="ranks to try, e.g. 1-10 or 2,4,6 (default %(default)s)")
    scan.add_argument("--restarts", type=int, default=ScanConfig.default("restarts"),
                      help="random restarts per rank (default %(default)s)")
    scan.set_defaults(func=_cmd_scan)
