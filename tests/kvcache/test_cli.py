"""``dynlab kv sweep``: the JSON contract of issue 11 and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from lab.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _code(argv):
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def test_sweep_prints_the_contract(capsys):
    argv = ["kv", "sweep", "--task", "disambiguation", "--presses", "random,snapkv", "--ratios", "0.5,0",
            "--num", "6", "--seed", "1", "--model", "random", "--json"]
    assert _code(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["press"], r["ratio"]) for r in doc["results"]] == [("random", 0.0), ("random", 0.5), ("snapkv", 0.0),
                                                                  ("snapkv", 0.5)]
    for row in doc["results"]:
        for key in ("accuracy", "hallucination_rate", "ger", "retention", "accessibility"):
            assert isinstance(row[key], float) and 0.0 <= row[key] <= 1.0, key
        assert isinstance(row["consensus"], list) and len(row["consensus"]) == doc["layers"] == 2
    zero = [r for r in doc["results"] if r["ratio"] == 0.0]
    assert all(r["ger"] == 0.0 and r["retention"] == 1.0 for r in zero)
    assert all(r["accuracy"] == doc["uncompressed"]["accuracy"] for r in zero)
    assert set(doc["cliff"]) == {"random", "snapkv"}
    assert all(v is None or 0.0 <= v < 1.0 for v in doc["cliff"].values())
    assert isinstance(doc["seconds"], float) and doc["run_id"].startswith("kvcache-")
    assert doc["chance"] == pytest.approx(1 / 24)  # a guess among the 24 records' values
    assert doc["cliffs_meaningful"] == (doc["uncompressed"]["accuracy"] / 2 > doc["chance"])


@pytest.mark.parametrize(("accuracy", "chance", "meaningful"), [(0.09, 1 / 14, False), (0.2, 1 / 8, False),
                                                                 (0.3, 1 / 8, True), (1.0, None, True)])
def test_cliffs_are_meaningful_only_when_half_the_base_is_above_chance(accuracy, chance, meaningful):
    from lab.kvcache.sweep import CompressConfig, CompressResult

    base = {"accuracy": accuracy} | ({} if chance is None else {"chance": chance})
    result = CompressResult(CompressConfig(model="random"), "random", base, [], 2, 4, 10, 0.0)
    assert result.cliffs_meaningful() is meaningful
    assert result.to_json()["chance"] == chance


def test_question_aware_sweep_runs(capsys):
    argv = ["kvcache", "sweep", "--presses", "tova", "--ratios", "0.9", "--num", "4", "--model", "random",
            "--question-aware", "--json"]
    assert _code(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["question_aware"] is True and doc["results"][0]["kept"] < 0.2


def _not_causal(tmp_path):
    vit = tmp_path / "vit"
    vit.mkdir()
    (vit / "config.json").write_text(json.dumps({"model_type": "vit"}))
    return str(vit)


@pytest.mark.parametrize("extra,word", [
    (["--presses", "random,h2o"], "press"),
    (["--task", "arithmetic"], "task"),
    (["--ratios", "0,1"], "ratio"),
    (["--ratios", "-0.1"], "ratio"),
    (["--ratios", "0,half"], "ratios"),
    (["--num", "0"], "num"),
    (["--seed", "-1"], "seed"),
    (["--no-such-flag"], "unrecognized"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, extra, word):
    assert _code(["kv", "sweep", "--model", "random", "--num", "2", *extra, "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and word in out.err and "Traceback" not in out.err


def test_a_model_directory_that_is_not_a_causal_lm_is_refused(capsys, tmp_path):
    assert _code(["kv", "sweep", "--model", _not_causal(tmp_path), "--num", "2", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and "not a causal language model" in out.err
