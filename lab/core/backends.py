"""Where a job's work runs: here on a thread (``local``), or on a Ray cluster (``ray``).

The job runner and the sweep hand a backend ``work(on_progress) -> JobOutput`` and an ``on_progress``
callback; the backend calls the work and returns its output. With Ray the work runs in a Ray task on
any node of the cluster; its progress and the stop requests travel through a small actor (the
:class:`_Board`), so the page shows the same live progress and Stop works. Results and artifacts come
back to this process, which saves them in its own run store.

Choosing: ``DYNLAB_RAY_ADDRESS`` (``auto`` starts or joins a local cluster; ``host:port`` joins an
existing one) makes ``ray`` the default; ``--backend ray`` on the CLI asks for it. Ray is optional
(``pip install -e '.[cluster]'``).

Faults: a task whose worker dies is retried once by Ray (``max_retries=1``); after that its failure is
an ordinary exception with the reason. An exception raised by the work itself is not retried (it
would fail the same way).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback

BACKENDS = ("local", "ray")
RAY_INSTALL = "Ray is not installed; install the cluster extra with `pip install -e '.[cluster]'` (or `pip install ray`)."
_RAY_LOCK = threading.Lock()


def default_backend() -> str:
    """``ray`` when ``DYNLAB_RAY_ADDRESS`` is set, else ``local``."""
    return "ray" if os.environ.get("DYNLAB_RAY_ADDRESS", "").strip() else "local"


def check_backend(name: str | None) -> str:
    """The backend to use for ``name`` (None: the default), or a one-sentence error."""
    name = (name or default_backend()).lower()
    if name not in BACKENDS:
        raise LabInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    if name == "ray":
        ray_module()
    return name


def ray_module():
    try:
        import ray
    except ImportError:
        raise LabInputError(RAY_INSTALL) from None
    return ray


def ensure_ray(num_cpus: int | None = None) -> Any:
    """Connect to Ray once per process: ``DYNLAB_RAY_ADDRESS`` (``auto`` or ``host:port``) or a local cluster."""
    ray = ray_module()
    with _RAY_LOCK:
        if not ray.is_initialized():
            address = os.environ.get("DYNLAB_RAY_ADDRESS", "").strip() or None
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "ignore_reinit_error": True}
            if address in (None, "local"):
                address = None
                if num_cpus is not None:
                    kwargs["num_cpus"] = num_cpus
            # Workers import `lab` from this checkout, wherever they run.
            root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
            if address == "auto":  # join the cluster running on this machine, else start one
                try:
                    ray.init(address="auto", **kwargs)
                except (ConnectionError, RuntimeError):
                    if num_cpus is not None:
                        kwargs["num_cpus"] = num_cpus
                    ray.init(**kwargs)
            else:
                ray.init(address=address, **kwargs)
    return ray


def run_local(work: Callable[[ProgressCallback], Any], on_progress: ProgressCallback) -> Any:
    return work(on_progress)


# -- Ray -----------------------------------------------------------------------------------------------
def _board_class():
    ray = ray_module()

    @ray.remote(num_cpus=0)
    class _Board:
        """Progress of running tasks (by key) and the stop requests for them."""

        def __init__(self) -> None:
            self.progress: dict[str, tuple[int, int, dict[str, float]]] = {}
            self.stopped: set[str] = set()

        def report(self, key: str, step: int, total: int, metrics: dict[str, float]) -> bool:
            self.progress[key] = (step, total, metrics)
            return key in self.stopped

        def stop(self, key: str) -> None:
            self.stopped.add(key)

        def read(self, key: str):
            return self.progress.get(key)

    return _Board


_BOARD = None


def board():
    """The process's progress board actor (created on first use)."""
    global _BOARD
    with _RAY_LOCK:
        if _BOARD is None:
            _BOARD = _board_class().remote()
    return _BOARD


def _remote_call(work: Callable[[ProgressCallback], Any], key: str, board_handle: Any) -> Any:
    """Runs on a Ray worker: the work, with a callback that reports to the board and reads Stop."""
    import ray

    last = [0.0, False]

    def on_progress(step: int, total: int, metrics: Mapping[str, float]) -> bool:
        now = time.monotonic()
        # Ask the board at most every 0.2 s (and at the last step): a round trip per step would slow a
        # fast loop for nothing; a stop is seen within that time.
        if now - last[0] >= 0.2 or step >= total:
            last[0] = now
            clean = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
            last[1] = bool(ray.get(board_handle.report.remote(key, int(step), int(total), clean)))
        return last[1]

    return work(on_progress)


def run_ray(work: Callable[[ProgressCallback], Any], on_progress: ProgressCallback, *, key: str,
            poll_seconds: float = 0.2) -> Any:
    """Run ``work`` as a Ray task (retried once if its worker dies); relay progress and Stop."""
    ray = ensure_ray()
    handle = board()
    task = ray.remote(max_retries=1, retry_exceptions=False)(_remote_call)
    ref = task.remote(work, key, handle)
    seen = None
    while True:
        ready, _ = ray.wait([ref], timeout=poll_seconds)
        state = ray.get(handle.read.remote(key))
        if state is not None and state != seen:
            seen = state
            if on_progress(state[0], state[1], state[2]):
                handle.stop.remote(key)
        if ready:
            break
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # the work raised: re-raise its own error, one sentence
        cause = err.as_instanceof_cause() if hasattr(err, "as_instanceof_cause") else err
        if isinstance(cause, LabInputError):
            raise LabInputError(str(cause).splitlines()[0]) from None
        raise
    except ray.exceptions.RayError as err:  # the worker died twice (one retry), or the cluster went away
        raise RuntimeError(f"the Ray worker running it died twice ({type(err).__name__})") from None


def execute(backend: str, work: Callable[[ProgressCallback], Any], on_progress: ProgressCallback,
            key: str = "") -> Any:
    """Run ``work`` on ``backend`` (``local`` or ``ray``) and return its output."""
    if backend == "ray":
        return run_ray(work, on_progress, key=key or f"job-{time.time_ns()}")
    return run_local(work, on_progress)
