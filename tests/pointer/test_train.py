"""Training: a few steps reduce the loss; config validation; stop; checkpoint cards; resume; zoo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lab.core.checkpoints import save_checkpoint
from lab.core.errors import LabInputError
from lab.pointer import tasks, zoo
from lab.pointer.losses import imitation_loss, pomo_loss, supervised_loss
from lab.pointer.models import AttentionModel, PointerNetwork
from lab.pointer.models.data import fast_reference, label_sequence, orient, pad_sequences
from lab.pointer.train import TrainConfig, run_train

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)  # small tensors: extra threads only contend on a shared machine


def _fit(model, loss_fn, steps=25, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("task", ["hull", "delaunay", "tsp"])
def test_a_few_supervised_steps_reduce_the_ptrnet_loss(task):
    torch.manual_seed(0)
    pts = tasks.random_instances(8, 16, seed=1)
    targets = pad_sequences([label_sequence(task, p) for p in pts])
    model = PointerNetwork(task, hidden=32)
    losses = _fit(model, lambda: supervised_loss(model, task, torch.from_numpy(pts), targets), steps=40, lr=1e-2)
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]


def test_a_few_imitation_steps_reduce_the_attention_model_loss_and_pomo_runs():
    torch.manual_seed(0)
    pts = torch.from_numpy(tasks.random_instances(10, 16, seed=2))
    tours = torch.from_numpy(np.stack([orient(fast_reference(p)) for p in pts.numpy()]))
    model = AttentionModel(hidden=32, layers=1, heads=4, ff=64)
    losses = _fit(model, lambda: imitation_loss(model, pts, tours))
    assert losses[-1] < 0.7 * losses[0]
    loss, mean_len = pomo_loss(model, pts[:4], torch.Generator().manual_seed(0))
    loss.backward()
    assert np.isfinite(loss.item()) and mean_len > 0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_self_imitation_adds_the_cross_entropy_of_the_shortest_sampled_tour():
    torch.manual_seed(0)
    pts = torch.from_numpy(tasks.random_instances(9, 3, seed=5))
    model = AttentionModel(hidden=32, layers=1, heads=4, ff=64)
    plain, _ = pomo_loss(model, pts, torch.Generator().manual_seed(1))
    mixed, _ = pomo_loss(model, pts, torch.Generator().manual_seed(1), 0.5, np.random.default_rng(2), starts=2)
    # the same sampled tours (same generator): the difference is 0.5 x the imitation loss of their best
    n = pts.shape[1]
    gen = torch.Generator().manual_seed(1)
    tours, _ = model.all_starts(pts, lambda lp: torch.multinomial(lp.exp(), 1, generator=gen)[:, 0])
    lengths = torch.stack([torch.tensor([tasks.tour_length(p.numpy(), t.numpy()) for t in row])
                           for p, row in zip(pts, tours, strict=True)])  # (B, n)
    best = tours[torch.arange(3), lengths.argmin(dim=1)]
    from lab.pointer.models.data import random_start

    taught = random_start(best.repeat_interleave(2, dim=0), np.random.default_rng(2))
    expected = plain + 0.5 * imitation_loss(model, pts.repeat_interleave(2, dim=0), taught)
    assert torch.allclose(mixed, expected, atol=1e-5) and taught.shape == (6, n)
    assert mixed.item() != pytest.approx(plain.item())
    with pytest.raises(LabInputError):
        TrainConfig(model="am", task="tsp", pomo_steps=3, pomo_imitation=-1.0)


def test_fast_reference_matches_the_exact_reference():
    for p in tasks.random_instances(20, 3, seed=4):
        assert tasks.tour_length(p, fast_reference(p)) <= tasks.tour_length(p, tasks.tsp_reference(p)) * (1 + 1e-6)


@pytest.mark.parametrize("bad", [dict(task="sorting"), dict(model="am", task="hull"), dict(n_min=2),
                                 dict(n_min=10, n_max=5), dict(steps=0), dict(lr=5.0), dict(pomo_steps=3),
                                 dict(hidden=4), dict(seed=-1),
                                 dict(model="am", task="tsp", pomo_steps=3, pomo_lr=1e-4, pomo_lr_final=1e-3)])
def test_bad_configs_are_refused(bad):
    with pytest.raises(LabInputError):
        TrainConfig(**bad)


def _tiny(tmp_path=None, **kw):
    base = dict(task="hull", model="ptrnet", n_min=5, n_max=8, hidden=16, steps=4, batch_size=8, eval_num=4,
                pool_per_size=8, checkpoint_path=str(tmp_path / "m.pt") if tmp_path else None)
    base.update(kw)
    return TrainConfig(**base)


def test_progress_callback_can_stop_training():
    seen = []

    def cb(step, total, metrics):
        seen.append((step, total, metrics["loss"]))
        return step >= 2

    result = run_train(_tiny(steps=50), on_progress=cb)
    assert [s for s, _, _ in seen] == [1, 2] and seen[0][1] == 50
    assert len(result.curves["loss"]) == 2
    assert "accuracy_greedy_n8" in result.metrics() and result.metrics()["curves"]["loss"] == result.curves["loss"]


def test_checkpoint_card_round_trip_resume_and_wrong_architecture(tmp_path):
    cfg = _tiny(tmp_path, extra_card={"command": "python scripts/train_pointer.py --task hull", "seed": 0})
    result = run_train(cfg)
    card = json.loads((tmp_path / "m.json").read_text())
    assert card["architecture"] == {"model": "ptrnet", "task": "hull", "hidden": 16, "layers": 1}
    assert card["command"].startswith("python scripts/train_pointer.py") and card["seed"] == 0
    assert card["training"]["steps_done"]["supervised"] == 4
    assert card["metrics"] == result.scores and card["evaluation"]["eval_num"] == 4
    last = card["training"]["evaluations"][-1]  # the measurement log ends with the card's own metrics
    assert last["steps_done"]["supervised"] == 4 and all(last[k] == v for k, v in card["metrics"].items())

    model = zoo.load(tmp_path / "m.pt", task="hull", model="ptrnet")
    for a, b in zip(model.state_dict().values(), result.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(LabInputError, match="task"):
        zoo.load(tmp_path / "m.pt", task="tsp")
    with pytest.raises(LabInputError, match="model"):
        zoo.load(tmp_path / "m.pt", model="am")

    resume = str(tmp_path / "m.pt")
    again = run_train(_tiny(tmp_path, steps=3, init_checkpoint=resume))  # resume: the count goes on
    assert again.card["training"]["steps_done"]["supervised"] == 7
    with pytest.raises(LabInputError):  # a bigger model cannot start from these weights
        run_train(_tiny(None, hidden=32, init_checkpoint=resume))

    # weights that do not fit the card's architecture are refused with one sentence
    save_checkpoint(tmp_path / "bad.pt", PointerNetwork("hull", hidden=8).state_dict(),
                    {"architecture": {"model": "ptrnet", "task": "hull", "hidden": 16, "layers": 1}})
    with pytest.raises(LabInputError, match="do not match"):
        zoo.load(tmp_path / "bad.pt")


def test_train_result_artifacts_are_a_loadable_checkpoint_and_gaps_are_fractions(tmp_path):
    result = run_train(_tiny(None, task="tsp", model="am", n_min=6, n_max=6, hidden=16, heads=2, steps=2,
                             pomo_steps=1, pomo_batch=2))
    artifacts = result.artifacts()
    assert set(artifacts) == {"model.pt", "model.json"}
    card = json.loads(artifacts["model.json"])
    assert card["training"]["steps_done"] == {"supervised": 2, "pomo": 1}
    metrics = result.metrics()
    assert len(metrics["curves"]["loss"]) == 3 and not any(k.startswith("gap_pct") for k in metrics)
    # a gap is a fraction everywhere (it was in percent here): an untrained-ish model on TSP6 is within 100 %
    assert {"gap_greedy_n6", "gap_pomo_n6"} <= set(metrics) and 0 <= metrics["gap_pomo_n6"] < 1.0
    (tmp_path / "model.pt").write_bytes(artifacts["model.pt"])
    (tmp_path / "model.json").write_text(artifacts["model.json"])
    assert zoo.load(tmp_path / "model.pt", task="tsp", model="am").architecture() == card["architecture"]


def test_old_cards_with_gaps_in_percent_read_as_fractions(tmp_path):
    net = PointerNetwork("tsp", hidden=8)
    save_checkpoint(tmp_path / "old.pt", net.state_dict(),
                    {"architecture": net.architecture(), "metrics": {"gap_pct_greedy_n20": 5.0},
                     "measurements": [{"metrics": {"gap_pct_pomo_n20": 2.0, "instances_per_s_pomo_n20": 3.0}}]})
    card = zoo.read_card(tmp_path / "old.pt")
    assert card["metrics"] == {"gap_greedy_n20": pytest.approx(0.05)}
    assert card["measurements"][0]["metrics"] == {"gap_pomo_n20": pytest.approx(0.02), "instances_per_s_pomo_n20": 3.0}
    assert zoo.load(tmp_path / "old.pt").card["metrics"] == card["metrics"]
    for entry in zoo.available():  # the shipped TSP cards: every gap a fraction
        gaps = [v for k, v in entry.card["metrics"].items() if k.startswith("gap_")]
        assert not any(k.startswith("gap_pct") for k in entry.card["metrics"]) and all(-1e-9 <= g < 1 for g in gaps)


def test_shipped_checkpoints_load_are_small_and_carry_their_command():
    for entry in zoo.available():
        assert entry.path.stat().st_size < 10 * 2**20
        assert entry.card.get("command", "").startswith("python scripts/train_pointer.py")
        assert "seed" in entry.card and entry.card.get("metrics")
        model = zoo.load(entry.name)
        assert model.architecture() == entry.card["architecture"]


def test_zoo_lists_only_checkpoints_with_cards_and_resolves_names(tmp_path):
    save_checkpoint(tmp_path / "ptrnet_hull.pt", PointerNetwork("hull", hidden=8).state_dict(),
                    {"architecture": PointerNetwork("hull", hidden=8).architecture()})
    (tmp_path / "stray.pt").write_bytes(b"not a checkpoint")  # no card beside it: not offered
    entries = zoo.available(tmp_path)
    assert [(e.name, e.task, e.model) for e in entries] == [("ptrnet_hull", "hull", "ptrnet")]
    assert zoo.load("ptrnet_hull", folder=tmp_path).architecture()["hidden"] == 8
    with pytest.raises(LabInputError, match="no checkpoint named"):
        zoo.load("am_tsp1000", folder=tmp_path)
    name = zoo.default_name("tsp")
    assert name is None or name in {e.name for e in zoo.available()}


def test_learning_rate_schedules_end_where_they_say():
    from lab.pointer.resume import cosine, phase_progress
    from lab.pointer.train import learning_rate

    assert cosine(1e-4, 1e-5, 0.0) == pytest.approx(1e-4) and cosine(1e-4, 1e-5, 1.0) == pytest.approx(1e-5)
    assert phase_progress(1, 11, 0.0, 0.0) == 0.0 and phase_progress(11, 11, 0.0, 0.0) == 1.0
    # the time limit comes first: progress by wall time
    assert phase_progress(2, 1000, time.time() - 5.0, 10.0) == pytest.approx(0.5, abs=0.05)
    sup = _tiny(steps=11)
    assert learning_rate(sup, "supervised", 1, 0.0) == pytest.approx(1e-3)
    assert learning_rate(sup, "supervised", 11, 0.0) == pytest.approx(1e-4)
    am = TrainConfig(task="tsp", model="am", n_min=5, n_max=6, hidden=16, steps=0, pomo_steps=101, pomo_lr=1e-4,
                     pomo_lr_final=1e-5, pomo_warmup=10)
    assert learning_rate(am, "pomo", 101, 0.0) == pytest.approx(1e-5)
    cold = [learning_rate(am, "pomo", k, 0.0, warmup=True) for k in (1, 5, 10, 11)]
    warm = [learning_rate(am, "pomo", k, 0.0) for k in (1, 5, 10, 11)]
    assert cold[0] == pytest.approx(warm[0] / 10) and cold[1] == pytest.approx(warm[1] / 2)
    assert cold[2:] == pytest.approx(warm[2:])  # full rate from the end of the warm-up on
    with pytest.raises(LabInputError, match="pomo_warmup"):
        TrainConfig(task="tsp", model="am", steps=0, pomo_steps=3, pomo_warmup=-1)


def _tiny_pomo(tmp_path, **kw):
    base = dict(task="tsp", model="am", n_min=5, n_max=6, hidden=16, layers=1, heads=2, steps=0, pomo_steps=3,
                pomo_batch=2, eval_num=2, eval_methods=("greedy",), checkpoint_path=str(tmp_path / "am.pt"))
    base.update(kw)
    return TrainConfig(**base)


def test_a_continued_run_picks_up_the_optimizer_state_saved_beside_its_checkpoint(tmp_path):
    """Adam's moments travel with the checkpoint (``.optim``), so a run split in two trains on as one."""
    from lab.pointer.resume import load_optimizer_state, optimizer_path

    first = run_train(_tiny_pomo(tmp_path))
    state_file = optimizer_path(tmp_path / "am.pt")
    assert state_file.exists() and state_file.suffix == ".optim"
    assert [e.name for e in zoo.available(tmp_path)] == ["am"]  # the zoo never offers it as a model
    state = load_optimizer_state(tmp_path / "am.pt", "pomo", {"supervised": 0, "pomo": 3})
    assert state is not None and {int(s["step"]) for s in state["state"].values()} == {3}
    assert first.card["training"]["steps_done"]["pomo"] == 3

    second = run_train(_tiny_pomo(tmp_path, init_checkpoint=str(tmp_path / "am.pt"),
                                  checkpoint_path=str(tmp_path / "more.pt"), pomo_steps=2))
    assert second.card["training"]["steps_done"]["pomo"] == 5
    more = load_optimizer_state(tmp_path / "more.pt", "pomo", {"supervised": 0, "pomo": 5})
    assert more is not None and {int(s["step"]) for s in more["state"].values()} == {5}  # 3 resumed + 2

    # a state that belongs to other step counts (stale) or that is not torch data is ignored: a fresh start
    assert load_optimizer_state(tmp_path / "am.pt", "pomo", {"supervised": 0, "pomo": 4}) is None
    assert load_optimizer_state(tmp_path / "am.pt", "supervised", {"supervised": 0, "pomo": 3}) is None
    state_file.write_bytes(b"not a torch file")
    assert load_optimizer_state(tmp_path / "am.pt", "pomo", {"supervised": 0, "pomo": 3}) is None
    third = run_train(_tiny_pomo(tmp_path, init_checkpoint=str(tmp_path / "am.pt"),
                                 checkpoint_path=str(tmp_path / "fresh.pt"), pomo_steps=2, pomo_warmup=5))
    fresh = load_optimizer_state(tmp_path / "fresh.pt", "pomo", {"supervised": 0, "pomo": 5})
    assert third.card["training"]["pomo_warmup"] == 5
    assert fresh is not None and {int(s["step"]) for s in fresh["state"].values()} == {2}


def test_the_training_script_saves_when_asked_to_stop(tmp_path):
    """SIGTERM ends a run like its time limit: after the current step, checkpoint and card written."""
    out = tmp_path / "tiny.pt"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "train_pointer.py"), "--task", "hull", "--n-min", "5", "--n-max", "6",
         "--hidden", "8", "--steps", "1000000", "--batch-size", "4", "--eval-num", "2", "--save-seconds", "1e9",
         "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if " step 50/" in line:  # it is training
                proc.send_signal(signal.SIGTERM)
                break
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    card = json.loads(out.with_suffix(".json").read_text())
    assert 50 <= card["training"]["steps_done"]["supervised"] < 1_000_000


def test_live_progress_reports_training_quantities_only():
    """The page charts every reported quantity on its own axis: the sampled n is not one of them."""
    seen: list[dict] = []
    run_train(_tiny(task="tsp", model="am", hidden=16, steps=2, pomo_steps=2, pomo_batch=2, n_min=5, n_max=6),
              on_progress=lambda step, total, metrics: seen.append(dict(metrics)) and False)
    assert [set(m) for m in seen] == [{"loss"}, {"loss"}, {"loss", "pomo_tour_length"}, {"loss", "pomo_tour_length"}]
