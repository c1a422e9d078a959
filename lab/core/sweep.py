"""Sweeps: any lab verb over a grid of config values and a list of seeds, on either backend.

A sweep is itself a verb every lab has (``sweep``): its config names the lab and verb, a base config,
the grid and the seeds. Every point (one combination of grid values, one seed) runs as the verb's
work on the chosen backend (:mod:`lab.core.backends`); the table of points (config, seed, metrics,
status, error) is written to the run store after every finished point, so a stopped or crashed sweep
keeps what finished. The run is one run with its points (``points.json``, ``points.csv``).

>>> dynlab sweep connectome run --grid rank=2,3,4 --seeds 0,1 --json     # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
import threading
import time
import typing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lab.core.backends import BACKENDS, execute
from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.files import to_jsonable
from lab.core.labs import Verb
from lab.core.progress import ProgressCallback, report

log = logging.getLogger(__name__)

SWEEP = Verb("sweep", "lab.core.sweep:SweepConfig", "lab.core.sweep:run_sweep",
             help="run a verb over a grid of config values and seeds; one run with a table of points")


@dataclass(frozen=True)
class SweepConfig(LabConfig):
    """A sweep of ``lab verb``: ``base`` config values, ``grid`` {field: [values]}, ``seeds``.

    ``workers`` points run at once (0: ``DYNLAB_MAX_JOBS`` on the local backend, up to 16 on Ray).
    """

    lab: str = ""
    verb: str = ""
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    backend: str = "local"
    workers: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        from lab.core.registry import lab_info

        spec = lab_info(self.lab)
        self.normalise("lab", spec.key)  # an alias (traj) names the lab by its key from here on
        if self.verb == "sweep":
            raise LabInputError("a sweep of sweeps is not supported; sweep one of the lab's verbs.")
        cls = spec.verb(self.verb).config_class()
        self.check_choice("backend", BACKENDS)
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise LabInputError(f"seeds {list(self.seeds)} must be non-negative integers.")
        if "seed" not in cls.field_names() and tuple(self.seeds) != (0,):
            raise LabInputError(f"{self.lab} {self.verb} has no seed; leave --seeds out.")
        if not 0 <= int(self.workers) <= 256:
            raise LabInputError(f"workers is {self.workers}; use 0 (automatic) to 256.")
        for name, values in self.grid.items():
            if name not in cls.field_names():
                raise LabInputError(f"{self.lab} {self.verb} has no field {name!r}; its fields are "
                                    f"{', '.join(cls.field_names())}.")
            if name == "seed":
                raise LabInputError("give seeds with --seeds, not in the grid.")
            if not isinstance(values, list) or not values:
                raise LabInputError(f"the grid for {name} must list at least one value.")
        self.normalise("seeds", tuple(int(s) for s in self.seeds))
        for point in self.points():  # every point must be a valid config before anything runs
            self.point_config(point)

    def points(self) -> list[dict[str, Any]]:
        """Every combination of grid values, times every seed: ``[{field: value, ..., "seed": s}]``."""
        names = list(self.grid)
        combos = itertools.product(*(self.grid[n] for n in names)) if names else [()]
        out = []
        for combo in combos:
            for seed in self.seeds:
                point = dict(zip(names, combo, strict=True))
                point["seed"] = seed
                out.append(point)
        return out

    def point_config(self, point: dict[str, Any]) -> LabConfig:
        from lab.core.verbs import make_config

        values = {**self.base, **point}
        if "seed" not in make_config(self.lab, self.verb, {}).field_names():
            values.pop("seed", None)
        try:
            return make_config(self.lab, self.verb, values)
        except LabInputError as err:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            raise LabInputError(f"the sweep point {shown} is not a valid config: {err}") from None


def parse_grid(texts: list[str], lab: str, verb: str) -> dict[str, list]:
    """``["rank=2,3,4", "method=leiden,louvain"]`` -> ``{"rank": [2, 3, 4], ...}``, typed by the config."""
    from lab.core.verbs import get_verb

    cls = get_verb(lab, verb).config_class()
    hints = typing.get_type_hints(cls)
    grid: dict[str, list] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not raw.strip():
            raise LabInputError(f"--grid '{text}' is not FIELD=V1,V2,...; write e.g. --grid rank=2,3,4.")
        if name not in cls.field_names():
            raise LabInputError(f"{lab} {verb} has no field {name!r}; its fields are {', '.join(cls.field_names())}.")
        grid[name] = [_cast(name, value.strip(), hints.get(name)) for value in raw.split(",")]
    return grid


def _cast(name: str, text: str, hint: Any) -> Any:
    """One grid value, typed as the config field (the command line's own rules, ``lab.core.cli``)."""
    from lab.core.cli import scalar_type
    from lab.core.config import parse_bool

    if type(None) in typing.get_args(hint) and text.lower() in ("none", "null"):
        return None
    kind, many = scalar_type(hint)
    if kind is None or many:
        raise LabInputError(f"--grid cannot sweep {name} (its values are not single numbers or words).")
    try:
        return parse_bool(text) if kind == "bool" else kind(text)
    except ValueError:
        raise LabInputError(f"--grid {name}: '{text}' is not a {'bool' if kind == 'bool' else kind.__name__}.") from None


@dataclass
class PointResult:
    config: dict[str, Any]
    seed: int
    metrics: dict[str, Any]
    status: str  # "done", "stopped" or "failed"
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"config": self.config, "seed": self.seed, "metrics": self.metrics, "status": self.status,
                "error": self.error}


