"""Predictors: constant velocity exact on straight lines, sampled CV spread, learned models' shapes, training."""

import numpy as np
import pytest
import torch

from lab.core.errors import LabInputError
from lab.trajectories.models import TrajectoryNet, make_batch, sample_modes, together_targets, trajectory_loss
from lab.trajectories.predictors import PREDICTORS, ConstantVelocity, GroupModel, make_predictor
from lab.trajectories.train import TrainConfig, augment, run_train, split


def _line(n=3, length=20, speed=0.5):
    t = np.arange(length)[None, :, None]
    start = np.arange(n)[:, None, None] * np.array([0.0, 2.0])
    heading = np.array([np.cos(0.3), np.sin(0.3)]) * speed
    return start + t * heading  # (n, length, 2)


def test_constant_velocity_is_exact_on_straight_lines():
    tracks = _line()
    (mean, samples), = ConstantVelocity(sigma_deg=0).predict_windows([tracks[:, :8]], 12, 4, np.random.default_rng(0))
    assert np.allclose(mean, tracks[:, 8:]) and np.allclose(samples, tracks[None, :, 8:])


def test_sampled_constant_velocity_turns_at_constant_speed():
    tracks = _line()
    (mean, samples), = ConstantVelocity(sigma_deg=25).predict_windows([tracks[:, :8]], 12, 50, np.random.default_rng(0))
    assert samples.shape == (50, 3, 12, 2)
    step = np.linalg.norm(samples[:, :, 0] - tracks[None, :, 7], axis=-1)
    assert np.allclose(step, 0.5)  # speed kept, heading changed
    spread = np.degrees(np.std(np.arctan2(*(samples[:, 0, -1] - tracks[0, 7]).T[::-1])))
    assert 15 < spread < 35


def test_learned_models_give_k_samples_and_symmetric_relations():
    torch.manual_seed(0)
    for relational in (False, True):
        model = TrajectoryNet(hidden=16, modes=6, relational=relational)
        obs = [_line(3)[:, :8], _line(2)[:, :8] + 5, _line(1)[:, :8]]
        pred = GroupModel(model=model) if relational else PREDICTORS["seq"](model=model)
        for k in (4, 6, 9):
            out = pred.predict_windows(obs, 12, k, np.random.default_rng(0))
            assert [o[1].shape for o in out] == [(k, 3, 12, 2), (k, 2, 12, 2), (k, 1, 12, 2)]
            assert all(np.isfinite(o[0]).all() for o in out)
        rel = pred.relations(obs)
        if relational:
            assert rel[0]["probs"].shape == (3, 3, 3) and np.allclose(rel[0]["probs"], rel[0]["probs"].transpose(1, 0, 2))
            assert rel[2]["probs"].shape == (1, 1, 3)
        else:
            assert rel is None
        short = pred.predict_windows([o[:, 3:] for o in obs], 5, 2, np.random.default_rng(0))  # 5 observed, 5 ahead
        long = pred.predict_windows(obs, 15, 2, np.random.default_rng(0))
        assert short[0][1].shape == (2, 3, 5, 2) and long[0][1].shape == (2, 3, 15, 2)


def test_unknown_model_is_one_sentence():
    with pytest.raises(LabInputError, match="unknown model 'lstm'"):
        make_predictor("lstm")


def test_a_few_training_steps_reduce_the_loss():
    rng = np.random.default_rng(0)
    tracks = augment([_line(3, speed=s) + rng.normal(0, 0.02, (3, 20, 2)) for s in (0.3, 0.5, 0.7, 0.4)], rng)
    obs, future = split(tracks, 8)
    batch = make_batch(obs)
    torch.manual_seed(0)
    model = TrajectoryNet(hidden=32, modes=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    together = together_targets(torch.as_tensor(np.concatenate(tracks), dtype=torch.float32), batch.pairs)
    losses = []
    for _ in range(30):
        loss, _ = trajectory_loss(model(batch), future, together=together)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_sample_modes_orders_by_probability():
    traj = torch.arange(3.0)[None, :, None, None].expand(1, 3, 2, 2)
    out = {"traj": traj, "mode_logits": torch.tensor([[0.0, 2.0, 1.0]])}
    picked, mean = sample_modes(out, 2)
    assert picked[:, 0, 0, 0].tolist() == [1.0, 2.0]
    assert mean[0, 0, 0] == pytest.approx(float((torch.tensor([0.0, 2.0, 1.0]).softmax(0) * torch.arange(3.0)).sum()))


def test_train_verb_runs_and_stops_at_the_time_limit():
    config = TrainConfig(model="seq", scenes=1, agents=8, frames=40, steps=100000, minutes=0.02, batch=4, eval_every=50)
    result = run_train(config)
    assert 1 <= result.steps_done < 100000 and result.val and "val_min_ade" in result.metrics()
    assert result.card()["architecture"]["model"] == "seq"
