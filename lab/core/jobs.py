"""Background jobs for long work (training, sweeps, factorizations).

A job is a function ``work(on_progress) -> JobOutput`` run on a worker thread. The UI polls the
:class:`Job` (progress, metric history, status) and can ask it to stop; the work sees the stop request
as a ``True`` return from its progress callback and returns what it has. A finished (or stopped) job's
output is saved to the run store. The CLI runs the same work in the foreground via :func:`run_foreground`.

Limits, so several visitors of one server do not starve each other:
- at most one heavy job per owner (a browser session) at a time;
- at most ``DYNLAB_MAX_JOBS`` (default 2) jobs running at once on the server; more wait in a queue.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback
from lab.core.runstore import RunStore

log = logging.getLogger(__name__)


@dataclass
class JobOutput:
    """What a job's work returns: saved as a run (config, metrics, artifacts) plus an in-memory result."""

    config: dict[str, Any]
    metrics: dict[str, Any]
    artifacts: dict[str, bytes | str] = field(default_factory=dict)
    result: Any = None
    title: str = ""
    save: bool = True
    verb: str = ""  # the lab verb that made it: a saved run re-runs by this name
    key: str = ""  # hash of the config and the data's content (lab.core.verbs.config_key)
    data_key: str = ""  # what the data was, when it is not in the config (an upload's content hash)
    run_id: str | None = None  # a run the work already saved as it went (a sweep): finished, not duplicated


QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
ACTIVE = (QUEUED, RUNNING)


@dataclass
class Job:
    job_id: str
    lab: str
    name: str
    owner: str
    verb: str = ""
    key: str = ""  # config + data hash: the page shows this job's result only for the same inputs
    panel: str = "job"  # which job panel of the page started it
    backend: str = "local"  # where the work runs: "local" (a thread here) or "ray" (lab.core.backends)
    config: dict[str, Any] = field(default_factory=dict)
    status: str = QUEUED
    step: int = 0
    total: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # one metrics dict per report
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    traceback: str | None = None  # the full trace of a failed job, for logs; people see ``error``
    run_id: str | None = None
    output: JobOutput | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def latest(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}


def _one_sentence(err: BaseException) -> str:
    if isinstance(err, LabInputError):
        return str(err)
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class JobRunner:
    """Runs jobs on threads with a per-owner limit of one active job and a global concurrency cap."""

    def __init__(self, max_concurrent: int | None = None, store: RunStore | None = None, keep: int = 200) -> None:
        self.max_concurrent = max_concurrent or int(os.environ.get("DYNLAB_MAX_JOBS", "2"))
        self._slots = threading.BoundedSemaphore(self.max_concurrent)
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._store = store
        self._keep = keep

    @property
    def store(self) -> RunStore:
        return self._store or RunStore()  # resolved late so DYNLAB_HOME set at run time counts

    def submit(
        self,
        lab: str,
        name: str,
        work: Callable[[ProgressCallback], JobOutput],
        *,
        owner: str = "cli",
        max_history: int = 5000,
        verb: str = "",
        key: str = "",
        panel: str = "job",
        config: Mapping[str, Any] | None = None,
        backend: str | None = None,
    ) -> Job:
        """Start ``work`` on a thread; raise :class:`LabInputError` if ``owner`` already has an active job.

        ``backend`` (default: ``DYNLAB_RAY_ADDRESS`` set -> ``ray``, else ``local``) is where the work
        runs; the thread here waits for it, relays its progress and saves its output either way.
        """
        from lab.core.backends import check_backend

        backend = check_backend(backend)
        with self._lock:
            for job in self._jobs.values():
                if job.owner == owner and job.active:
                    raise LabInputError(
                        f"'{job.name}' is still running in this session; wait for it or stop it before starting another job."
                    )
            job = Job(job_id=uuid.uuid4().hex[:12], lab=lab, name=name, owner=owner, verb=verb, key=key,
                      panel=panel, config=dict(config or {}), backend=backend)
            self._jobs[job.job_id] = job
            self._trim()

        def on_progress(step: int, total: int, metrics: Mapping[str, float]) -> bool:
            job.step, job.total = int(step), int(total)
            row = {"step": float(step)}
            row.update({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)})
            job.history.append(row)
            if len(job.history) > max_history:  # keep memory bounded on very long runs
                del job.history[: len(job.history) - max_history]
            return job.stop_requested

        def target() -> None:
            with self._slots:  # waits here while the server is at its cap: the job shows as queued
                if job.stop_requested:
                    job.status, job.finished = STOPPED, time.time()
                    return
                job.status, job.started = RUNNING, time.time()
                try:
                    from lab.core.backends import execute

                    output = execute(job.backend, work, on_progress, key=job.job_id)
                    job.output = output
                    if output.save:
                        job.run_id = save_output(self.store, lab, name, output, stopped=job.stop_requested)
                    job.status = STOPPED if job.stop_requested else DONE
                except BaseException as err:  # the job's error is shown to the person, never raised in the UI
                    job.error = _one_sentence(err)
                    job.traceback = traceback.format_exc()
                    if isinstance(err, LabInputError):
                        log.warning("job %s (%s %s) stopped on bad input: %s", job.job_id, lab, name, job.error)
                    else:
                        log.error("job %s (%s %s) failed:\n%s", job.job_id, lab, name, job.traceback)
                    try:  # a failed run is listed too (status "failed", its reason), so nobody wonders where it went
                        job.run_id = self.store.save_run(
                            lab, job.config, {}, title=name,
                            extra_meta={"verb": job.verb, "status": FAILED, "error": job.error},
                        )
                    except Exception:  # noqa: BLE001 - saving the failure must not hide it
                        log.exception("could not save the failed job %s", job.job_id)
                    job.status = FAILED  # last, as for a finished job: whoever sees it can already list its run
                finally:
                    job.finished = time.time()

        threading.Thread(target=target, name=f"dynlab-job-{job.job_id}", daemon=True).start()
        return job

    def get(self, job_id: str | None) -> Job | None:
        return self._jobs.get(job_id) if job_id else None

    def jobs(self, lab: str | None = None, owner: str | None = None) -> list[Job]:
        with self._lock:
            found = [j for j in self._jobs.values() if (lab is None or j.lab == lab) and (owner is None or j.owner == owner)]
        return sorted(found, key=lambda j: j.started, reverse=True)

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if not j.active]
        finished.sort(key=lambda j: j.finished or 0)
        for job in finished[: max(0, len(self._jobs) - self._keep)]:
            self._jobs.pop(job.job_id, None)

    def wait(self, job: Job, timeout: float | None = None) -> Job:
        deadline = None if timeout is None else time.time() + timeout
        while job.active and (deadline is None or time.time() < deadline):
            time.sleep(0.05)
        return job


