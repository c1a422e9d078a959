"""Sweeps on the local backend (and, in test_sweep_ray.py, on a Ray cluster) with a toy verb."""

import json

import pytest
import toylab

from lab.cli import main
from lab.core.errors import LabInputError
from lab.core.runstore import RunStore
from lab.core.sweep import SweepConfig, parse_grid
from lab.core.verbs import rerun_work, run_foreground_verb


@pytest.fixture(autouse=True)
def _toy_lab(monkeypatch):
    monkeypatch.setattr("lab.core.registry.labs", lambda: (toylab.TOY,))


def _sweep(**kw):
    values = dict(lab="pointer", verb="count", base={"delay": 0.0}, grid={"steps": [2, 3], "scale": [1.0, 10.0]},
                  seeds=(0, 1))
    values.update(kw)
    return SweepConfig(**values)


def test_every_point_runs_and_the_table_is_one_saved_run():
    output, run_id = run_foreground_verb("pointer", "sweep", _sweep())
    doc = output.result.to_json()
    assert len(doc["points"]) == 8 and doc["backend"] == "local"
    by = {(p["config"]["steps"], p["config"]["scale"], p["seed"]): p for p in doc["points"]}
    assert by[(3, 10.0, 1)]["metrics"]["counted"] == 3 and by[(3, 10.0, 1)]["status"] == "done"
    assert by[(2, 10.0, 1)]["metrics"]["value"] == pytest.approx(10 * by[(2, 1.0, 1)]["metrics"]["value"])
    assert by[(2, 1.0, 0)]["metrics"]["value"] != by[(2, 1.0, 1)]["metrics"]["value"]  # seeds differ
    (run,) = RunStore().list_runs()
    assert run.run_id == run_id and run.verb == "sweep" and run.status == "done"
    assert run.metrics["done"] == 8 and "points.csv" in run.artifacts
    saved = json.loads(run.artifact_path("points.json").read_text())
    assert saved["points"] == json.loads(json.dumps(doc["points"]))
    lab, verb, config, work = rerun_work(run)  # a sweep re-runs by its verb like any run
    assert (lab, verb) == ("pointer", "sweep") and config == _sweep()


def test_a_stopped_sweep_keeps_what_finished():
    from lab.core.jobs import save_output
    from lab.core.verbs import verb_work

    def stop_after_two(step, total, metrics):
        return step >= 2

    output = verb_work("pointer", "sweep", _sweep(workers=1))(stop_after_two)
    statuses = [p.status for p in output.result.points]
    assert statuses.count("done") == 2 and statuses.count("stopped") == 6
    store = RunStore()
    run = store.load_run(save_output(store, "pointer", "sweep", output, stopped=True))
    assert run.status == "stopped" and run.metrics["done"] == 2 and len(store.list_runs()) == 1


def test_bad_grids_are_one_sentence():
    assert parse_grid(["steps=2,3", "scale=0.5"], "pointer", "count") == {"steps": [2, 3], "scale": [0.5]}
    with pytest.raises(LabInputError, match="has no field 'stepz'"):
        parse_grid(["stepz=2"], "pointer", "count")
    with pytest.raises(LabInputError, match="'many' is not a int"):
        parse_grid(["steps=2,many"], "pointer", "count")
    with pytest.raises(LabInputError, match="not FIELD=V1"):
        parse_grid(["steps"], "pointer", "count")
    with pytest.raises(LabInputError, match="seeds"):
        _sweep(seeds=(-1,))
    with pytest.raises(LabInputError, match="unknown backend"):
        _sweep(backend="slurm")


def test_dynlab_sweep_contract(capsys):
    code = main(["sweep", "pointer", "count", "--grid", "steps=1,2", "--seeds", "0,3", "--json"])
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 0 and set(doc) >= {"points", "seconds", "backend"} and doc["backend"] == "local"
    assert sorted((p["config"]["steps"], p["seed"]) for p in doc["points"]) == [(1, 0), (1, 3), (2, 0), (2, 3)]
    for p in doc["points"]:
        assert set(p) == {"config", "seed", "metrics", "status", "error"} and p["status"] == "done"
        assert p["error"] is None and p["metrics"]["counted"] == p["config"]["steps"]
    for argv, words in ((["--grid", "nope=1"], "has no field 'nope'"), (["--grid", "steps=x"], "is not a int"),
                        (["--seeds", "a"], "--seeds 'a'")):
        assert main(["sweep", "pointer", "count", *argv, "--json"]) == 2
        out = capsys.readouterr()
        assert out.out == "" and out.err.count("\n") == 1 and words in out.err
