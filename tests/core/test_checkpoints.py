import pytest
import torch

from lab.core.checkpoints import load_checkpoint, save_checkpoint
from lab.core.errors import LabInputError


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def test_round_trip(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model.state_dict(), {"architecture": {"model": "linear", "d": 3}, "seed": 0})
    state, card = load_checkpoint(path, {"model": "linear", "d": 3})
    assert card["seed"] == 0
    fresh = torch.nn.Linear(3, 2)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.weight, model.weight)


def test_wrong_architecture_is_refused_before_loading(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", _model().state_dict(), {"architecture": {"model": "linear", "d": 3}})

    def must_not_load(*a, **k):
        raise AssertionError("weights were read despite the wrong architecture")

    monkeypatch.setattr(torch, "load", must_not_load)
    with pytest.raises(LabInputError, match="model='linear', not model='ptrnet'"):
        load_checkpoint(path, {"model": "ptrnet"})


def test_missing_card_and_garbage_weights(tmp_path):
    (tmp_path / "lonely.pt").write_bytes(b"x")
    with pytest.raises(LabInputError, match="no card"):
        load_checkpoint(tmp_path / "lonely.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    (tmp_path / "bad.json").write_text('{"architecture": {"model": "linear"}}')
    with pytest.raises(LabInputError, match="could not be loaded"):
        load_checkpoint(tmp_path / "bad.pt")


def test_pickled_code_is_not_executed(tmp_path):
    """weights_only=True: a checkpoint carrying arbitrary objects is refused, not unpickled."""

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": Evil()}, tmp_path / "evil.pt")
    (tmp_path / "evil.json").write_text('{"architecture": {"model": "linear"}}')
    with pytest.raises(LabInputError):
        load_checkpoint(tmp_path / "evil.pt")
