"""Pointer-lab test helpers: the benchmark scripts, imported from their files (benchmarks/ is not a package)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def load_benchmark():
    """``load_benchmark("pointer")`` -> a fresh module of ``benchmarks/pointer.py`` (its own globals per test)."""

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(f"{name}_bench", ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
