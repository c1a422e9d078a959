"""``dynlab routing exits``: the contract's JSON on a CSV, and bad input as one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.cli import main


def _write(path, rows):
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def _blobs(n: int = 90, d: int = 5, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    rows = [",".join([f"x{j}" for j in range(d)] + ["label"])]
    for i in range(n):
        c = i % 3
        rows.append(",".join(f"{v:.4f}" for v in rng.normal(size=d) + 2.5 * c) + f",c{c}")
    return rows


def test_exits_on_a_csv_prints_the_contract(tmp_path, capsys):
    path = _write(tmp_path / "blobs.csv", _blobs())
    assert main(["routing", "exits", "--dataset", path, "--policy", "entropy", "--steps", "60", "--json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert set(doc["policies"]) == {"entropy"} and doc["last_exit_accuracy"] > 0.8
    point = doc["policies"]["entropy"]["curve"][0]
    assert set(point) == {"threshold", "accuracy", "mean_macs", "speedup"}


@pytest.mark.parametrize("rows,words", [
    (["a,b", "1,2", "3,4"], "label"),
    (["a,label", "x,0", "y,1", "2,1"], "numeric"),
    (["a,label", "1,0", "2,0"], "one class"),
])
def test_bad_csv_exits_2_with_one_line(tmp_path, capsys, rows, words):
    path = _write(tmp_path / "bad.csv", rows)
    assert main(["routing", "exits", "--dataset", path, "--json"]) == 2
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and words in out.err and out.out == ""


def test_unknown_policy_and_missing_file_exit_2(tmp_path, capsys):
    assert main(["routing", "exits", "--policy", "nope", "--json"]) == 2
    assert main(["routing", "exits", "--dataset", str(tmp_path / "no.csv"), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "Traceback" not in err


def test_train_writes_a_checkpoint_that_exits_reads(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["routing", "train", "--steps", "5", "--width", "2", "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["routing", "exits", "--checkpoint", str(out), "--policy", "oracle", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"].endswith("m.pt") and len(doc["policies"]["oracle"]["curve"]) == 1
