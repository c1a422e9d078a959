"""The Ray backend on a local cluster started here: parity with local, Stop, a worker that dies.

Skipped where Ray is not installed, unless ``DYNLAB_REQUIRE_RAY=1`` (CI installs the cluster extra).
"""

import os
import time
from pathlib import Path

import pytest
import toylab

from lab.core.jobs import JobRunner
from lab.core.runstore import RunStore
from lab.core.sweep import SweepConfig
from lab.core.verbs import deterministic_metrics, run_foreground_verb, verb_work

TESTS = Path(__file__).resolve().parents[1]

try:
    import ray
except ImportError:
    ray = None
    if os.environ.get("DYNLAB_REQUIRE_RAY") == "1":
        raise

pytestmark = pytest.mark.skipif(ray is None, reason="Ray is not installed (pip install -e '.[cluster]')")


@pytest.fixture(scope="module", autouse=True)
def _cluster():
    from lab.core.backends import ensure_ray

    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(TESTS)  # the workers import the toy lab from here
    os.environ.pop("DYNLAB_RAY_ADDRESS", None)
    ensure_ray(num_cpus=2)
    yield
    ray.shutdown()
    import lab.core.backends as backends

    backends._BOARD = None
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(autouse=True)
def _toy_lab(monkeypatch):
    monkeypatch.setattr("lab.core.registry.labs", lambda: (toylab.TOY,))


def _points(backend, **grid):
    config = SweepConfig(lab="pointer", verb="count", base={"delay": 0.0}, backend=backend, seeds=(0, 5),
                         grid=grid or {"steps": [2, 3], "scale": [1.0, 3.0]})
    output, _ = run_foreground_verb("pointer", "sweep", config)
    return {(tuple(sorted(p.config.items())), p.seed): p for p in output.result.points}


def test_the_same_sweep_gives_the_same_metrics_on_both_backends():
    local, remote = _points("local"), _points("ray")
    assert local.keys() == remote.keys() and len(local) == 8
    for key, point in local.items():
        assert remote[key].status == point.status == "done"
        assert deterministic_metrics(remote[key].metrics) == deterministic_metrics(point.metrics)


def test_a_stop_request_reaches_a_running_ray_task():
    runner = JobRunner(store=RunStore())
    config = toylab.CountConfig(steps=100_000, delay=0.01)
    job = runner.submit("pointer", "long count", verb_work("pointer", "count", config), owner="a", backend="ray",
                        config=config.to_dict())
    deadline = time.time() + 60
    while job.step < 3 and time.time() < deadline:  # progress comes back from the worker
        time.sleep(0.05)
    assert job.step >= 3 and job.backend == "ray"
    job.request_stop()
    runner.wait(job, timeout=60)
    assert job.status == "stopped" and 3 <= job.output.result.counted < 100_000
    assert RunStore().load_run(job.run_id).metrics["stopped_early"] is True


def test_a_worker_that_dies_is_retried_once_then_its_point_fails_and_the_rest_stays():
    points = _points("ray", crash=[False, True], steps=[2])
    by_crash = {}
    for (items, _seed), point in points.items():
        by_crash.setdefault(dict(items)["crash"], []).append(point)
    assert all(p.status == "done" and p.metrics["counted"] == 2 for p in by_crash[False])
    assert all(p.status == "failed" and "died" in p.error for p in by_crash[True])
    (run,) = RunStore().list_runs()
    assert run.verb == "sweep" and run.metrics["failed"] == 2 and run.metrics["done"] == 2
