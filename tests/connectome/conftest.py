"""Shared fixtures: a small synthetic worm and its pipeline result (computed once per session)."""

from __future__ import annotations

import pytest

from lab.connectome.config import ConnectomeConfig
from lab.connectome.pipeline import run_pipeline

SMALL_WORM = {"neurons": 24, "communities": 3, "epochs": 3, "animals": 2, "frames_per_epoch": 240, "snr": 2.0}


@pytest.fixture(scope="session")
def small_config() -> ConnectomeConfig:
    return ConnectomeConfig(worm=dict(SMALL_WORM), rank=3, window=40, step=20, seed=0)


@pytest.fixture(scope="session")
def small_result(small_config):
    return run_pipeline(small_config)
