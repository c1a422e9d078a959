"""The shared job panel: start a background job, see it finish, find it again after a 'reload'."""

import time

from streamlit.testing.v1 import AppTest


def _panel_script():
    import time as _time

    import streamlit as st

    from app import ui
    from lab.core.jobs import JobOutput
    from lab.core.progress import report

    def make_work():
        def work(on_progress):
            for step in range(1, 4):
                _time.sleep(0.05)
                if report(on_progress, step, 3, {"loss": 1.0 / step}):
                    break
            return JobOutput(config={"steps": 3}, metrics={"final_loss": 1.0 / 3}, result="counted")

        return work

    st.title("Job panel")
    job = ui.job_panel("pointer", "count to three", make_work, start_label="Count")
    if job is not None and job.status == "done":
        st.markdown(f"result: {job.output.result}")


def _wait_done(at: AppTest) -> AppTest:
    for _ in range(100):
        at.run()
        if any("result: counted" in m.value for m in at.markdown):
            return at
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_job_runs_saves_and_survives_reload():
    at = AppTest.from_function(_panel_script, default_timeout=30)
    at.run()
    assert not at.exception
    at.button(key="job:pointer:job:start").click().run()
    assert not at.exception
    _wait_done(at)
    assert any("saved as run" in s.value for s in at.success)
    job_id = at.query_params["job"]
    sid = at.query_params["sid"]

    # A browser reload: a new session with the same URL finds the finished job again.
    again = AppTest.from_function(_panel_script, default_timeout=30)
    again.query_params["job"] = job_id
    again.query_params["sid"] = sid
    again.run()
    assert any("result: counted" in m.value for m in again.markdown)

    # Another visitor (different sid) does not see it.
    stranger = AppTest.from_function(_panel_script, default_timeout=30)
    stranger.query_params["job"] = job_id
    stranger.query_params["sid"] = "someoneelse"
    stranger.run()
    assert not any("result: counted" in m.value for m in stranger.markdown)
