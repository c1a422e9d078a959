"""Shared Streamlit helpers: URL-bound widgets, the sidebar, errors, and the job panel.

Pages import from here and stay thin: read widgets, call ``lab/``, render figures.

URL binding: a widget made with ``url_*`` takes its first value from the query string (if valid) and
writes its current value back, so a copied link reopens the same view with the same seed.

Each widget is also given its current value as its own default (``index=`` / ``value=``). The browser
falls back to a widget's default when it re-creates the widget without its state -- which happened
when a slider moved while the rerun of a tab click was still drawing -- and that default used to be
the first option / the minimum: the whole page jumped to the convex hull with n = 3. (The key's
value in session_state still decides; the default only matters to a re-created widget.)
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from lab.core.device import DEVICE_CHOICES, resolve_device
from lab.core.errors import LabInputError

SEED_KEY = "seed"
DEVICE_KEY = "device"


# -- URL-bound widgets ------------------------------------------------------------------------------
def _initial(key: str, default: Any, parse: Callable[[str], Any]) -> str:
    """Put the widget's first value into session_state (from the URL if it parses) and return its key."""
    widget_key = f"url:{key}"
    if widget_key not in st.session_state:
        raw = st.query_params.get(key)
        value = default
        if raw is not None:
            try:
                value = parse(raw)
            except (ValueError, TypeError):
                value = default
        st.session_state[widget_key] = value
    return widget_key


def _publish(key: str, value: Any) -> None:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if st.query_params.get(key) != text:
        st.query_params[key] = text


