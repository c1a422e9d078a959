"""Routing tests: one thread (the suite shares two cores), and one small trained model for the session."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_result():
    from lab.routing.exits import ExitsConfig, run_exits

    return run_exits(ExitsConfig(checkpoint="train", steps=60, width=4))
