"""The shared job panel: ownership comes from the browser session (cookie), never from the link.

A toy verb stands in for a lab's (``toylab.py``), registered as the "pointer" lab for these tests.
"""

import time

import pytest
import toylab
from streamlit.testing.v1 import AppTest


@pytest.fixture(autouse=True)
def _toy_lab(monkeypatch):
    monkeypatch.setattr("lab.core.registry.labs", lambda: (toylab.TOY,))
    yield
    from lab.core.jobs import job_runner

    for job in job_runner().jobs():  # no job of this test may finish (and save) during a later one
        job.request_stop()
        job_runner().wait(job, timeout=30)


def _panel_script():
    import streamlit as st
    import toylab

    from app import ui

    ui.set_namespace("pointer")
    data = st.session_state.get("data", "A")
    steps = int(st.query_params.get("steps", 3))
    config = toylab.CountConfig(steps=steps, delay=float(st.query_params.get("delay", 0.02)))
    job = ui.job_panel("pointer", "count", config, data=data, data_key=data, start_label="Count")
    result = ui.lab_result("pointer", "count", config, data=data, data_key=data, job=job,
                           compute=bool(st.session_state.get("compute", False)))
    if result is not None:
        st.markdown(f"result: {result.counted} on {result.data}")


def _open(owner=None, **query):
    at = AppTest.from_function(_panel_script, default_timeout=30)
    if owner is not None:
        at.session_state["dynlab:owner"] = owner
        at.session_state["dynlab:owner_cookie_set"] = True
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _results(at):
    return [m.value for m in at.markdown if m.value.startswith("result:")]


def _wait_for(at, predicate, what):
    for _ in range(200):
        at.run()
        if predicate(at):
            return at
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_job_runs_saves_and_a_reload_of_the_same_browser_finds_it():
    at = _open(owner="teacher0001")
    at.button(key="job:pointer:job:start").click().run()
    _wait_for(at, lambda a: _results(a) == ["result: 3 on A"], "the job's result")
    assert any("saved as run" in s.value for s in at.success)
    run_id = at.query_params["run"][0] if isinstance(at.query_params["run"], list) else at.query_params["run"]
    assert "sid" not in at.query_params and "job" not in at.query_params  # no ownership in the link

    again = _open(owner="teacher0001", run=run_id)  # same browser (same cookie), reloaded
    assert _results(again) == ["result: 3 on A"]


def test_a_shared_link_shows_the_run_read_only_and_never_steers_the_job():
    teacher = _open(owner="teacher0002", steps="400", delay="0.01")
    teacher.button(key="job:pointer:job:start").click().run()
    _wait_for(teacher, lambda a: any("step" in p.proto.text for p in a.get("progress")), "progress")
    link = {k: teacher.query_params[k] for k in teacher.query_params}

    student = _open(owner="student0002", **{k: (v[0] if isinstance(v, list) else v) for k, v in link.items()})
    assert not [b for b in student.button if b.key == "job:pointer:job:stop"]  # no Stop for a visitor
    assert not student.get("progress")
    # The class can run its own job while the teacher's runs: one job per browser, not per link.
    student.button(key="job:pointer:job:start").click().run()
    assert not student.error, [e.value for e in student.error]
    teacher_job = _stop_and_wait(teacher)
    assert teacher_job.status == "stopped"


def _stop_and_wait(at):
    from lab.core.jobs import job_runner

    job = next(j for j in job_runner().jobs(lab="pointer", owner="teacher0002"))
    at.button(key="job:pointer:job:stop").click().run()
    job_runner().wait(job, timeout=30)
    return job


def test_a_job_on_other_data_is_not_shown_for_this_data():
    at = _open(owner="uploader0001")
    at.button(key="job:pointer:job:start").click().run()
    _wait_for(at, lambda a: _results(a) == ["result: 3 on A"], "the job on data A")
    at.session_state["data"] = "B"  # a different upload, same config, same shape
    at.run()
    assert _results(at) == []  # not A's result
    at.session_state["compute"] = True
    at.run()
    assert _results(at) == ["result: 3 on B"]
