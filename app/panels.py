"""Background jobs, results and sweeps on a page: who owns a job, its panel, and "this config on this data".

Re-exported by :mod:`app.ui`, so pages call ``ui.job_panel``, ``ui.lab_result``, ``ui.sweep_panel``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import streamlit as st

from app.ui import show_error
from lab.core.errors import LabInputError

# -- background jobs --------------------------------------------------------------------------------
# Who owns a job comes from the browser, never from the URL: an id kept in a cookie (set on the first
# visit, read back by every later session of that browser, so a reload finds its jobs). A link shares a
# view and at most a finished run's id (``?run=...``), shown read-only: it never steers anyone's job.
OWNER_COOKIE = "dynlab_owner"
OWNER_KEY = "dynlab:owner"


def _valid_owner(value: str | None) -> bool:
    return bool(value) and 8 <= len(value) <= 64 and value.isalnum()


def session_owner() -> str:
    """This browser's owner id (cookie ``dynlab_owner``; a new one on a first visit, written by the sidebar)."""
    owner = st.session_state.get(OWNER_KEY)
    if owner is None:
        try:
            cookie = st.context.cookies.get(OWNER_COOKIE)
        except Exception:  # noqa: BLE001 - no request context (tests): the session alone owns its jobs
            cookie = None
        owner = cookie if _valid_owner(cookie) else uuid.uuid4().hex
        st.session_state[OWNER_KEY] = owner
        st.session_state["dynlab:owner_cookie_set"] = cookie == owner
    return owner


def write_owner_cookie() -> None:
    """Write the owner cookie on a first visit; always one placeholder, so no element after it moves."""
    slot = st.empty()
    owner = session_owner()
    if not st.session_state.get("dynlab:owner_cookie_set"):
        # A tiny same-origin frame writes the cookie (one year, this site only). ``owner`` is our own hex
        # id (a cookie value is only reused when it is alphanumeric), never text from a user.
        with slot.container(height=1, border=False):
            st.iframe(f"<script>document.cookie = '{OWNER_COOKIE}={owner}; path=/; max-age=31536000; "
                      "SameSite=Strict';</script>", height=1)
        st.session_state["dynlab:owner_cookie_set"] = True


def _latest_job(lab: str, panel: str):
    from lab.core.jobs import job_runner

    owner = session_owner()
    for job in job_runner().jobs(lab=lab, owner=owner):
        if job.panel == panel:
            return job
    return None


def job_panel(
    lab: str,
    verb: str,
    config,
    *,
    data: Any = None,
    data_key: str = "",
    name: str | None = None,
    start_label: str = "Start",
    curve_keys: Sequence[str] | None = None,
    panel: str = "job",
    poll_seconds: float = 1.0,
):
    """A start button for ``lab verb`` on ``config``, then live progress, curves and Stop for the owner.

    Parameters
    ----------
    config : LabConfig or None
        The verb's config as the controls say now (None: the controls are invalid; start is disabled).
    data, data_key
        In-memory input the config cannot name (an upload) and its content hash.
    panel
        Which panel of the page (a page may have several jobs).

    Returns
    -------
    lab.core.jobs.Job or None
        This browser's latest job of this panel (running, finished, stopped or failed).
    """
    from lab.core.jobs import job_runner
    from lab.core.verbs import submit_verb

    runner = job_runner()
    state_key = f"job:{lab}:{panel}"
    job = _latest_job(lab, panel)
    running = job is not None and job.active
    if st.button(start_label, key=f"{state_key}:start", type="primary", disabled=running or config is None,
                 icon=":material/play_arrow:"):
        try:
            job = submit_verb(runner, lab, verb, config, owner=session_owner(), name=name, data=data,
                              data_key=data_key, panel=panel)
        except LabInputError as err:
            show_error(err)
        else:
            st.session_state[f"{state_key}:seen"] = None

    if job is None:
        shared = st.query_params.get("run")
        if shared:
            show_shared_run(shared, lab, verb)
        return None

    def render() -> None:
        current = runner.get(job.job_id)
        if current is None:
            return
        if current.active:
            label = ("queued - waiting for a free slot" if current.status == "queued"
                     else f"{current.name}: starting ..." if current.total <= 0
                     else f"{current.name}: step {current.step}/{current.total}")
            st.progress(current.fraction, text=label)
            cols = st.columns([1, 4])
            if cols[0].button("Stop", key=f"{state_key}:stop", icon=":material/stop:"):
                current.request_stop()
                st.toast("Stopping at the next safe point; the result so far will be saved.")
            latest = {k: v for k, v in current.latest().items() if k != "step"}
            if latest:
                cols[1].caption("  ·  ".join(f"{k} = {v:.4g}" for k, v in list(latest.items())[:6]))
            _job_curves(current, curve_keys, state_key)  # live only: a finished job's page draws its result
        if not current.active:
            if current.status == "failed":
                st.error(f"The job failed: {current.error}", icon=":material/error:")
            else:
                verb_done = "stopped early" if current.status == "stopped" else "finished"
                saved = f" and was saved as run `{current.run_id}`" if current.run_id else ""
                st.success(f"{current.name} {verb_done} after {current.elapsed:.1f} s{saved}.",
                           icon=":material/check_circle:")
                if current.run_id and st.query_params.get("run") != current.run_id:
                    st.query_params["run"] = current.run_id  # a copied link shows this run, read-only
            # One full rerun when the job ends, so the page can show its result.
            if st.session_state.get(f"{state_key}:seen") != current.job_id:
                st.session_state[f"{state_key}:seen"] = current.job_id
                st.rerun()

    if job.active:
        st.fragment(render, run_every=poll_seconds)()
    else:
        render()
    return runner.get(job.job_id)


