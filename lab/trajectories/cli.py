"""``dynlab traj simulate|predict|train|groups`` (``edges`` is made from its config by ``lab.core.cli``).

- ``simulate --kind springs|crowd [--agents N --steps T --seed S] --out FILE``: the ETH/UCY format, plus a
  sidecar ``FILE.groups.csv`` (``frame,agent,group``; springs also ``FILE.edges.csv``).
- ``predict --input FILE [--models cv,seq,group] [--obs 8 --pred 12 --samples 20] [--checkpoint CK.pt] --json``:
  ``{"windows", "models": {name: {"ade", "fde", "min_ade", "min_fde"}}, "seconds"}``.
- ``train --input FILE [FILE ...] [--model group|seq] [--minutes M] [--seed S] -o CK.pt --json``: the last
  values of the training curve; the checkpoint (and its card) at ``-o``.
- ``groups --input FILE --json``: ``{"frames": [{"frame", "groups": [[ids]]}]}`` and ``"ari"`` when ground truth
  is beside the file (``FILE.groups.csv`` or ``groups.txt``) or given with ``--truth``.

Without ``--input``, a simulated scene is used (``--kind``, ``--agents``, ``--frames``, ``--seed``). Every verb
runs through :func:`lab.core.verbs.run_foreground_verb` (saved as a run; Ctrl-C stops and keeps the result).
Bad files: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lab.core.cli import add_common_args, cli_device, emit
from lab.core.errors import LabInputError


def _run(verb: str, config: Any) -> tuple[Any, str | None]:
    from lab.core.progress import TextProgress
    from lab.core.verbs import run_foreground_verb

    output, run_id = run_foreground_verb("trajectories", verb, config, progress=TextProgress(f"traj {verb}"))
    return output.result, run_id


def _source(args: argparse.Namespace) -> dict[str, Any]:
    if args.input:
        return {"source": "files", "inputs": tuple(args.input)}
    return {"source": args.kind}


def _models(text: str) -> tuple[str, ...]:
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    if not models:
        raise LabInputError(f"--models '{text}' names no model; write e.g. --models cv,seq,group.")
    return models


# -- simulate ---------------------------------------------------------------------------------------------
def _cmd_simulate(args: argparse.Namespace) -> int:
    from lab.core.files import atomic_write_text
    from lab.trajectories.simulate import SimulateConfig

    config = SimulateConfig(kind=args.kind, agents=args.agents, steps=args.steps, seed=args.seed,
                            split_rate=args.split_rate, merge_rate=args.merge_rate, switch_every=args.switch_every)
    if not args.out:
        raise LabInputError("give --out FILE, the scene file to write (e.g. --out scene.txt).")
    out = Path(args.out)
    if out.is_dir():
        raise LabInputError(f"--out {out} is a folder; give a file name such as scene.txt.")
    result, run_id = _run("simulate", config)
    written = [out, Path(str(out) + ".groups.csv")]
    atomic_write_text(written[0], result.scene.to_text())
    atomic_write_text(written[1], result.scene.groups_csv())
    if result.scene.edges is not None:
        written.append(Path(str(out) + ".edges.csv"))
        atomic_write_text(written[2], result.scene.edges_csv())
    doc = {**result.to_json(), "files": [str(p) for p in written], "run_id": run_id}
    m = result.metrics()
    emit(doc, args.json, f"{args.kind}: {m['agents']} agents over {m['frames']} frames "
                         f"({m['mean_agents_per_frame']:.1f} per frame) -> {', '.join(map(str, written))}")
    return 0


# -- predict ----------------------------------------------------------------------------------------------
def _cmd_predict(args: argparse.Namespace) -> int:
    from lab.trajectories.predict import PredictConfig

    config = PredictConfig(**_source(args), agents=args.agents, frames=args.frames, models=_models(args.models),
                           obs=args.obs, pred=args.pred, samples=args.samples, stride=args.stride,
                           sigma=args.sigma, checkpoint=args.checkpoint or "", seed=args.seed,
                           device=cli_device(args.device))
    result, _ = _run("predict", config)
    doc = result.to_json()
    lines = [f"{doc['windows']} windows, {result.tracks} tracks (obs {config.obs}, pred {config.pred}, "
             f"K = {config.samples}) in {doc['seconds']:.2f} s"]
    for name, e in doc["models"].items():
        lines.append(f"  {name:6s} ADE {e['ade']:.3f}  FDE {e['fde']:.3f}  minADE {e['min_ade']:.3f}  "
                     f"minFDE {e['min_fde']:.3f}")
    emit(doc, args.json, "\n".join(lines))
    return 0


# -- train --------------------------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    from lab.core.checkpoints import save_checkpoint
    from lab.trajectories.train import TrainConfig

    if args.output and Path(args.output).is_dir():
        raise LabInputError(f"-o {args.output} is a folder; give a file name such as model.pt.")
    fields: dict[str, Any] = {"model": args.model, **_source(args), "minutes": args.minutes, "seed": args.seed,
                              "device": cli_device(args.device)}
    for name in ("steps", "obs", "pred", "hidden", "batch", "lr", "scenes", "agents", "frames"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    config = TrainConfig(**fields)
    result, run_id = _run("train", config)
    doc = {**result.to_json(), "run_id": run_id}
    if args.output:
        save_checkpoint(args.output, result.model.state_dict(), result.card())
        doc["checkpoint"] = str(args.output)
    last = doc["last"]
    text = (f"{config.model}: {result.steps_done} steps in {result.seconds:.1f} s"
            + (" (stopped early)" if result.stopped else "") + "; last "
            + "  ".join(f"{k}={v:.4g}" for k, v in last.items())
            + (f"\ncheckpoint: {args.output}" if args.output else ""))
    emit(doc, args.json, text)
    return 0


# -- groups -----------------------------------------------------------------------------------------------
def _cmd_groups(args: argparse.Namespace) -> int:
    from lab.trajectories.groups import GroupsConfig

    if args.input and len(args.input) > 1:
        raise LabInputError("groups reads one scene; pass one --input FILE.")
    config = GroupsConfig(**_source(args), truth=args.truth or "", agents=args.agents, frames=args.frames,
                          method=args.method, obs=args.obs, checkpoint=args.checkpoint or "", seed=args.seed,
                          device=cli_device(args.device))
    result, _ = _run("groups", config)
    doc = result.to_json()
    sizes = [len(f["groups"]) for f in doc["frames"]]
    text = f"{len(doc['frames'])} frames, {sum(sizes) / max(len(sizes), 1):.1f} groups per frame"
    if "ari" in doc:
        text += f"; ARI vs ground truth {doc['ari']:.3f} (rule baseline {result.ari_rule:.3f})" \
            if result.ari_rule is not None else f"; ARI vs ground truth {doc['ari']:.3f}"
    emit(doc, args.json, text)
    return 0


# -- parsers ------------------------------------------------------------------------------------------------
def _scene_args(p: argparse.ArgumentParser, cls: type, *, many: bool = False) -> None:
    from lab.trajectories.scenes import SOURCES

    p.add_argument("--input", nargs="+" if many else 1, metavar="FILE",
                   help="ETH/UCY text (frame ped_id x y) or CSV (frame, agent, x, y)"
                        + (" - several files train on all of them" if many else ""))
    p.add_argument("--kind", choices=SOURCES[:2], default="crowd", help="without --input: simulate this (default crowd)")
    p.add_argument("--agents", type=int, default=cls.default("agents"), help="simulated agents (default %(default)s)")
    p.add_argument("--frames", type=int, default=cls.default("frames"), help="simulated frames (default %(default)s)")


def register(verbs: Any) -> None:
    """Add ``simulate``, ``predict``, ``train`` and ``groups`` to ``dynlab traj``'s verb subparsers."""
    from lab.trajectories.grouping import METHODS
    from lab.trajectories.groups import GroupsConfig
    from lab.trajectories.predict import PredictConfig
    from lab.trajectories.simulate import KINDS, SimulateConfig
    from lab.trajectories.train import MODELS, TrainConfig

    s = verbs.add_parser("simulate", help="simulate a crowd in groups or dynamic springs (ETH/UCY format + truth)",
                         description="Writes FILE (frame ped_id x y, tab separated, frame step 10 = 0.4 s) and "
                                     "FILE.groups.csv (frame,agent,group); springs also FILE.edges.csv.")
    d = SimulateConfig.default
    s.add_argument("--kind", choices=KINDS, default=d("kind"), help="(default %(default)s)")
    s.add_argument("--agents", type=int, default=d("agents"), help="pedestrians at once, or particles (default %(default)s)")
    s.add_argument("--steps", type=int, default=d("steps"), help="frames to write (default %(default)s)")
    s.add_argument("--split-rate", type=float, default=d("split_rate"), help="crowd: splits per group per minute "
                   "(default %(default)s)")
    s.add_argument("--merge-rate", type=float, default=d("merge_rate"), help="crowd: merges per pair of close "
                   "groups per minute (default %(default)s)")
    s.add_argument("--switch-every", type=int, default=d("switch_every"), help="springs: frames between graph "
                   "changes (default %(default)s)")
    s.add_argument("--out", "-o", help="the scene file to write (required)")
    add_common_args(s, seed_default=d("seed"), device=False)
    s.set_defaults(func=_cmd_simulate)

    p = verbs.add_parser("predict", help="ADE/FDE/minADE/minFDE of each model on every sliding window",
                         description="JSON: {windows, models: {name: {ade, fde, min_ade, min_fde}}, seconds}. "
                                     "ade/fde: the mean prediction (cv: deterministic); min_*: best of --samples.")
    d = PredictConfig.default
    _scene_args(p, PredictConfig)
    p.add_argument("--models", default=",".join(d("models")), help="comma-separated (default %(default)s)")
    p.add_argument("--obs", type=int, default=d("obs"), help="observed frame steps (default %(default)s)")
    p.add_argument("--pred", type=int, default=d("pred"), help="predicted frame steps (default %(default)s)")
    p.add_argument("--samples", type=int, default=d("samples"), help="K for minADE/minFDE (default %(default)s)")
    p.add_argument("--stride", type=int, default=d("stride"), help="frame steps between windows (default %(default)s)")
    p.add_argument("--sigma", type=float, default=d("sigma"), help="cv heading noise, degrees (default %(default)s)")
    p.add_argument("--checkpoint", help="a model from `dynlab traj train -o` instead of the shipped one of its kind")
    add_common_args(p, seed_default=d("seed"))
    p.set_defaults(func=_cmd_predict)

    t = verbs.add_parser("train", help="train the group or sequence model on scenes (Ctrl-C stops and saves)",
                         description="JSON: {model, steps, windows, last: {step, loss, wta, val_min_ade}, val, "
                                     "seconds, stopped_early, run_id, checkpoint}. Leave-one-scene-out: train on "
                                     "four scenes, then `predict --checkpoint` on the fifth.")
    d = TrainConfig.default
    _scene_args(t, TrainConfig, many=True)
    t.add_argument("--model", choices=MODELS, default=d("model"), help="(default %(default)s)")
    t.add_argument("--minutes", type=float, default=d("minutes"), help="stop after this many minutes, saving "
                   "(0: no limit; default %(default)s)")
    t.add_argument("--steps", type=int, default=None, help=f"at most this many steps (default {d('steps')})")
    t.add_argument("--scenes", type=int, default=None, help=f"simulated training scenes (default {d('scenes')})")
    for name, kind in (("obs", int), ("pred", int), ("hidden", int), ("batch", int), ("lr", float)):
        t.add_argument(f"--{name}", type=kind, default=None, help=f"(default {d(name)})")
    t.add_argument("-o", "--output", help="write the checkpoint (and its card, PATH.json) here")
    add_common_args(t, seed_default=d("seed"))
    t.set_defaults(func=_cmd_train)

    g = verbs.add_parser("groups", help="groups per frame and, with ground truth, the per-frame ARI",
                         description="JSON: {frames: [{frame, groups: [[agent ids]]}], ari (with ground truth)}. "
                                     "Truth: FILE.groups.csv or groups.txt beside FILE, or --truth.")
    d = GroupsConfig.default
    _scene_args(g, GroupsConfig)
    g.add_argument("--method", choices=METHODS, default=d("method"), help="(default %(default)s)")
    g.add_argument("--truth", help="ground-truth groups: a frame,agent,group CSV or a groups.txt")
    g.add_argument("--obs", type=int, default=d("obs"), help="frame steps of history per frame (default %(default)s)")
    g.add_argument("--checkpoint", help="a group model from `dynlab traj train -o`")
    add_common_args(g, seed_default=d("seed"))
    g.set_defaults(func=_cmd_groups)
