"""The attention model's start head: where a single rollout starts, how it is fitted, how it travels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lab.cli import main
from lab.core.checkpoints import read_card, save_checkpoint
from lab.core.errors import LabInputError
from lab.pointer import tasks, zoo
from lab.pointer.decoding import decode
from lab.pointer.models import AttentionModel, build_model
from lab.pointer.service import SolveConfig, run_solve
from lab.pointer.start_head import StartHeadConfig, excess, start_loss, train_start_head, with_start_head
from lab.pointer.train import TrainConfig, run_train


def _model(head: bool = True) -> AttentionModel:
    torch.manual_seed(0)
    return AttentionModel(hidden=32, layers=1, heads=4, ff=64, start_head=head).eval()


def _expected_starts(model: AttentionModel, pts: np.ndarray) -> list[int]:
    with torch.no_grad():
        return model.start_scores(model.encode(torch.from_numpy(pts).float())).argmax(dim=1).tolist()


def _save(model: AttentionModel, path) -> str:
    save_checkpoint(path, model.state_dict(), {"architecture": model.architecture(), "task": "tsp",
                                               "trained_n": [12, 12]})
    return str(path)


def test_greedy_beam_and_sample_start_where_the_head_says_and_node0_on_request():
    model, pts = _model(), tasks.random_instances(12, 6, seed=5)
    starts = _expected_starts(model, pts)
    assert len(set(starts)) > 1  # the head's choice varies by instance: the test can tell it from node 0
    for method in ("greedy", "beam", "sample"):
        learned = decode(model, pts, "tsp", method, beam_width=3, num_samples=4)
        assert [o.sequence[0] for o in learned] == starts
        assert all(sorted(o.sequence) == list(range(12)) for o in learned)
        assert all(o.sequence[0] == 0 for o in decode(model, pts, "tsp", method, start="node0", beam_width=3,
                                                         num_samples=4))
    with pytest.raises(LabInputError, match="unknown start"):
        decode(model, pts, "tsp", start="middle")


def test_a_model_without_a_head_starts_at_node0_either_way():
    model, pts = _model(head=False), tasks.random_instances(10, 3, seed=6)
    learned = [o.sequence for o in decode(model, pts, "tsp")]
    assert all(s[0] == 0 for s in learned) and learned == [o.sequence for o in decode(model, pts, "tsp", start="node0")]
    assert "start_head" not in model.architecture()  # cards written before the head read the same


def test_the_head_travels_in_the_checkpoint_and_the_reported_tour_starts_at_node0(tmp_path):
    model = _model()
    path = _save(model, tmp_path / "head.pt")
    assert zoo.has_start_head(path) and not zoo.has_start_head("am_tsp50_imitation")
    loaded = zoo.load(path)
    assert loaded.architecture()["start_head"] is True
    pts = tasks.random_instances(12, 4, seed=7)
    assert _expected_starts(loaded, pts) == _expected_starts(model, pts)
    result = run_solve(SolveConfig(task="tsp", model="am", checkpoint=path, n=12, num=4, seed=7, trace=True))
    for inst in result.instances:
        assert inst.output[0] == 0 and sorted(inst.output.tolist()) == list(range(12))
        seq = inst.sequence  # the decoding order: from the head's start, the same cycle as the tour
        assert tasks.tour_length(inst.points, seq) == pytest.approx(inst.length, rel=1e-6)
        assert np.allclose(inst.attention[0], np.eye(12)[seq[0]])  # the start row is the given start
    assert any(inst.sequence[0] != 0 for inst in result.instances)


def test_start_loss_prefers_the_scores_that_rank_short_tours_first():
    lengths = torch.tensor([[5.0, 5.5, 6.0], [7.0, 6.0, 6.5]])
    good = -lengths * 10
    assert start_loss(good, lengths, 0.01) < start_loss(-good, lengths, 0.01)
    assert excess(lengths, torch.tensor([0, 1]))["mean_pct"] == 0.0
    assert excess(lengths, torch.tensor([2, 0]))["mean_pct"] == pytest.approx(100 * (0.2 + 1 / 6) / 2)


def test_fitting_the_head_beats_node0_on_its_data_and_leaves_the_policy_alone():
    model = with_start_head(_model(head=False))
    policy_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("start.")}
    result = train_start_head(model, StartHeadConfig(n=10, instances=400, val_instances=50, epochs=40, lr=3e-3,
                                                     tau=0.01, seed=3))
    fit = result.stats["train"]
    assert fit["node0"]["mean_pct"] > 0.5  # starts matter for this policy: there is something to learn
    assert fit["learned"]["mean_pct"] < 0.7 * fit["node0"]["mean_pct"]
    assert result.curve[-1] < result.curve[0]
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in policy_before.items())
    assert all(p.requires_grad for p in model.parameters())  # nothing left frozen


def test_training_a_policy_from_a_checkpoint_with_a_head_drops_the_stale_head(tmp_path, caplog):
    model = AttentionModel(hidden=16, layers=1, heads=8, ff=64, start_head=True)
    path = _save(model, tmp_path / "with_head.pt")
    config = TrainConfig(task="tsp", model="am", n_min=8, n_max=8, hidden=16, layers=1, steps=0, pomo_steps=1,
                         pomo_batch=2, eval_num=2, eval_methods=("greedy",), init_checkpoint=path)
    result = run_train(config)
    assert result.model.start is None and "start_head" not in result.card["architecture"]
    assert "dropping the checkpoint's start head" in caplog.text
    assert build_model({**model.architecture()}).start is not None


def test_the_cli_takes_start_and_refuses_a_bad_one(capsys):
    argv = ["pointer", "solve", "--n", "12", "--num", "2", "--json"]
    assert main([*argv, "--start", "node0"]) == 0
    assert all(inst["tour"][0] == 0 for inst in json.loads(capsys.readouterr().out)["instances"])
    with pytest.raises(SystemExit) as exit_info:  # argparse's own error: one line, exit code 2
        main([*argv, "--start", "middle"])
    assert exit_info.value.code == 2 and "--start" in capsys.readouterr().err


def test_the_shipped_tsp50_head_card_says_how_it_was_fitted():
    card = read_card(zoo.resolve("am_tsp50"))
    assert card["architecture"]["start_head"] is True
    head = card["start_head"]
    assert head["command"].startswith("python scripts/train_start_head.py") and "seed" in head
    val = head["validation"]
    assert val["learned"]["mean_pct"] < val["node0"]["mean_pct"]
