"""The app's pages, built in one place so the entrypoint and the Home page's links agree."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lab.core.registry import LABS

ROOT = Path(__file__).resolve().parent.parent


def build_pages() -> dict[str, st.Page]:
    """``{"home": Page, <lab key>: Page, ..., "runs": Page}`` in sidebar order."""
    pages = {"home": st.Page(str(ROOT / "pages" / "home.py"), title="Home", icon=":material/home:",
                             default=True)}
    for info in LABS:
        pages[info.key] = st.Page(str(ROOT / info.page), title=info.title, icon=info.icon, url_path=info.key)
    pages["runs"] = st.Page(str(ROOT / "pages" / "runs.py"), title="Runs", icon=":material/history:", url_path="runs")
    return pages
