"""``dynlab pointer fit-start``: a start head for any attention model, as a saved run and a checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.core.checkpoints import read_card, save_checkpoint
from lab.core.errors import LabInputError
from lab.pointer import zoo
from lab.pointer.fit_start import FitStartConfig, run_fit_start
from lab.pointer.methods import checkpoint_name, trained_options
from lab.pointer.models import AttentionModel
from lab.pointer.service import SolveConfig, run_solve


def _policy(path) -> str:
    torch.manual_seed(1)
    model = AttentionModel(hidden=16, layers=1, heads=4, ff=32)
    card = {"architecture": model.architecture(), "task": "tsp", "trained_n": [6, 9],
            "evaluation": {"eval_ns": [9], "eval_num": 8, "eval_seed": 5, "methods": ["greedy"]},
            "metrics": {"gap_greedy_n9": 0.5}}
    save_checkpoint(path, model.state_dict(), card)
    return str(path)


def test_the_cli_writes_a_checkpoint_whose_head_decides_the_start_and_whose_card_says_how(tmp_path, capsys):
    source = _policy(tmp_path / "policy.pt")
    out = tmp_path / "with_head.pt"
    argv = ["pointer", "fit-start", "--checkpoint", source, "--instances", "40", "--val-instances", "20",
            "--epochs", "3", "--seed", "4", "-o", str(out), "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checkpoint"] == str(out) and doc["run_id"]
    m = doc["metrics"]
    assert m["n"] == 9  # the card's largest training size
    assert m["excess_head_pct"] >= 0 and m["excess_node0_pct"] >= 0 and len(m["curves"]["loss"]) == 3
    card = read_card(out)
    assert card["architecture"]["start_head"] is True and zoo.has_start_head(out)
    assert card["metrics_node0"] == {"gap_greedy_n9": 0.5}  # the policy's own, kept
    assert set(card["metrics"]) >= {"gap_greedy_n9"} and card["metrics"]["gap_greedy_n9"] != 0.5  # measured again
    head = card["start_head"]
    assert head["config"]["instances"] == 40 and head["validation"]["instances"] == 20 and head["source"] == "policy"
    assert not zoo.has_start_head(source)  # the source is not touched
    result = run_solve(SolveConfig(task="tsp", model="am", checkpoint=str(out), n=9, num=12, seed=2))
    assert any(inst.sequence[0] != 0 for inst in result.instances)  # the head chooses the start
    assert all(inst.output[0] == 0 for inst in result.instances)  # the reported tour still starts at node 0


def test_one_seed_gives_the_same_head():
    config = FitStartConfig(checkpoint="am_tsp20", n=8, instances=10, val_instances=5, epochs=1, seed=7)
    a, b = run_fit_start(config), run_fit_start(config)
    assert all(torch.equal(v, b.model.state_dict()[k]) for k, v in a.model.state_dict().items())
    other = run_fit_start(config.replace(seed=8))
    assert not torch.equal(a.model.start[0].weight, other.model.start[0].weight)


@pytest.mark.parametrize(("args", "says"), [
    (["--checkpoint", "ptrnet_tsp"], "not model='am'"),
    (["--checkpoint", "/no/such.pt"], "no such checkpoint"),
    (["--checkpoint", "am_tsp20", "-o", "head.txt"], "with .pt"),
    (["--checkpoint", "am_tsp20", "--n", "2"], "n must be"),
    (["--checkpoint", "am_tsp20", "--tau", "0"], "tau > 0"),
])
def test_bad_input_is_one_sentence_and_exit_code_2(args, says, capsys):
    assert main(["pointer", "fit-start", *args]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_checkpoint_that_is_not_one_is_refused_in_a_sentence(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    (tmp_path / "bad.json").write_text(json.dumps({"architecture": {"model": "am", "task": "tsp"}}))
    with pytest.raises(LabInputError):
        run_fit_start(FitStartConfig(checkpoint=str(bad), instances=4, val_instances=2, epochs=1))


def test_a_fitted_head_run_is_offered_as_a_method_named_after_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DYNLAB_HOME", str(tmp_path / "runs"))
    assert main(["pointer", "fit-start", "--checkpoint", "am_tsp20", "--n", "8", "--instances", "6",
                 "--val-instances", "4", "--epochs", "1"]) == 0
    from lab.core.runstore import RunStore

    run_id = RunStore().list_runs()[0].run_id
    [option] = trained_options("tsp", [run_id])
    assert option.label == f"trained here: am_tsp20 + start head (run {run_id})" and option.model == "am"
    assert zoo.has_start_head(option.checkpoint)
    assert trained_options("hull", [run_id]) == []
    assert checkpoint_name("/r/pointer-1/artifacts/model.pt") == "run pointer-1"
    assert checkpoint_name("/tmp/mine.pt") == "mine" and checkpoint_name("am_tsp50") == "am_tsp50"
