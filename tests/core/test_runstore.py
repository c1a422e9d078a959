import json
import os

import pytest

from lab.core.errors import LabInputError
from lab.core.files import atomic_write_text
from lab.core.runstore import CARD_FORMAT, RunStore


def test_round_trip(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = store.save_run("pointer", {"n": 20, "seed": 3}, {"gap": 0.01, "curves": {"loss": [2.0, 1.0]}},
                            {"tour.csv": "0,1,2\n", "weights.bin": b"\x00\x01"}, title="t")
    run = store.load_run(run_id)
    assert run.lab == "pointer" and run.config == {"n": 20, "seed": 3}
    assert run.metrics["gap"] == 0.01 and run.curves == {"loss": [2.0, 1.0]}
    assert run.meta["seed"] == 3 and "torch" in run.meta["versions"]
    assert run.artifacts == ["tour.csv", "weights.bin"]
    assert run.artifact_path("weights.bin").read_bytes() == b"\x00\x01"
    assert [r.run_id for r in store.list_runs()] == [run_id]
    assert store.list_runs(lab="connectome") == []
    store.delete_run(run_id)
    assert store.list_runs() == []


def test_default_root_follows_dynlab_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLAB_HOME", str(tmp_path / "elsewhere"))
    run_id = RunStore().save_run("connectome", {}, {"ari": 1.0})
    assert (tmp_path / "elsewhere" / run_id / "meta.json").exists()


def test_failed_save_leaves_no_half_written_run(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(ValueError):
        store.save_run("pointer", {"a": 1}, {"m": 1}, {"../escape": b"x"})
    assert store.list_runs() == []
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    assert list(tmp_path.iterdir()) == []  # the temp folder was removed too


def test_damaged_run_folder_is_skipped(tmp_path):
    store = RunStore(tmp_path)
    good = store.save_run("pointer", {}, {"m": 1})
    bad = tmp_path / "pointer-20260101-000000-abcdef"
    bad.mkdir()
    (bad / "meta.json").write_text("{not json")
    assert [r.run_id for r in store.list_runs()] == [good]


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    atomic_write_text(target, "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_card_export_import(tmp_path):
    store = RunStore(tmp_path / "a")
    run_id = store.save_run("connectome", {"rank": 4, "seed": 7}, {"ari": 0.93}, title="worm")
    card = store.export_card(run_id)
    assert card["format"] == CARD_FORMAT and card["seed"] == 7 and card["config"]["rank"] == 4
    text = json.dumps(card)
    other = RunStore(tmp_path / "b")
    new_id = other.import_card(json.loads(text))
    run = other.load_run(new_id)
    assert run.config == {"rank": 4, "seed": 7} and run.metrics == {"ari": 0.93}
    assert run.meta["imported_from"] == run_id


@pytest.mark.parametrize(
    "card, message",
    [
        ([1, 2], "JSON object"),
        ({"format": "nope"}, "not a dynlab lab card"),
        ({"format": CARD_FORMAT, "version": 99}, "version 99"),
        ({"format": CARD_FORMAT, "version": 1, "lab": "astrology"}, "unknown lab"),
        ({"format": CARD_FORMAT, "version": 1, "lab": "pointer", "config": {}}, "'metrics'"),
    ],
)
def test_bad_cards_are_refused_with_one_sentence(tmp_path, card, message):
    with pytest.raises(LabInputError, match=message):
        RunStore(tmp_path).import_card(card)


def test_unknown_run_id(tmp_path):
    with pytest.raises(LabInputError, match="not a run id"):
        RunStore(tmp_path).load_run("../../etc")
    with pytest.raises(LabInputError, match="No run"):
        RunStore(tmp_path).load_run("pointer-20260101-000000-abcdef")


def test_curves_get_one_panel_and_one_named_axis_per_quantity():
    from lab.runs_figures import compare_curves_figure, panels_figure

    fig = panels_figure({"loss": {"": ([1, 2, 3], [3.0, 2.0, 1.0])}, "n": {"": ([1, 2, 3], [5, 9, 7])}})
    axes = {t.name: t.yaxis for t in fig.data}
    assert axes["loss"] != axes["n"]  # a loss never shares its axis with another quantity
    assert {fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text} == {"loss", "n"}
    long = panels_figure({"loss": {"": (list(range(100)), [1.0 / (i + 1) for i in range(100)])}})
    assert len(long.data) == 2 and long.data[1].line.width == 2  # faint raw line, smoothed line over it
    store = RunStore()
    runs = [store.load_run(store.save_run("pointer", {}, {"curves": {"loss": [3, 2], "gap": [0.5, 0.4]}}))
            for _ in range(2)]
    fig = compare_curves_figure(runs)
    assert {fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text} == {"loss", "gap"}
    assert len(fig.data) == 4
