"""``dynlab traj simulate|predict|train|groups``: the contract the automated checks rely on."""

import json

import pytest

from lab.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def crowd(tmp_path, capsys):
    path = tmp_path / "crowd.txt"
    doc = _json(capsys, ["traj", "simulate", "--kind", "crowd", "--agents", "8", "--steps", "50", "--seed", "3",
                         "--out", str(path), "--json"])
    assert doc["frames"] == 50 and (tmp_path / "crowd.txt.groups.csv").exists()
    return path


def test_simulate_springs_writes_the_format_and_sidecars(tmp_path, capsys):
    path = tmp_path / "springs.txt"
    _json(capsys, ["traj", "simulate", "--kind", "springs", "--agents", "4", "--steps", "30", "--out", str(path), "--json"])
    first = path.read_text().splitlines()[0].split("\t")
    assert len(first) == 4 and first[0] == "0"
    assert (tmp_path / "springs.txt.groups.csv").read_text().startswith("frame,agent,group\n")
    assert (tmp_path / "springs.txt.edges.csv").exists()


def test_predict_json_shape(crowd, capsys):
    doc = _json(capsys, ["traj", "predict", "--input", str(crowd), "--models", "cv,seq,group", "--samples", "5", "--json"])
    assert set(doc) == {"windows", "models", "seconds"} and doc["windows"] > 0
    assert set(doc["models"]) == {"cv", "seq", "group"}
    for errors in doc["models"].values():
        assert set(errors) == {"ade", "fde", "min_ade", "min_fde"}
        assert errors["min_ade"] <= errors["ade"] + 1e-9 or errors is doc["models"]["seq"]
    cv = _json(capsys, ["traj", "predict", "--input", str(crowd), "--models", "cv", "--obs", "4", "--pred", "6", "--json"])
    assert list(cv["models"]) == ["cv"] and cv["windows"] >= doc["windows"]
    other = _json(capsys, ["traj", "predict", "--input", str(crowd), "--obs", "6", "--pred", "8", "--samples", "3", "--json"])
    assert set(other["models"]) == {"cv", "seq", "group"}  # the 8/12 models adapted to another protocol


def test_groups_json_with_and_without_truth(crowd, tmp_path, capsys):
    doc = _json(capsys, ["traj", "groups", "--input", str(crowd), "--json"])
    assert 0.0 <= doc["ari"] <= 1.0 and doc["frames"][0]["frame"] == 0
    ids = {a for f in doc["frames"] for g in f["groups"] for a in g}
    assert all(isinstance(a, int) for a in ids)
    bare = tmp_path / "bare" / "crowd.txt"
    bare.parent.mkdir()
    bare.write_text(crowd.read_text())
    doc = _json(capsys, ["traj", "groups", "--input", str(bare), "--method", "rule", "--json"])
    assert "ari" not in doc and doc["frames"]


def test_train_saves_a_checkpoint_that_predict_uses(crowd, tmp_path, capsys):
    ck = tmp_path / "ck.pt"
    doc = _json(capsys, ["traj", "train", "--input", str(crowd), str(crowd), "--model", "seq", "--steps", "4",
                         "--minutes", "1", "--seed", "1", "-o", str(ck), "--json"])
    assert doc["steps"] == 4 and "loss" in doc["last"] and ck.exists() and ck.with_suffix(".json").exists()
    out = _json(capsys, ["traj", "predict", "--input", str(crowd), "--models", "seq", "--checkpoint", str(ck),
                         "--samples", "3", "--json"])
    assert out["models"]["seq"]["ade"] > 0


@pytest.mark.parametrize("text", ["0 1 abc 4\n", "0 1\n", "", "frame,agent,x\n1,2,3\n"])
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, text):
    bad = tmp_path / ("bad.csv" if "," in text else "bad.txt")
    bad.write_text(text)
    for verb in ("predict", "groups", "train"):
        assert main(["traj", verb, "--input", str(bad), "--json"]) == 2
        captured = capsys.readouterr()
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err and captured.out == ""


def test_missing_file_and_bad_models_exit_2(tmp_path, capsys):
    assert main(["traj", "predict", "--input", str(tmp_path / "nope.txt"), "--json"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "ok.txt").write_text("0 1 0 0\n10 1 1 0\n")
    assert main(["traj", "predict", "--input", str(tmp_path / "ok.txt"), "--models", "cv,lstm", "--json"]) == 2
    assert "lstm" in capsys.readouterr().err
    assert main(["traj", "predict", "--input", str(tmp_path / "ok.txt"), "--json"]) == 2  # too short for a window
    assert "consecutive" in capsys.readouterr().err
