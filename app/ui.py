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
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from lab.core.device import DEVICE_CHOICES, resolve_device
from lab.core.errors import LabInputError

SEED_KEY = "seed"
DEVICE_KEY = "device"
PAGE_KEY = "dynlab:page"  # session_state: the namespace of the page being drawn
STASH = "dynlab:urlstate:"  # + namespace: the page's last values, kept while another page is open


# -- URL-bound widgets ------------------------------------------------------------------------------
# Every page keeps its own state: widget keys are ``url:<page>:<name>`` and the page's values are stashed
# per page, so a control of one page never reads another page's value (pointer's n and connectome's n).
# The URL carries the open page's values under their short names (the path names the page). Sidebar
# controls (seed, device) are shared by every page: ``url:<name>``.
def set_namespace(name: str) -> None:
    """Make ``name`` (a page key) the namespace of the ``url_*`` widgets drawn from here on."""
    st.session_state[PAGE_KEY] = name


def namespace() -> str:
    return st.session_state.get(PAGE_KEY, "page")


def widget_key(key: str, shared: bool = False) -> str:
    """The session_state key of the URL-bound widget ``key`` on the current page."""
    return f"url:{key}" if shared else f"url:{namespace()}:{key}"


def _stash(shared: bool) -> dict[str, Any]:
    return st.session_state.setdefault(STASH + ("" if shared else namespace()), {})


def _initial(key: str, default: Any, parse: Callable[[str], Any], shared: bool = False) -> str:
    """Put the widget's first value into session_state and return its key.

    The value comes from the URL if it parses, else from what this page last had (moving to another
    page and back keeps it), else ``default``.
    """
    wkey = widget_key(key, shared)
    if wkey not in st.session_state:
        raw = st.query_params.get(key)
        stash = _stash(shared)
        value = stash.get(key, default)
        if raw is not None:
            try:
                value = parse(raw)
            except (ValueError, TypeError):
                pass
        st.session_state[wkey] = value
    return wkey


def _publish(key: str, value: Any, shared: bool = False) -> None:
    _stash(shared)[key] = value
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


def _url_choice(widget, label: str, options: Sequence[Any], key: str, default: Any, where, shared: bool = False,
                **kwargs) -> Any:
    """A selectbox or radio whose value is one of ``options``, bound to the URL parameter ``key``."""
    default = options[0] if default is None else default
    wkey = _initial(key, default, _choice(options), shared)
    if st.session_state[wkey] not in options:
        st.session_state[wkey] = default
    index = list(options).index(st.session_state[wkey])
    value = getattr(where, widget)(label, options, index=index, key=wkey, **kwargs)
    _publish(key, value, shared)
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


def _clamp_state(wkey: str, lo: Any, hi: Any) -> None:
    """Bring a kept value back inside [lo, hi] when the bounds moved (new data, fewer instances)."""
    value = st.session_state[wkey]
    if isinstance(value, int | float) and not isinstance(value, bool):
        clamped = min(hi, value) if hi is not None else value
        clamped = max(lo, clamped) if lo is not None else clamped
        if clamped != value:
            st.session_state[wkey] = clamped


def url_number(
    label: str, key: str, default: int | float, *, min_value=None, max_value=None, where=st, shared: bool = False,
    **kwargs,
) -> int | float:
    cast = int if isinstance(default, int) else float
    wkey = _initial(key, default, _bounded(cast, min_value, max_value), shared)
    _clamp_state(wkey, min_value, max_value)
    value = where.number_input(label, value=st.session_state[wkey], key=wkey, min_value=min_value,
                               max_value=max_value, **kwargs)
    _publish(key, value, shared)
    return value


def url_slider(label: str, key: str, default: int | float, min_value, max_value, *, where=st, **kwargs):
    cast = int if isinstance(default, int) else float
    wkey = _initial(key, default, _bounded(cast, min_value, max_value))
    _clamp_state(wkey, min_value, max_value)
    value = where.slider(label, min_value=min_value, max_value=max_value, value=st.session_state[wkey],
                         key=wkey, **kwargs)
    _publish(key, value)
    return value


def url_checkbox(label: str, key: str, default: bool = False, *, where=st, **kwargs) -> bool:
    from lab.core.config import parse_bool

    wkey = _initial(key, default, parse_bool)
    value = where.checkbox(label, value=bool(st.session_state[wkey]), key=wkey, **kwargs)
    _publish(key, value)
    return value


def url_tabs(labels: Sequence[str]):
    """Tabs bound to the URL (``?tab=...``) and lazy: a tab's ``.open`` says whether to draw it.

    The tab state is the page's own (its key is namespaced), so two pages' tabs never mix.
    """
    return st.tabs(list(labels), key=f"{namespace()}-tab", bind="query-params")


def lab_header(lab_key: str):
    """Start a lab page: its URL namespace, title and one-line caption. Returns the lab's declaration."""
    from lab.core.registry import lab_info

    set_namespace(lab_key)
    info = lab_info(lab_key)
    st.title(info.title)
    st.caption(info.question + "  Built on: " + "; ".join(info.papers))
    return info


# -- the shared sidebar -----------------------------------------------------------------------------
def current_seed() -> int:
    """The seed chosen in the sidebar (or the URL, or 0)."""
    wkey = _initial(SEED_KEY, 0, _bounded(int, 0, 2**31 - 1), shared=True)
    return int(st.session_state[wkey])


def current_device() -> str:
    """The torch device name the sidebar's choice resolves to."""
    wkey = _initial(DEVICE_KEY, "auto", _choice(DEVICE_CHOICES), shared=True)
    return resolve_device(st.session_state[wkey]).name


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
        requested = _url_choice("selectbox", "Device", list(DEVICE_CHOICES), DEVICE_KEY, "auto", st, shared=True,
                                help="`auto` picks cuda, then mps, then cpu.")
        choice = resolve_device(requested)
        st.caption(f":material/memory: using **{choice.name}** - {choice.reason}")
        url_number("Seed", SEED_KEY, 0, min_value=0, max_value=2**31 - 1, step=1, shared=True,
                   help="One seed for python, numpy and torch; it is part of the link.")
        with st.expander("About", icon=":material/info:"):
            st.caption("Dynamic Networks Lab - see dynamic networks work, with real models and real metrics.")
            st.json(_versions(), expanded=False)
        write_owner_cookie()  # last in the sidebar: nothing moves when it is drawn once and then not


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

    set_namespace(lab_key)
    info = lab_info(lab_key)
    st.title(info.title)
    st.markdown(f"*{info.question}*")
    st.info("This lab is not built yet. Its page will appear here when its issue lands; "
            "nothing on this page is simulated in the meantime.", icon=":material/construction:")
    st.markdown("**Built on:** " + "; ".join(info.papers))


# Jobs, results and sweeps (app/panels.py), re-exported so that pages only need ``ui``.
from app.panels import (  # noqa: E402
    job_panel,
    lab_result,
    session_owner,
    show_shared_run,
    sweep_panel,
    write_owner_cookie,
)

__all__ = ["job_panel", "lab_result", "session_owner", "show_shared_run", "sweep_panel", "write_owner_cookie"]
