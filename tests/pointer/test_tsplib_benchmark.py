"""benchmarks/pointer_tsplib.py: what a --keep-others run keeps, and the record of which run measured what."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture()
def bench(monkeypatch, tmp_path, load_benchmark):
    module = load_benchmark("pointer_tsplib")
    monkeypatch.setattr(module, "OUT", tmp_path / "pointer_tsplib.json")
    return module


def _write_instance(folder: Path, name: str, n: int, seed: int) -> None:
    pts = np.random.default_rng(seed).integers(0, 1000, size=(n, 2))
    body = "\n".join(f"{i + 1} {x} {y}" for i, (x, y) in enumerate(pts))
    (folder / f"{name}.tsp").write_text(f"NAME : {name}\nTYPE : TSP\nDIMENSION : {n}\nEDGE_WEIGHT_TYPE : EUC_2D\n"
                                        f"NODE_COORD_SECTION\n{body}\nEOF\n")


def _run(bench, monkeypatch, *args: str) -> dict:
    import json

    monkeypatch.setattr(sys, "argv", ["pointer_tsplib.py", *args])
    assert bench.main() == 0
    return json.loads(bench.OUT.read_text())


def test_a_kept_measurement_keeps_the_date_and_command_of_the_run_that_made_it(bench, monkeypatch, tmp_path):
    folder = tmp_path / "tsplib"
    folder.mkdir()
    _write_instance(folder, "tiny8", 8, 0)
    _write_instance(folder, "tiny9", 9, 1)
    # a generous "optimum": the test is about the bookkeeping, not the gaps
    (folder / "solutions").write_text("tiny8 : 5000\ntiny9 : 5000 (made up)\n")
    common = ["--dir", str(folder), "--n-min", "5", "--n-max", "20"]
    first = _run(bench, monkeypatch, *common, "--models", "ptrnet_tsp")
    methods = first["instances"][0]["methods"]
    assert set(methods) == {"ptrnet_tsp greedy", "ptrnet_tsp pomo", *bench.CLASSICAL}
    assert {m["measured_utc"] for row in first["instances"] for m in row["methods"].values()} == {first["date_utc"]}
    assert first["runs"] == {first["date_utc"]: first["command"]}

    # the second run re-measures ptrnet_tsp only; it must not claim the classical columns
    first_date = first["date_utc"]
    second_date = "2030-01-01T00:00:00+00:00"

    class Later:  # a later clock, so that the two runs' dates differ without waiting
        @staticmethod
        def now(tz):
            from datetime import datetime

            return datetime.fromisoformat(second_date).astimezone(tz)

    monkeypatch.setattr(bench, "datetime", Later)
    second = _run(bench, monkeypatch, *common, "--models", "ptrnet_tsp", "--keep-others")
    assert second["date_utc"] == second_date
    for row, before in zip(second["instances"], first["instances"], strict=True):
        for key, m in row["methods"].items():
            if key.startswith("ptrnet_tsp "):
                assert m["measured_utc"] == second_date
            else:
                assert m == before["methods"][key]  # kept as measured, date and all
                assert m["measured_utc"] == first_date
    assert second["runs"] == {first_date: first["command"], second_date: second["command"]}
    assert "--keep-others" in second["runs"][second_date] and "--keep-others" not in second["runs"][first_date]