def _choice(options: Sequence[Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        for option in options:
            if str(option) == raw:
                return option
        raise ValueError(raw)

    return parse


def _url_choice(widget, label: str, options: Sequence[Any], key: str, default: Any, where, **kwargs) -> Any:
    """A selectbox or radio whose value is one of ``options``, bound to the URL parameter ``key``."""
    default = options[0] if default is None else default
    widget_key = _initial(key, default, _choice(options))
    if st.session_state[widget_key] not in options:
        st.session_state[widget_key] = default
    index = list(options).index(st.session_state[widget_key])
    value = getattr(where, widget)(label, options, index=index, key=widget_key, **kwargs)
    _publish(key, value)
    return value


def url_selectbox(label: str, options: Sequence[Any], key: str, default: Any = None, *, where=st, **kwargs) -> Any:
    return _url_choice("selectbox", label, options, key, default, where, **kwargs)


def url_radio(label: str, options: Sequence[Any], key: str, default: Any = None, *, where=st, **kwargs) -> Any:
    return _url_choice("radio", label, options, key, default, where, **kwargs)


def _bounded(cast: Callable[[str], Any], lo: Any, hi: Any) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        value = cast(raw)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(raw)
        return value

    return parse


def _clamp_state(widget_key: str, lo: Any, hi: Any) -> None:
    """Bring a kept value back inside [lo, hi] when the bounds moved (new data, fewer instances)."""
    value = st.session_state[widget_key]
    if isinstance(value, int | float) and not isinstance(value, bool):
        clamped = min(hi, value) if hi is not None else value
        clamped = max(lo, clamped) if lo is not None else clamped
        if clamped != value:
            st.session_state[widget_key] = clamped


def url_number(
    label: str, key: str, default: int | float, *, min_value=None, max_value=None, where=st, **kwargs
) -> int | float:
    cast = int if isinstance(default, int) else float
    widget_key = _initial(key, default, _bounded(cast, min_value, max_value))
    _clamp_state(widget_key, min_value, max_value)
    value = where.number_input(label, value=st.session_state[widget_key], key=widget_key, min_value=min_value,
                               max_value=max_value, **kwargs)
    _publish(key, value)
    return value


def url_slider(label: str, key: str, default: int | float, min_value, max_value, *, where=st, **kwargs):
    cast = int if isinstance(default, int) else float
    widget_key = _initial(key, default, _bounded(cast, min_value, max_value))
    _clamp_state(widget_key, min_value, max_value)
    value = where.slider(label, min_value=min_value, max_value=max_value, value=st.session_state[widget_key],
                         key=widget_key, **kwargs)
    _publish(key, value)
    return value


def url_checkbox(label: str, key: str, default: bool = False, *, where=st, **kwargs) -> bool:
    def parse(raw: str) -> bool:
        if raw.lower() in ("true", "1", "yes"):
            return True
        if raw.lower() in ("false", "0", "no"):
            return False
        raise ValueError(raw)

    widget_key = _initial(key, default, parse)
    value = where.checkbox(label, value=bool(st.session_state[widget_key]), key=widget_key, **kwargs)
    _publish(key, value)
    return value


# -- the shared sidebar -----------------------------------------------------------------------------
def current_seed() -> int:
    """The seed chosen in the sidebar (or the URL, or 0)."""
    widget_key = _initial(SEED_KEY, 0, _bounded(int, 0, 2**31 - 1))
    return int(st.session_state[widget_key])


def current_device() -> str:
    """The torch device name the sidebar's choice resolves to."""
    widget_key = _initial(DEVICE_KEY, "auto", _choice(DEVICE_CHOICES))
    return resolve_device(st.session_state[widget_key]).name


@st.cache_data(show_spinner=False)
def _versions() -> dict[str, str]:
    from lab.core.runstore import package_versions

    versions = package_versions()
    try:
        versions["streamlit"] = st.__version__
    except AttributeError:
        pass
    versions["platform"] = platform.platform(terse=True)
    return versions


def sidebar() -> None:
    """Device, seed and About, shared by every page (drawn by ``app/main.py``)."""
    with st.sidebar:
        st.markdown("#### Settings")
        requested = url_selectbox(
            "Device", list(DEVICE_CHOICES), DEVICE_KEY, "auto", help="`auto` picks cuda, then mps, then cpu."
        )
        choice = resolve_device(requested)
        st.caption(f":material/memory: using **{choice.name}** - {choice.reason}")
        url_number("Seed", SEED_KEY, 0, min_value=0, max_value=2**31 - 1, step=1,
                   help="One seed for python, numpy and torch; it is part of the link.")
        with st.expander("About", icon=":material/info:"):
            st.caption("Dynamic Networks Lab - see dynamic networks work, with real models and real metrics.")
            st.json(_versions(), expanded=False)


# -- figures ----------------------------------------------------------------------------------------
PNG_HINT = "PNG: the camera icon in a figure's toolbar saves it (twice the screen resolution)."


def chart(fig, key: str, file_stem: str, *, where=st) -> None:
    """Show a plotly figure whose toolbar camera saves a PNG named ``file_stem``.png (in the browser, offline)."""
    where.plotly_chart(fig, key=key, config={
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": file_stem, "scale": 2},
    })


def figure_html_download(fig, label: str, file_name: str, *, where=st) -> None:
    """A download of ``fig`` as one self-contained HTML file (plotly.js inside: it opens offline).

    The file (several MB) is built only when the button is clicked, so pages stay light.
    """
    where.download_button(label, data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                          file_name=file_name, mime="text/html", on_click="ignore", icon=":material/download:")


# -- errors -----------------------------------------------------------------------------------------
def show_error(err: BaseException) -> None:
    """One clear sentence in an error box; never a traceback for input errors."""
    if isinstance(err, LabInputError):
        st.error(str(err), icon=":material/error:")
    else:
        st.error(f"Something went wrong: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                 icon=":material/error:")


def not_built(lab_key: str) -> None:
    """What a lab page says, plainly, until its lab is built."""
    from lab.core.registry import lab_info

    info = lab_info(lab_key)
    st.title(info.title)
    st.markdown(f"*{info.question}*")
    st.info("This lab is not built yet. Its page will appear here when its issue lands; "
            "nothing on this page is simulated in the meantime.", icon=":material/construction:")
    st.markdown("**Built on:** " + "; ".join(info.papers))


# -- background jobs --------------------------------------------------------------------------------
def session_owner() -> str:
    """A per-browser-session id kept in the URL (``sid``), so a reload finds its jobs again."""
    if "dynlab_owner" not in st.session_state:
        sid = st.query_params.get("sid")
        st.session_state["dynlab_owner"] = sid if sid and len(sid) <= 32 and sid.isalnum() else uuid.uuid4().hex[:12]
    owner = st.session_state["dynlab_owner"]
    if st.query_params.get("sid") != owner:
        st.query_params["sid"] = owner
    return owner


def job_panel(
    lab: str,
    name: str,
    make_work: Callable[[], Callable],
    *,
    start_label: str = "Start",
    curve_keys: Sequence[str] | None = None,
    key: str = "job",
    poll_seconds: float = 1.0,
):
    """A start button, then live progress, curves and a stop button for one background job.

    Parameters
    ----------
    make_work
        Called when the person presses start; returns ``work(on_progress) -> JobOutput``. It may raise
        :class:`LabInputError`, shown as an error box.
    curve_keys
        Metric names to plot live (default: every metric the job reports).

    Returns
    -------
    lab.core.jobs.Job or None
        The session's latest job for this lab and ``key`` (running, finished, stopped or failed).
    """
    from lab.core.jobs import job_runner

    runner = job_runner()
    owner = session_owner()
    state_key = f"job:{lab}:{key}"
    job_id = st.session_state.get(state_key) or st.query_params.get(key)
    job = runner.get(job_id)
    if job is not None and job.owner != owner:
        job = None

    running = job is not None and job.active
    if st.button(start_label, key=f"{state_key}:start", type="primary", disabled=running, icon=":material/play_arrow:"):
        try:
            job = runner.submit(lab, name, make_work(), owner=owner)
        except LabInputError as err:
            show_error(err)
        else:
            st.session_state[state_key] = job.job_id
            st.query_params[key] = job.job_id
            st.session_state[f"{state_key}:seen"] = None

    if job is None:
        return None

    def render() -> None:
        current = runner.get(job.job_id)
        if current is None:
            return
        if current.active:
            label = "queued - waiting for a free slot" if current.status == "queued" else f"{current.name}: step {current.step}/{current.total}"
            st.progress(current.fraction, text=label)
            cols = st.columns([1, 4])
            if cols[0].button("Stop", key=f"{state_key}:stop", icon=":material/stop:"):
                current.request_stop()
                st.toast("Stopping at the next safe point; the result so far will be saved.")
            latest = {k: v for k, v in current.latest().items() if k != "step"}
            if latest:
                cols[1].caption("  ·  ".join(f"{k} = {v:.4g}" for k, v in list(latest.items())[:6]))
        _job_curves(current, curve_keys, state_key)
        if not current.active:
            if current.status == "failed":
                st.error(f"The job failed: {current.error}", icon=":material/error:")
            else:
                verb = "stopped early" if current.status == "stopped" else "finished"
                saved = f" and was saved as run `{current.run_id}`" if current.run_id else ""
                st.success(f"{current.name} {verb} after {current.elapsed:.1f} s{saved}.", icon=":material/check_circle:")
            # One full rerun when the job ends, so the page can show its result.
            if st.session_state.get(f"{state_key}:seen") != current.job_id:
                st.session_state[f"{state_key}:seen"] = current.job_id
                st.rerun()

    if job.active:
        st.fragment(render, run_every=poll_seconds)()
    else:
        render()
    return runner.get(job.job_id)


def _job_curves(job, curve_keys: Sequence[str] | None, state_key: str) -> None:
    history = list(job.history)
    if len(history) < 2:
        return
    import plotly.graph_objects as go

    keys = list(curve_keys) if curve_keys else sorted({k for row in history for k in row if k != "step"})
    if not keys:
        return
    fig = go.Figure()
    steps = [row["step"] for row in history]
    for k in keys:
        fig.add_trace(go.Scatter(x=steps, y=[row.get(k) for row in history], mode="lines", name=k))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step", legend=dict(orientation="h"))
    st.plotly_chart(fig, key=f"{state_key}:curve")
