"""Open one page file in Streamlit's AppTest with URL query parameters (shared by the lab page tests)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[2] / "pages"


def open_page_file(name: str, timeout: float = 60, **query: str) -> AppTest:
    """Run ``pages/<name>.py`` once with ``query`` in the URL; fail if it shows an exception."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
