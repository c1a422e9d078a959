"""Entrypoint: ``streamlit run app/main.py``. Declares the pages and draws the shared sidebar."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so `import app.ui` works without an install too
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import ui  # noqa: E402
from app.navigation import build_pages  # noqa: E402

# Jobs, the run store and the checkpoints log what they skip or what failed (with its traceback) here.
logging.basicConfig(level=logging.WARNING, format="%(asctime)s dynlab %(levelname)s %(name)s: %(message)s")

st.set_page_config(page_title="Dynamic Networks Lab", page_icon=":material/hub:", layout="wide")

current = st.navigation(list(build_pages().values()))
ui.set_namespace(current.url_path or "home")
ui.sidebar()
current.run()
