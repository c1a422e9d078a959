"""Shared fixtures: every test gets its own run store (DYNLAB_HOME) so nothing touches ./runs."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import toylab`: a toy lab for core and app tests


@pytest.fixture(autouse=True)
def _isolated_run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLAB_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("DYNLAB_DEVICE", "cpu")
    yield tmp_path / "runs"


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test: two OpenMP threads on a loaded two-core machine spin and run far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
