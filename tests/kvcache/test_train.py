"""Training: a few steps lower the loss, a stop keeps the model, a resumed run equals an unbroken one, CLI."""

from __future__ import annotations

import json

import pytest
import torch

from lab.cli import main
from lab.core.errors import LabInputError
from lab.kvcache.model import load_model
from lab.kvcache.train import TrainConfig, run_train

TINY = {"layers": 1, "heads": 2, "hidden": 32, "batch_size": 8, "questions": 4, "eval_num": 8, "warmup": 0,
        "curriculum": 0.0, "tasks": ("disambiguation",)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def test_a_few_steps_reduce_the_loss():
    result = run_train(TrainConfig(**TINY, steps=30, lr=1e-2))
    loss = result.curves["loss"]
    assert len(loss) == 30 and sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.3
    assert set(result.scores) == {"accuracy_disambiguation", "accuracy_mean"}
    assert result.model.config._attn_implementation == "eager" and not result.model.training


def test_stop_keeps_the_model_and_resuming_equals_an_unbroken_run(tmp_path):
    whole = run_train(TrainConfig(**TINY, steps=4))
    state = tmp_path / "state.pt"
    calls = []
    part = run_train(TrainConfig(**TINY, steps=4, state=str(state)), lambda s, t, m: calls.append(s) or s == 2)
    assert part.stopped and part.steps_done == 2 and calls == [1, 2] and state.exists()
    rest = run_train(TrainConfig(**TINY, steps=4, state=str(state)))
    assert rest.steps_done == 4 and rest.curves["loss"] == pytest.approx(whole.curves["loss"])
    for a, b in zip(whole.model.parameters(), rest.model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    with pytest.raises(LabInputError, match="different model"):
        run_train(TrainConfig(**{**TINY, "hidden": 16}, steps=4, state=str(state)))


def test_the_artifacts_load_as_a_checkpoint(tmp_path):
    result = run_train(TrainConfig(**TINY, steps=1))
    for name, blob in result.artifacts().items():
        (tmp_path / name).write_bytes(blob if isinstance(blob, bytes) else blob.encode())
    loaded = load_model(str(tmp_path / "kv_llama.pt"))
    assert loaded.card["metrics"]["eval_num_per_task"] == 8 and loaded.card["architecture"]["hidden_size"] == 32


@pytest.mark.parametrize("changes,words", [({"tasks": ("sorting",)}, "unknown task"), ({"hidden": 33}, "multiple"),
                                          ({"curriculum": 2.0}, "curriculum"), ({"steps": -1}, "steps"),
                                          ({"copy": 16, "copy_min": 20}, "copy min"), ({"copy_min": 1}, "copy min")])
def test_bad_configs_are_one_sentence_errors(changes, words):
    with pytest.raises(LabInputError, match=words):
        TrainConfig(**{**TINY, **changes})


def test_copy_min_draws_the_copy_length_each_step(monkeypatch):
    import lab.kvcache.train as train

    lengths = []
    real = train.copy_loss
    monkeypatch.setattr(train, "copy_loss", lambda model, length, *a: lengths.append(length) or real(model, length, *a))
    run_train(TrainConfig(**TINY, steps=12, copy=12, copy_min=4))
    assert len(lengths) == 12 and all(4 <= n <= 12 for n in lengths) and len(set(lengths)) > 2
    lengths.clear()
    run_train(TrainConfig(**TINY, steps=3, copy=12, copy_min=0))
    assert lengths == [12, 12, 12]  # copy_min 0: one fixed length
    lengths.clear()
    run_train(TrainConfig(**TINY, steps=2, copy=0))  # no copy task: copy_min (default 8) does not matter
    assert lengths == []


def test_dynlab_kv_train_json(capsys):
    args = ["kv", "train", "--layers", "1", "--heads", "2", "--hidden", "16", "--steps", "2", "--batch-size", "2",
            "--eval-num", "4", "--tasks", "multi_hop", "coreference", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["metrics"]) >= {"accuracy_multi_hop", "accuracy_coreference", "accuracy_mean", "steps_done"}
    assert main(["kv", "train", "--tasks", "sorting", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown task" in err


def test_practice_questions_follow_the_evaluated_ones_and_are_marked():
    import numpy as np

    from lab.kvcache.train import training_batch
    from lab.kvcache.vocab import WordCodec

    codec = WordCodec()
    # 6 chains, distinct ends: 3 evaluated questions (no answer by elimination), each answered in two tokens
    # (the middle it writes, then the end) and followed by one practice question
    ids, pos, ans, real = training_batch("multi_hop", 3, 6, 16, np.random.default_rng(0), codec, practice=True)
    assert real.shape == pos.shape == ans.shape == (3, 9)
    assert real[:, 0::3].all() and real[:, 1::3].all() and not real[:, 2::3].any()
    words = [codec.decode(row) for row in ids]
    for b in range(3):
        w = words[b]
        context = w[: w.index("end")]
        for q in range(9):
            p = int(pos[b, q])
            assert int(ids[b, p + 1]) == int(ans[b, q])  # teacher forcing: the target is the next token
            if q % 3 == 1:  # the end, predicted at the written middle, which follows the question
                assert w[p - 3:p - 1] == ["end", "of"]
                key = next(i for i in range(len(context)) if context[i] == w[p] and context[i - 1] == "from")
                assert context[key - 2] == w[p + 1]  # "end from middle ."
            else:  # a question's last token
                assert w[p - 2:p] == ["end", "of"]
                if q % 3 == 0:  # the middle: "middle from source ."
                    assert context[context.index(w[p]) - 2] == w[p + 1]
        # practice is about the asked chains only: its answers are among the evaluated ends
        assert set(ans[b, 2::3].tolist()) == set(ans[b, 1::3].tolist())
    _, pos, _, real = training_batch("multi_hop", 2, 6, 16, np.random.default_rng(0), codec, practice=False)
    assert pos.shape == (2, 6) and real.all()


def test_distinct_answers_are_asked_about_half_the_symbols_others_all():
    import numpy as np

    from lab.kvcache.tasks import TASKS, generate, task_rng
    from lab.kvcache.train import asked_count, training_batch
    from lab.kvcache.vocab import WordCodec

    assert asked_count("disambiguation", 9, 16) == 4 and asked_count("multi_hop", 2, 16) == 1
    assert asked_count("coreference", 16, 16) == 16 and asked_count("multi_entity", 20, 16) == 16
    for task in TASKS:  # the property the rule rests on, checked on samples of every size
        rng = task_rng(task, 3)
        for size in (2, 5, 8):
            answers = [q.answer for q in generate(task, rng, size).queries]
            assert (len(set(answers)) == len(answers)) or task not in ("disambiguation", "multi_hop")
    _, pos, _, _ = training_batch("disambiguation", 2, 9, 16, np.random.default_rng(1), WordCodec())
    assert pos.shape == (2, 4)
    _, pos, _, _ = training_batch("multi_entity", 40, 8, 16, np.random.default_rng(1), WordCodec())
    assert pos.shape == (40, 8)  # repeated answers: every symbol asked, one shape for the batch


def test_reset_levels_restarts_the_earned_level(tmp_path):
    import io

    import torch

    from lab.kvcache.train import reset_levels

    path = tmp_path / "state.pt"
    buffer = io.BytesIO()
    torch.save({"curves": {"level_multi_hop": [2, 5, 9], "loss": [1.0, 0.5, 0.4]}}, buffer)
    path.write_bytes(buffer.getvalue())
    reset_levels(path, ["multi_hop", "disambiguation"])
    curves = torch.load(path, weights_only=True)["curves"]
    assert curves["level_multi_hop"] == [2, 5, 2] and curves["level_disambiguation"] == [2]
    assert len(curves["loss"]) == 3
    with pytest.raises(LabInputError):
        reset_levels(path, ["sorting"])


def test_a_mastered_task_gets_a_quarter_batch_until_it_slips():
    from lab.kvcache.tasks import FULL_SIZE
    from lab.kvcache.train import TrainConfig, task_batch_size

    config = TrainConfig(batch_size=32)
    full = FULL_SIZE["coreference"]
    assert task_batch_size("coreference", config, [full] * 60, [1.0] * 60) == 8
    assert task_batch_size("coreference", config, [full] * 60, [1.0] * 30 + [0.9] * 30) == 32  # slipped
    assert task_batch_size("coreference", config, [full - 1] * 60, [1.0] * 60) == 32  # not at full size yet
    assert task_batch_size("coreference", config, [full] * 10, [1.0] * 10) == 32  # too few steps to tell
