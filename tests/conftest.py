"""Shared fixtures: every test gets its own run store (DYNLAB_HOME) so nothing touches ./runs."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLAB_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("DYNLAB_DEVICE", "cpu")
    yield tmp_path / "runs"
