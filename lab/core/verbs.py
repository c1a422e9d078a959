"""Running a lab verb: one path for the page's background job, the CLI's foreground run and re-runs.

>>> config = make_config("pointer", "solve", {"task": "tsp", "n": 10})      # doctest: +SKIP
>>> output, run_id = run_foreground_verb("pointer", "solve", config)         # doctest: +SKIP

The saved run records its verb, so :func:`rerun_work` re-runs it by name -- never by guessing from the
config's keys. :func:`config_key` hashes a config together with the content of data the config does
not name (an upload), so a page never shows a result computed on other data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.jobs import Job, JobOutput, JobRunner, run_foreground
from lab.core.labs import Verb
from lab.core.progress import ProgressCallback
from lab.core.registry import lab_info
from lab.core.runstore import Run, RunStore

#: Metric names that measure wall-clock time may differ between two runs of one config and seed.
TIMING_MARKERS = ("seconds", "per_s")


def content_hash(data: bytes | str) -> str:
    """A short content hash of user data (an upload's bytes)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return hashlib.sha1(raw).hexdigest()[:16]


def config_key(config: LabConfig | Mapping[str, Any], data_key: str = "") -> str:
    """A hash of the config's values and the data's identity: equal keys, equal results."""
    values = config.to_dict() if isinstance(config, LabConfig) else dict(config)
    text = json.dumps(values, sort_keys=True, default=str) + "|" + data_key
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def get_verb(lab: str, verb: str) -> Verb:
    """The lab's verb ``verb``; ``sweep`` is every built lab's (:mod:`lab.core.sweep`)."""
    spec = lab_info(lab)
    if verb == "sweep" and spec.built:
        from lab.core.sweep import SWEEP

        return SWEEP
    return spec.verb(verb)


def make_config(lab: str, verb: str, values: Mapping[str, Any] | None = None, *, strict: bool = True) -> LabConfig:
    """The verb's config from a dict of field values (defaults for the rest), validated."""
    cls = get_verb(lab, verb).config_class()
    return cls.from_dict(dict(values or {}), strict=strict)


def run_verb(lab: str, verb: str, config: LabConfig, on_progress: ProgressCallback | None = None,
             data: Any = None) -> Any:
    """Call the verb's run function and return its result (no saving)."""
    spec = get_verb(lab, verb)
    if not isinstance(config, spec.config_class()):
        raise TypeError(f"{lab} {verb} takes a {spec.config_class().__name__}, got {type(config).__name__}")
    return spec.run_function()(config, on_progress=on_progress, data=data)


def pack(lab: str, verb: str, config: LabConfig, result: Any, data_key: str = "", lab_title: str = "") -> JobOutput:
    """A verb's result as job output: metrics and artifacts to save, the result kept in memory."""
    artifacts = result.artifacts() if callable(getattr(result, "artifacts", None)) else {}
    title = result.title() if callable(getattr(result, "title", None)) else f"{lab_title or lab}: {verb}"
    return JobOutput(config=config.to_dict(), metrics=dict(result.metrics()), artifacts=dict(artifacts),
                     result=result, title=str(title), verb=verb, key=config_key(config, data_key),
                     data_key=data_key, run_id=getattr(result, "run_id", None))


def verb_work(lab: str, verb: str, config: LabConfig, data: Any = None,
              data_key: str = "") -> Callable[[ProgressCallback], JobOutput]:
    """Job work (``work(on_progress) -> JobOutput``) that runs ``lab verb`` on ``config``.

    The verb is looked up here, once: the work itself needs no registry, so it runs as well on a Ray
    worker as on a thread of this process.
    """
    spec = get_verb(lab, verb)  # an unknown verb fails here, before a job starts
    if not isinstance(config, spec.config_class()):
        raise TypeError(f"{lab} {verb} takes a {spec.config_class().__name__}, got {type(config).__name__}")
    run = spec.run_function()
    title = lab_info(lab).title

    def work(on_progress: ProgressCallback) -> JobOutput:
        result = run(config, on_progress=on_progress, data=data)
        return pack(lab, verb, config, result, data_key, title)

    return work


def submit_verb(runner: JobRunner, lab: str, verb: str, config: LabConfig, *, owner: str, name: str | None = None,
                data: Any = None, data_key: str = "", panel: str = "job") -> Job:
    """Start ``lab verb`` on ``config`` as a background job of ``owner``."""
    return runner.submit(lab, name or f"{verb}", verb_work(lab, verb, config, data, data_key), owner=owner,
                         verb=verb, key=config_key(config, data_key), panel=panel, config=config.to_dict())


def run_foreground_verb(lab: str, verb: str, config: LabConfig, *, data: Any = None, data_key: str = "",
                        progress: ProgressCallback | None = None, name: str | None = None,
                        store: RunStore | None = None) -> tuple[JobOutput, str | None]:
    """Run ``lab verb`` in this thread (the CLI), saving the run; Ctrl-C stops it and keeps the result."""
    return run_foreground(lab, name or verb, verb_work(lab, verb, config, data, data_key), progress=progress,
                          store=store)


def rerun_config(run: Run | Mapping[str, Any]) -> tuple[str, str, LabConfig]:
    """``(lab, verb, config)`` of a saved run or a lab card, or a one-sentence error saying why not."""
    if isinstance(run, Run):
        lab, verb, values, rid = run.lab, run.verb, run.config, run.run_id
    else:
        lab, verb, values, rid = run.get("lab", ""), run.get("verb") or "", run.get("config", {}), run.get("run_id")
    spec = lab_info(lab)
    if not verb:
        if len(spec.verbs) != 1:
            raise LabInputError(f"run {rid} was saved before runs recorded their verb, so it cannot be re-run; "
                                f"run it again from the {spec.title} page or `dynlab {lab} ...`.")
        verb = spec.verbs[0].name
    return lab, verb, make_config(lab, verb, values, strict=False)


def rerun_work(run: Run | Mapping[str, Any]) -> tuple[str, str, LabConfig, Callable[[ProgressCallback], JobOutput]]:
    """Work that re-runs a saved run (or lab card) by its verb: ``(lab, verb, config, work)``."""
    lab, verb, config = rerun_config(run)
    return lab, verb, config, verb_work(lab, verb, config)


def deterministic_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics that one config and one seed must reproduce (timings left out)."""
    return {k: v for k, v in metrics.items() if not any(m in k for m in TIMING_MARKERS)}
