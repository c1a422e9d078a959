"""Entrypoint: ``streamlit run app/main.py``. Declares the pages and draws the shared sidebar."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `import app.ui` works without an install too
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import ui  # noqa: E402
from app.navigation import build_pages  # noqa: E402

st.set_page_config(page_title="Dynamic Networks Lab", page_icon=":material/hub:", layout="wide")

current = st.navigation(list(build_pages().values()))
ui.sidebar()
current.run()
