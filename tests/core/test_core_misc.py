import ast
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.core.device import resolve_device
from lab.core.errors import LabInputError
from lab.core.jobs import DONE, FAILED, STOPPED, JobOutput, JobRunner, run_foreground
from lab.core.progress import TextProgress, report
from lab.core.runstore import RunStore
from lab.core.seeding import seed_everything

LAB = Path(__file__).resolve().parents[2] / "lab"


def test_no_module_under_lab_imports_streamlit():
    offenders = []
    for path in LAB.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(LAB.parent)))
    assert not offenders, f"these modules import streamlit: {offenders}"


def test_seeding_makes_python_numpy_torch_repeat():
    seed_everything(5)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    rng = seed_everything(5)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
    assert isinstance(rng, np.random.Generator)
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_device_resolution(monkeypatch):
    monkeypatch.delenv("DYNLAB_DEVICE", raising=False)
    monkeypatch.setattr("lab.core.device._cuda_available", lambda: False)
    monkeypatch.setattr("lab.core.device._mps_available", lambda: False)
    assert resolve_device().name == "cpu" and "no CUDA" in resolve_device().reason
    assert resolve_device("cuda").name == "cpu"  # falls back, and says why
    monkeypatch.setenv("DYNLAB_DEVICE", "cpu")
    assert resolve_device().reason.startswith("DYNLAB_DEVICE")
    monkeypatch.setattr("lab.core.device._cuda_available", lambda: True)
    assert resolve_device("cuda").name == "cuda"
    with pytest.raises(LabInputError, match="Unknown device"):
        resolve_device("tpu")


def test_report_and_text_progress(capsys):
    assert report(None, 1, 2) is False
    assert report(lambda s, t, m: True, 1, 2) is True
    bar = TextProgress("train")
    bar(5, 10, {"loss": 0.5})
    assert "5/10" in capsys.readouterr().err


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_text_progress_redraws_on_a_terminal_and_writes_few_plain_lines_on_a_pipe():
    tty = _Stream(True)
    bar = TextProgress("ntf", stream=tty)
    for step in range(1, 301):
        bar(step, 300, {"error": 1.0 / step})
    assert tty.text.count("\r") == 300 and tty.text.endswith("\n")
    pipe = _Stream(False)
    bar = TextProgress("ntf", stream=pipe, every=60.0)
    for step in range(1, 301):
        bar(step, 300, {"error": 1.0 / step})
    lines = pipe.text.splitlines()
    assert "\r" not in pipe.text and len(lines) == 2  # the first report and the last step, nothing between
    assert lines[-1].startswith("ntf: 300/300")


def _counting_work(steps, seen, delay=0.0, fail_at=None):
    def work(on_progress):
        done = 0
        for step in range(1, steps + 1):
            if fail_at == step:
                raise LabInputError("the input ran out; use more frames.")
            time.sleep(delay)
            done = step
            if report(on_progress, step, steps, {"loss": 1.0 / step}):
                break
        seen.append(done)
        return JobOutput(config={"steps": steps}, metrics={"done": done, "curves": {"loss": [1.0]}}, result=done)

    return work


def test_job_runs_in_background_and_is_saved(tmp_path):
    runner = JobRunner(max_concurrent=2, store=RunStore(tmp_path))
    seen: list[int] = []
    job = runner.submit("pointer", "count", _counting_work(5, seen), owner="a")
    runner.wait(job, timeout=10)
    assert job.status == DONE and job.output.result == 5 and job.step == 5
    assert [row["loss"] for row in job.history][-1] == pytest.approx(0.2)
    assert RunStore(tmp_path).load_run(job.run_id).metrics["done"] == 5


def test_job_can_be_stopped_and_keeps_its_partial_result(tmp_path):
    runner = JobRunner(max_concurrent=2, store=RunStore(tmp_path))
    seen: list[int] = []
    job = runner.submit("pointer", "slow", _counting_work(10_000, seen, delay=0.001), owner="a")
    while job.step < 3:
        time.sleep(0.01)
    job.request_stop()
    runner.wait(job, timeout=10)
    assert job.status == STOPPED and 3 <= job.output.result < 10_000
    assert RunStore(tmp_path).load_run(job.run_id).metrics["stopped_early"] is True


def test_failed_job_reports_one_sentence_and_is_listed_as_failed(tmp_path, caplog):
    runner = JobRunner(store=RunStore(tmp_path))
    job = runner.wait(runner.submit("pointer", "bad", _counting_work(5, [], fail_at=2), owner="a",
                                    config={"steps": 5}), timeout=10)
    assert job.status == FAILED and job.error == "the input ran out; use more frames."
    (run,) = RunStore(tmp_path).list_runs()
    assert run.status == "failed" and run.meta["error"] == job.error and run.config == {"steps": 5}
    assert "the input ran out" in caplog.text  # logged, so an operator can find out why


def test_a_crashing_job_logs_its_traceback(tmp_path, caplog):
    def crash(on_progress):
        raise ZeroDivisionError("boom")

    runner = JobRunner(store=RunStore(tmp_path))
    job = runner.wait(runner.submit("pointer", "crash", crash, owner="a"), timeout=10)
    assert job.status == FAILED and job.error == "ZeroDivisionError: boom"
    assert "Traceback" in caplog.text and "ZeroDivisionError" in caplog.text


def test_damaged_run_folder_is_skipped_and_logged(tmp_path, caplog):
    store = RunStore(tmp_path)
    good = store.save_run("pointer", {}, {"x": 1})
    bad = tmp_path / "pointer-20260101-000000-abcdef"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    assert [r.run_id for r in store.list_runs()] == [good]
    assert "damaged run folder" in caplog.text


def test_one_active_job_per_owner_and_a_global_cap(tmp_path):
    runner = JobRunner(max_concurrent=1, store=RunStore(tmp_path))
    gate = threading.Event()

    def blocking(on_progress):
        gate.wait(10)
        return JobOutput(config={}, metrics={}, save=False)

    first = runner.submit("pointer", "first", blocking, owner="alice")
    with pytest.raises(LabInputError, match="still running"):
        runner.submit("pointer", "again", blocking, owner="alice")
    second = runner.submit("pointer", "second", blocking, owner="bob")
    time.sleep(0.2)
    assert first.status == "running" and second.status == "queued"  # the cap of 1 holds bob back
    gate.set()
    runner.wait(first, 10)
    runner.wait(second, 10)
    assert first.status == DONE and second.status == DONE
    assert runner.jobs(owner="alice") == [first]


def test_run_foreground_saves_a_run(tmp_path):
    output, run_id = run_foreground("pointer", "fg", _counting_work(3, []), store=RunStore(tmp_path))
    assert output.result == 3 and RunStore(tmp_path).load_run(run_id).config == {"steps": 3}
