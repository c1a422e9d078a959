"""``dynlab connectome run|scan``: the lab from the command line (contract in issue 4).

``run`` prints ``{"factors": [{"time", "animal", "communities", "modularity", ...}], "membership",
"reconstruction_error", "seconds", "neurons", "dropped", "layout", "run_id"}`` (plus ``"covariates"``:
{column: [correlation per factor]} when there are covariates, and ``"ari"``, ``"nmi"`` when there is a
truth: ``--synthetic``, ``--truth``, or a ``truth.json`` beside the first input that names it); ``scan``
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
    from lab.connectome.cohort import LAYOUTS
    from lab.connectome.communities import METHODS
    from lab.connectome.config import ConnectomeConfig as C
    from lab.connectome.synthetic import WormConfig as W

    src = p.add_mutually_exclusive_group()  # neither: the config's default source, a synthetic worm
    src.add_argument("--input", nargs="+", metavar="FILE",
                     help="CSV, NPZ or NWB traces (several files: one set of animals each, neurons matched by name)")
    src.add_argument("--synthetic", action="store_true",
                     help="a synthetic worm with planted communities (the default without --input)")
    p.add_argument("--series", help="NWB: the fluorescence series to read (default: the first RoiResponseSeries)")
    p.add_argument("--covariates", nargs="+", metavar="FILE",
                   help="one per-frame CSV per --input file, same order (a time or frame column plus numeric "
                        "columns: velocity, reversal, stimulus, ...)")
    p.add_argument("--truth", metavar="FILE", help="a truth.json (names, membership) to score the communities against")
    p.add_argument("--neurons", default=None, metavar="common|min:K",
                   help="which neurons to analyse: common (identified in every animal) or min:K (in at least K "
                        f"animals; the missing pairs are masked in the fit) (default {C.default('neurons')}); "
                        "a number is the synthetic worm's neuron count")
    p.add_argument("--layout", default=C.default("layout"), choices=LAYOUTS,
                   help="aligned (a shared stimulus clock: animals are the tensor's animal mode), independent "
                        "(animals' windows one after another in time), or auto: aligned only when all files have "
                        "the same frames and the same epochs column (default %(default)s)")
    g = p.add_argument_group("synthetic worm")
    g.add_argument("--worm-neurons", type=int, default=W.default("neurons"),
                   help=f"neurons of the synthetic worm (default {W.default('neurons')}; --neurons N says the same)")
    g.add_argument("--identified", type=float, default=W.default("identified"),
                   help="fraction of the worm's neurons identified in each animal, a different subset per animal "
                        "(default %(default)s)")
    for name, kind in (("communities", int), ("epochs", int), ("animals", int), ("snr", float),
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
    from lab.connectome.config import ConnectomeConfig as C

    rule, size = C.default("neurons"), args.worm_neurons
    if args.neurons is not None:
        if args.neurons.strip().isdigit():
            size = int(args.neurons)  # the synthetic worm's size, as before the alignment rule existed
        else:
            rule = args.neurons.strip()
    worm = {"neurons": size, "identified": args.identified, "communities": args.communities, "epochs": args.epochs, "animals": args.animals,
            "snr": args.snr, "frames_per_epoch": args.frames_per_epoch}  # its seed is the run's --seed
    if args.covariates and not args.input:
        raise LabInputError("--covariates needs --input trace files (one covariate file per input, same order).")
    return {"source": "files" if args.input else "synthetic", "worm": worm, "inputs": tuple(args.input or ()),
            "covariates": tuple(args.covariates or ()), "truth": args.truth, "neurons": rule,
            "layout": args.layout, "series": args.series, "window": args.window, "step": args.step, "affinity": args.affinity,
            "smooth": args.smooth, "method": args.method, "n_iter_max": args.iterations, "seed": args.seed,
            "device": cli_device(args.device)}


def _run(verb: str, config: Any, label: str) -> tuple[Any, str | None]:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    output, run_id = run_foreground_verb("connectome", verb, config, progress=TextProgress(label))
    return output.result, run_id


def _cmd_run(args: argparse.Namespace) -> int:
    from lab.connectome.config import ConnectomeConfig

    config = ConnectomeConfig(**_values(args), rank=args.rank)
    result, run_id = _run("run", config, "NTF")
    doc: dict[str, Any] = result.to_json()
    doc["run_id"] = run_id
    from lab.connectome.data import plural

    a, n, _ = result.recording.shape
    lines = [f"{plural(n, 'neuron')}, {plural(a, 'animal')}, {doc['layout']} layout, {plural(len(result.starts), 'window')}"]
    lines += [f"  {note}" for note in result.recording.notes]
    lines.append(f"rank {config.rank}: reconstruction error {result.fit.error:.4f} after "
                 f"{plural(len(result.fit.errors), 'iteration')} in {doc['seconds']:.2f} s"
                 + (" (stopped early)" if result.fit.stopped else ""))
    for r, f in enumerate(doc["factors"]):
        sizes = [len(c) for c in f["communities"]]
        lines.append(f"  factor {r}: {plural(len(sizes), 'community', 'communities')} (sizes {sizes[:8]}), "
                     f"modularity {f['modularity']:.3f}")
    for name, row in doc.get("covariates", {}).items():
        lines.append(f"  {name}: correlation with factors " + ", ".join("-" if v is None else f"{v:+.2f}" for v in row))
    if "ari" in doc:
        lines.append(f"recovery vs truth: ARI {doc['ari']:.3f}, NMI {doc['nmi']:.3f}")
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append(f"saved as run {run_id}")
    emit(doc, args.json, "\n".join(lines))
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from lab.connectome.config import ScanConfig

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
    from lab.connectome.config import ConnectomeConfig, ScanConfig

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