@dataclass
class SweepResult:
    config: SweepConfig
    points: list[PointResult]
    seconds: float
    run_id: str | None = None  # the sweep saves itself as it goes: the job finishes this run

    def metrics(self) -> dict[str, Any]:
        count = {s: sum(p.status == s for p in self.points) for s in ("done", "stopped", "failed")}
        return {"points": len(self.points), **count, "seconds": self.seconds}

    def to_json(self) -> dict[str, Any]:
        return {"points": [p.to_json() for p in self.points], "seconds": self.seconds,
                "backend": self.config.backend}

    def table(self) -> list[dict[str, Any]]:
        """One flat row per point: grid fields, seed, status, error, scalar metrics."""
        rows = []
        for p in self.points:
            row = {k: p.config.get(k) for k in self.config.grid}
            row.update(seed=p.seed, status=p.status, error=p.error or "")
            row.update({k: v for k, v in p.metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)})
            rows.append(row)
        return rows

    def artifacts(self) -> dict[str, str]:
        rows = self.table()
        buf = io.StringIO()
        if rows:
            names = list(dict.fromkeys(k for row in rows for k in row))
            writer = csv.DictWriter(buf, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)
        return {"points.json": json.dumps(to_jsonable(self.to_json())), "points.csv": buf.getvalue()}

    def title(self) -> str:
        grid = " x ".join(f"{k}={len(v)}" for k, v in self.config.grid.items()) or "base"
        return f"sweep of {self.config.verb}: {grid}, {len(self.config.seeds)} seed(s), {self.config.backend}"


def _workers(config: SweepConfig, count: int) -> int:
    if config.workers:
        return min(config.workers, count)
    cap = int(os.environ.get("DYNLAB_MAX_JOBS", "2")) if config.backend == "local" else 16
    return max(1, min(cap, count))


def run_sweep(config: SweepConfig, on_progress: ProgressCallback | None = None, data: Any = None) -> SweepResult:
    """Run every point of the sweep; save the table after every point; a stop keeps what finished."""
    from lab.core.runstore import RunStore
    from lab.core.verbs import verb_work

    start = time.perf_counter()
    points = config.points()
    result = SweepResult(config, [], 0.0)
    store = RunStore()
    result.run_id = store.save_run(config.lab, config.to_dict(), result.metrics(), result.artifacts(),
                                   title=result.title(), extra_meta={"verb": "sweep", "status": "running"})
    stop = threading.Event()
    lock = threading.Lock()
    finished: dict[int, PointResult] = {}

    def run_point(index: int, point: dict[str, Any]) -> None:
        point_config = config.point_config(point)
        seed = int(point["seed"])
        t0 = time.perf_counter()
        outcome = None
        # One retry of a crash: Ray retries a task whose worker died by itself (max_retries=1), the
        # local backend does it here.
        for attempt in (1, 2) if config.backend == "local" else (1,):
            if stop.is_set():
                outcome = PointResult(point_config.to_dict(), seed, {}, "stopped", "the sweep was stopped first")
                break
            try:
                output = execute(config.backend, verb_work(config.lab, config.verb, point_config, data),
                                 lambda s, t, m: stop.is_set(), key=f"{result.run_id}-{index}")
                metrics = {k: v for k, v in output.metrics.items() if not isinstance(v, dict | list)}
                outcome = PointResult(point_config.to_dict(), seed, metrics, "stopped" if stop.is_set() else "done")
                break
            except LabInputError as err:  # the input is wrong: the same again would fail the same way
                outcome = PointResult(point_config.to_dict(), seed, {}, "failed", str(err))
                break
            except Exception as err:  # noqa: BLE001 - a crashed point is recorded, the sweep goes on
                log.warning("sweep %s point %d attempt %d failed: %s", result.run_id, index, attempt, err)
                outcome = PointResult(point_config.to_dict(), seed, {}, "failed",
                                      f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
        outcome.seconds = time.perf_counter() - t0
        with lock:
            finished[index] = outcome
            result.points = [finished[i] for i in sorted(finished)]
            result.seconds = time.perf_counter() - start
            store.update_run(result.run_id, metrics=result.metrics(), artifacts=result.artifacts())
            done = len(finished)
            counts = result.metrics()
        if report(on_progress, done, len(points), {"done": counts["done"], "failed": counts["failed"]}):
            stop.set()

    with ThreadPoolExecutor(max_workers=_workers(config, len(points)), thread_name_prefix="dynlab-sweep") as pool:
        futures = [pool.submit(run_point, i, p) for i, p in enumerate(points)]
        for future in futures:
            future.result()
    result.seconds = time.perf_counter() - start
    return result