_RUNNER: JobRunner | None = None
_RUNNER_LOCK = threading.Lock()


def job_runner() -> JobRunner:
    """The process-wide job runner (one per Streamlit server)."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = JobRunner()
        return _RUNNER


def run_foreground(
    lab: str,
    name: str,
    work: Callable[[ProgressCallback], JobOutput],
    progress: ProgressCallback | None = None,
    store: RunStore | None = None,
) -> tuple[JobOutput, str | None]:
    """Run a job's work in this thread (the CLI); Ctrl-C stops it like the UI's stop button.

    Returns the output and the id of the saved run (``None`` when the output asks not to be saved).
    """
    stop = threading.Event()

    def on_progress(step: int, total: int, metrics: Mapping[str, float]) -> bool:
        if progress is not None:
            progress(step, total, metrics)
        return stop.is_set()

    # The first Ctrl-C asks the work to stop at its next safe point (it returns what it has);
    # a second one interrupts at once.
    import signal

    previous = None
    if threading.current_thread() is threading.main_thread():

        def on_sigint(signum, frame):
            if stop.is_set():
                raise KeyboardInterrupt
            stop.set()

        previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        output = work(on_progress)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        finish = getattr(progress, "finish", None)
        if callable(finish):
            finish()
    run_id = None
    if output.save:
        run_id = save_output(store or RunStore(), lab, name, output, stopped=stop.is_set())
    elif stop.is_set():
        output.metrics = {**output.metrics, "stopped_early": True}
    return output, run_id


def save_output(store: RunStore, lab: str, name: str, output: JobOutput, *, stopped: bool) -> str:
    """Save a job's output as a run; a stopped job's metrics say ``stopped_early`` and its status ``stopped``."""
    if stopped:
        output.metrics = {**output.metrics, "stopped_early": True}
    meta = {"verb": output.verb, "status": STOPPED if stopped else DONE}
    if output.data_key:
        meta["data_key"] = output.data_key
    if output.run_id:
        store.update_run(output.run_id, metrics=output.metrics, artifacts=output.artifacts, meta=meta)
        return output.run_id
    return store.save_run(lab, output.config, output.metrics, output.artifacts, title=output.title or name,
                          extra_meta=meta)