def show_shared_run(run_id: str, lab: str, verb: str | None = None) -> None:
    """A finished run named by a shared link: its status and metrics, read-only (in the panel of its verb)."""
    from lab.core.runstore import RunStore

    try:
        run = RunStore().load_run(run_id)
    except LabInputError:
        st.caption(f"The link names run `{run_id}`, which is not in this server's run store.")
        return
    if run.lab != lab or (verb is not None and run.verb != verb):
        return
    st.info(f"This link shows the saved run `{run.run_id}` ({run.status}, {run.created.replace('T', ' ')}), "
            "read-only; open it on the **Runs** page for its figures, or start your own run here.",
            icon=":material/link:")
    if run.scalar_metrics:
        st.dataframe([run.scalar_metrics], hide_index=True)


def _job_curves(job, curve_keys: Sequence[str] | None, state_key: str) -> None:
    """Live curves of a running job: one panel per quantity, each on its own axis."""
    from lab.runs_figures import panels_figure

    history = list(job.history)
    if len(history) < 2:
        return
    keys = list(curve_keys) if curve_keys else sorted({k for row in history for k in row if k != "step"})
    curves = {}
    for k in keys:
        rows = [row for row in history if k in row]
        if rows:
            curves[k] = {"": ([row["step"] for row in rows], [row[k] for row in rows])}
    if curves:
        st.plotly_chart(panels_figure(curves, height_per_panel=170), key=f"{state_key}:curve")


# -- "this config on this data": from a finished job, or computed (cached) ---------------------------
@st.cache_resource(show_spinner="Computing ...", max_entries=64)
def _cached_verb(lab: str, verb: str, key: str, _config, _data):
    from lab.core.verbs import run_verb

    return run_verb(lab, verb, _config, data=_data)


def lab_result(lab: str, verb: str, config, *, data: Any = None, data_key: str = "", job=None,
               compute: bool = True):
    """The result of ``lab verb`` on ``config`` (and ``data``), or None.

    A finished job's result is used only when it was computed from the same config *and* the same data
    (a hash of both, :func:`lab.core.verbs.config_key`); otherwise the verb runs here, cached per that
    hash, when ``compute`` is true. Results are shared read-only between sessions.
    """
    from lab.core.verbs import config_key

    key = config_key(config, data_key)
    if job is not None and not job.active and job.output is not None and job.output.result is not None \
            and job.key == key:  # finished (and saved), on this config and this data
        return job.output.result
    if not compute:
        return None
    return _cached_verb(lab, verb, key, config, data)


# -- sweeps -------------------------------------------------------------------------------------------
def sweep_panel(lab: str, verb: str, base_config, fields: dict[str, str], *, metrics: Sequence[str] = ()) -> None:
    """A sweep of ``lab verb`` around the page's current config: a grid over ``fields`` and seeds.

    ``fields`` maps a config field to the values offered at first (comma-separated text). Runs as a
    background job on the default backend (Ray when ``DYNLAB_RAY_ADDRESS`` is set); shows the table of
    points and ``metric`` against the first swept field.
    """
    from lab.core.backends import default_backend
    from lab.core.sweep import SweepConfig, parse_grid
    from lab.runs_figures import sweep_figure

    cols = st.columns(len(fields) + 1)
    texts = [cols[i].text_input(f"{name} values", value, key=f"sweep:{lab}:{name}",
                                help="comma-separated; leave empty to keep the page's value")
             for i, (name, value) in enumerate(fields.items())]
    seeds_text = cols[-1].text_input("seeds", "0,1,2", key=f"sweep:{lab}:seeds")
    backend = default_backend()
    st.caption(f"Backend: **{backend}**" + (" (DYNLAB_RAY_ADDRESS)" if backend == "ray" else
                                            " - set DYNLAB_RAY_ADDRESS to run the points on a Ray cluster"))
    config = None
    try:
        grid = parse_grid([f"{n}={t}" for n, t in zip(fields, texts, strict=True) if t.strip()], lab, verb)
        seeds = tuple(int(s) for s in seeds_text.split(",") if s.strip())
        config = SweepConfig(lab=lab, verb=verb, base=base_config.to_dict(), grid=grid, seeds=seeds, backend=backend)
    except ValueError as err:  # LabInputError is a ValueError; int() of a bad seed too
        show_error(err if isinstance(err, LabInputError) else LabInputError(f"seeds: {err}; write e.g. 0,1,2."))
    job = job_panel(lab, "sweep", config, name=f"sweep of {verb}", start_label="Run sweep", panel="sweep",
                    curve_keys=["done", "failed"])
    if job is None or job.output is None or job.output.result is None:
        return
    result = job.output.result
    rows = result.table()
    st.dataframe(rows, hide_index=True)
    if rows and result.config.grid:
        names = list(result.config.grid)
        numeric = [k for k in rows[0] if isinstance(rows[0][k], int | float) and k not in (*names, "seed")]
        shown = [m for m in metrics if m in numeric] + [m for m in numeric if m not in metrics]
        # x: the first swept field with numbers (n, rank) and more than one value; the others are lines
        varied = [n for n in names if len(result.config.grid[n]) > 1] or names
        x = next((n for n in varied if all(isinstance(v, int | float) for v in result.config.grid[n])), varied[0])
        if shown:
            metric = st.selectbox("Metric", shown, key=f"sweep:{lab}:metric")
            st.plotly_chart(sweep_figure(rows, x, metric, [n for n in varied if n != x]), key=f"sweep:{lab}:fig")
