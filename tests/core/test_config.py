"""LabConfig: validated once, frozen after, JSON round trip exact, defaults read from the class."""

import dataclasses
import json

import pytest

from lab.core.cli import OneLineArgumentParser, add_config_arguments, config_values
from lab.core.config import LabConfig
from lab.core.errors import LabInputError
from lab.core.verbs import config_key, content_hash, deterministic_metrics


@dataclasses.dataclass(frozen=True)
class ToyConfig(LabConfig):
    task: str = "tsp"
    steps: int = 200
    lr: float = 1e-3
    sizes: tuple[int, ...] = (5, 10)
    limit: float | None = None
    flag: bool = False
    extra: dict = dataclasses.field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_choice("task", ("tsp", "hull"))
        self.normalise("sizes", tuple(sorted(self.sizes)))


def test_round_trip_is_exact_through_json():
    config = ToyConfig(task="hull", sizes=(10, 3), limit=2.5, flag=True, extra={"a": [1, 2]}, seed=4)
    data = json.loads(json.dumps(config.to_dict()))
    assert data["sizes"] == [3, 10]
    again = ToyConfig.from_dict(data)
    assert again == config and isinstance(again.sizes, tuple)


def test_frozen_after_validation_and_replace_validates():
    config = ToyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 5
    assert config.replace(steps=5).steps == 5
    with pytest.raises(LabInputError, match="unknown task 'tour'; choose one of tsp, hull."):
        config.replace(task="tour")


def test_seed_and_device_are_checked_by_the_base():
    with pytest.raises(LabInputError, match="seed is -1"):
        ToyConfig(seed=-1)
    with pytest.raises(LabInputError, match="unknown device 'tpu'"):
        ToyConfig(device="tpu")


def test_from_dict_strict_names_the_unknown_field():
    assert ToyConfig.from_dict({"steps": 3, "other": 1}).steps == 3
    with pytest.raises(LabInputError, match="has no field 'other'"):
        ToyConfig.from_dict({"other": 1}, strict=True)
    with pytest.raises(LabInputError, match="JSON object"):
        ToyConfig.from_dict([1, 2])


def test_defaults_come_from_the_config_on_the_command_line():
    parser = OneLineArgumentParser(prog="toy")
    names = add_config_arguments(parser, ToyConfig)
    assert "extra" not in names and "steps" in names
    assert "(default 200)" in parser.format_help()
    args = parser.parse_args(["--sizes", "7", "3", "--flag", "true"])
    config = ToyConfig(**config_values(args, names))
    assert config.steps == ToyConfig.default("steps") == 200 and config.sizes == (3, 7) and config.flag is True


def test_config_key_follows_config_and_data_content():
    a, b = ToyConfig(), ToyConfig(steps=3)
    assert config_key(a) == config_key(ToyConfig()) != config_key(b)
    assert config_key(a, content_hash(b"file A")) != config_key(a, content_hash(b"file B"))


def test_deterministic_metrics_leave_out_timings():
    metrics = {"gap": 0.1, "seconds": 2.0, "fit_seconds": 1.0, "instances_per_s_greedy": 9.0}
    assert deterministic_metrics(metrics) == {"gap": 0.1}
