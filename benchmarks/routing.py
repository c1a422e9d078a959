"""Routing lab benchmark: early exits on digits with the shipped model (issue 10's measured targets).

    .venv/bin/python benchmarks/routing.py            # shipped model + a global-pool variant (about 2 min)
    .venv/bin/python benchmarks/routing.py --quick    # shipped model only
    .venv/bin/python benchmarks/routing.py --skip moe robust   # leave out the MoE balance and robustness sections
    .venv/bin/python benchmarks/routing.py --routes-only       # only the small/big/skip routes section (merged)

Writes ``benchmarks/results/routing.json``. Targets: speed-up at <= 1 point of accuracy loss vs the
last exit of >= 3x in mean MACs and >= 2x in measured CPU throughput (BranchyNet reports 5.4x on MNIST
with LeNet); ECE of the learned gate vs thresholding at those operating points.

Measured throughput: the static network (every block, last classifier) and a real early-exit pass
(inputs leave the batch as they exit, :mod:`lab.routing.throughput`) over the held-out split in
batches of 256, best of 5 passes, one CPU thread.

MoE: load coefficient of variation, drop rate, routing entropy and validation loss of the default MoE
(``dynlab routing moe``) with balance weight 0 / 0.01 / 0.1, seeds 0-2. Robustness: the shipped model under
PGD (10 steps) for both attack objectives (``dynlab routing robust``), summarised at epsilon = 2 grey levels.
Routes: the default ``dynlab routing routes`` (3 layers, 1200 random-route steps) on both corpora, seeds 0-2: loss
of the oracle, the learned router and random routes at a 50 % big-module budget (mean FFN MACs <= half the
all-big route's), and the learned - oracle gap.

``--quick`` skips the variant with global-average-pool exits (``pool=1``): early exits blind to
position, which makes the trade-off harder; it is trained here with the shipped model's recipe.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab.core.files import atomic_write_json  # noqa: E402
from lab.core.inputs import read_json  # noqa: E402
from lab.routing.exits import SHIPPED, ExitsConfig, run_exits  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "routing.json"
MOE_BALANCE_WEIGHTS = (0.0, 0.01, 0.1)
MOE_SEEDS = (0, 1, 2)
ROBUST_EPSILON = 2.0  # grey levels of 16: the robustness summary's operating point


def moe_balance() -> dict:
    """Load CV and drop rate of the default MoE (``dynlab routing moe``) with and without the balancing loss."""
    import numpy as np

    from lab.routing.moe import MoEConfig, run_moe

    rows = {}
    for w in MOE_BALANCE_WEIGHTS:
        runs = [run_moe(MoEConfig(balance_weight=w, seed=s)).to_json() for s in MOE_SEEDS]
        rows[f"{w:g}"] = {key: {"per_seed": [r[key] for r in runs], "mean": float(np.mean([r[key] for r in runs])),
                                "std": float(np.std([r[key] for r in runs]))}
                          for key in ("load_cv", "drop_rate", "routing_entropy", "val_loss")}
    return {"command_per_point": "dynlab routing moe --balance-weight W --seed S --json", "seeds": list(MOE_SEEDS),
            "balance_weight": rows}


def robustness() -> dict:
    """The shipped model under PGD (10 steps) at every epsilon; each policy at its clean <= 1 point threshold."""
    from lab.routing.robustness import RobustConfig, run_robust

    start = time.perf_counter()
    r = run_robust(RobustConfig(checkpoint=str(SHIPPED["digits"]), attack="pgd", pgd_steps=10))
    doc = r.to_json()
    i = r.epsilons.index(ROBUST_EPSILON)
    summary = {}
    for name in ("max_prob", "entropy", "patience", "gate"):
        t = r.thresholds[name]
        clean = r.point(None, 0, name, t)
        row = {"threshold": t, "clean_accuracy": clean.accuracy, "clean_mean_exit": float(clean.exit_index.mean()),
               "clean_speedup": clean.speedup}
        for obj in r.adversarial:
            p = r.point(obj, i, name, t)
            row[obj] = {"accuracy": p.accuracy, "mean_exit": float(p.exit_index.mean()), "speedup": p.speedup}
        summary[name] = row
    return {"command": "dynlab routing robust --attack pgd --pgd-steps 10 --json", "epsilon": ROBUST_EPSILON,
            "epsilon_units": r.scale.units, f"at_epsilon_{ROBUST_EPSILON:g}": summary, "curves": doc,
            "seconds": time.perf_counter() - start}


ROUTES_SEEDS = (0, 1, 2)


def routes() -> dict:
    """Learned router vs oracle (and random routes) at a 50 % big-module budget, default config, both corpora."""
    import numpy as np

    from lab.routing.routes import RoutesConfig, run_routes

    out: dict = {"command_per_point": "dynlab routing routes --corpus C --seed S --budget 0.5 --json",
                 "seeds": list(ROUTES_SEEDS), "budget": 0.5}
    for corpus in ("stdlib", "synthetic"):
        start = time.perf_counter()
        runs = [run_routes(RoutesConfig(corpus=corpus, budget=0.5, seed=s)) for s in ROUTES_SEEDS]
        row: dict = {}
        for key in ("oracle_loss", "learned_loss", "random_loss", "oracle_capped_loss", "oracle_compute",
                    "learned_compute", "random_compute", "gap_learned_oracle", "gap_random_oracle", "all_big_loss",
                    "all_skip_loss", "router_agreement"):
            values = [r.metrics()[key] for r in runs]
            row[key] = {"per_seed": values, "mean": float(np.mean(values)), "std": float(np.std(values))}
        row["seconds_per_run"] = (time.perf_counter() - start) / len(runs)
        out[corpus] = row
    return out


def case(config: ExitsConfig) -> dict:
    start = time.perf_counter()
    result = run_exits(config)
    doc = {"model": result.source, "exit_accuracy": result.exit_accuracy, "exit_ece": result.exit_ece(),
           "last_exit_accuracy": result.last_exit_accuracy, "macs": result.costs.to_json(),
           "static_samples_per_s": result.static_per_s, "policies": {}}
    for name, p in result.policies.items():
        doc["policies"][name] = {"speedup_at_1pt_macs": p.speedup_at_1pt, "threshold_at_1pt": p.threshold_at_1pt,
                                 "ece_at_1pt": p.ece, **p.throughput}
        if p.threshold_at_1pt is not None:
            op = result.operating_point(name, p.threshold_at_1pt)
            doc["policies"][name]["accuracy_at_1pt"] = op.accuracy
            doc["policies"][name]["exit_histogram"] = op.histogram(result.n_exits)
    doc["seconds"] = time.perf_counter() - start
    return doc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--skip", nargs="*", default=[], choices=["moe", "robust", "routes"], help="sections to leave out")
    p.add_argument("--routes-only", action="store_true", help="only the routes section, merged into the results file")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.routes_only:
        merged = read_json(OUT) if OUT.exists() else {}
        merged["routes"] = routes()
        atomic_write_json(OUT, merged)
        for corpus in ("stdlib", "synthetic"):
            r = merged["routes"][corpus]
            print(f"routes on {corpus} at 50 %: oracle {r['oracle_loss']['mean']:.4f}, learned "
                  f"{r['learned_loss']['mean']:.4f}, random {r['random_loss']['mean']:.4f}; learned - oracle "
                  f"{r['gap_learned_oracle']['mean']:.4f} +- {r['gap_learned_oracle']['std']:.4f} nats")
        return 0
    card = read_json(SHIPPED["digits"].with_suffix(".json"))
    results = {"machine": {"platform": platform.platform(terse=True), "torch": torch.__version__, "threads": 1},
               "command": "python benchmarks/routing.py" + (" --quick" if args.quick else "")
               + (" --skip " + " ".join(args.skip) if args.skip else ""),
               "shipped": case(ExitsConfig(checkpoint=str(SHIPPED["digits"]), measure=True))}
    results["shipped"]["card_command"] = card.get("command")
    if not args.quick:
        tc = card["train_config"]
        results["global_pool_variant"] = case(ExitsConfig(
            checkpoint="train", pool=1, steps=tc["steps"], width=tc["width"], blocks=tc["blocks"], lr=tc["lr"],
            batch_size=tc["batch_size"], gate_cost=tc["gate_cost"], seed=tc["seed"], measure=True))
    shipped = results["shipped"]["policies"]
    thresholded = {k: v for k, v in shipped.items() if k in ("max_prob", "entropy", "patience")}
    best = max(thresholded.items(), key=lambda kv: kv[1]["speedup_at_1pt_macs"])
    results["targets"] = {
        "best_thresholded_policy": best[0],
        "speedup_macs_at_1pt": best[1]["speedup_at_1pt_macs"], "speedup_macs_target": 3.0,
        "speedup_measured_at_1pt": best[1].get("measured_speedup_per_s"), "speedup_measured_target": 2.0,
        "ece_gate_at_1pt": shipped["gate"]["ece_at_1pt"],
        "ece_thresholding_at_1pt": {k: v["ece_at_1pt"] for k, v in thresholded.items()},
    }
    if "moe" not in args.skip:
        results["moe_balance"] = moe_balance()
    if "robust" not in args.skip:
        results["robustness"] = robustness()
    if "routes" not in args.skip:
        results["routes"] = routes()
    atomic_write_json(OUT, results)
    t = results["targets"]
    print(f"{t['best_thresholded_policy']}: {t['speedup_macs_at_1pt']:.2f}x MACs, "
          f"{t['speedup_measured_at_1pt']:.2f}x measured at <= 1 pt; ECE gate {t['ece_gate_at_1pt']:.4f} vs "
          f"thresholding {t['ece_thresholding_at_1pt']}; wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
