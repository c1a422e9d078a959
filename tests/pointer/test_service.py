"""The pointer lab's verbs on the contract: frozen configs, partial results on stop, model choice and caching."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from lab.core.checkpoints import save_checkpoint
from lab.core.errors import LabInputError
from lab.pointer import methods, service, zoo
from lab.pointer.generalisation import GRIDS, GeneraliseConfig, run_generalise
from lab.pointer.io import output_csv, random_instance_list
from lab.pointer.models import PointerNetwork
from lab.pointer.service import SolveConfig, run_solve
from lab.pointer.train import TrainConfig

torch.set_num_threads(1)


@pytest.mark.parametrize("cls, values", [
    (SolveConfig, {"task": "hull", "decode": "beam", "n": 9, "input": "x.csv"}),
    (TrainConfig, {"task": "tsp", "model": "am", "hidden": 32, "eval_ns": (10, 20)}),
    (GeneraliseConfig, {"task": "delaunay", "sizes": (5, 6)}),
])
def test_configs_are_frozen_and_round_trip(cls, values):
    config = cls(**values)
    assert cls.from_dict(config.to_dict()) == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.task = "tsp"


def test_normalised_defaults_live_in_the_config():
    assert TrainConfig(model="ptrnet").layers == 1 and TrainConfig(task="tsp", model="am").layers == 2
    assert TrainConfig(n_max=12).eval_ns == (12,)
    assert TrainConfig(task="tsp", model="am").eval_methods == ("greedy", "pomo")
    assert GeneraliseConfig(task="hull").sizes == GRIDS["hull"][:4]


@pytest.mark.parametrize("bad", [dict(task="sorting"), dict(model="lstm"), dict(decode="viterbi"),
                                 dict(solver="magic"), dict(hull_rule="star"), dict(seed=-1), dict(n=2),
                                 dict(task="delaunay", decode="pomo"), dict(device="tpu")])
def test_bad_solve_configs_are_one_sentence(bad):
    with pytest.raises(LabInputError) as err:
        SolveConfig(**bad)
    assert len(str(err.value).splitlines()) == 1


def test_a_stop_request_returns_the_instances_solved_so_far():
    config = SolveConfig(model=None, solver="nearest_neighbour", n=5, num=service.GROUP + 5)
    seen = []
    result = run_solve(config, on_progress=lambda step, total, m: seen.append((step, total)) or True)
    assert seen == [(service.GROUP, service.GROUP + 5)]
    assert len(result.instances) == service.GROUP and result.total == service.GROUP + 5
    assert result.metrics()["instances"] == service.GROUP
    full = run_solve(config)
    assert [r.output.tolist() for r in full.instances[: service.GROUP]] == [r.output.tolist() for r in result.instances]


def test_auto_falls_back_to_the_classical_method_and_says_so(monkeypatch):
    monkeypatch.setattr(zoo, "available", lambda folder=None: [])
    result = run_solve(SolveConfig(task="tsp", n=7))
    assert "classical baseline" in result.note and result.method == "farthest insertion"
    with pytest.raises(LabInputError, match="no trained am checkpoint"):
        run_solve(SolveConfig(task="tsp", model="am", n=7))


def test_choose_model_picks_by_size_and_honours_a_given_checkpoint():
    if zoo.default_name("tsp", "am", n=50) != "am_tsp50":
        pytest.skip("needs the shipped am_tsp20 and am_tsp50 checkpoints")
    kind, ckpt, _ = service.choose_model(SolveConfig(model="am"), 50)
    assert kind == "am" and ckpt.endswith("am_tsp50.pt")
    assert service.choose_model(SolveConfig(model="am"), 20)[1].endswith("am_tsp20.pt")
    assert service.choose_model(SolveConfig(model="auto", checkpoint="untrained"), 50) == ("ptrnet", "untrained", "")
    assert service.choose_model(SolveConfig(model=None), 50) == (None, None, "")


def test_load_cached_keeps_a_model_until_its_file_changes(tmp_path):
    path = tmp_path / "h.pt"
    save_checkpoint(path, PointerNetwork("hull", hidden=8).state_dict(),
                    {"architecture": PointerNetwork("hull", hidden=8).architecture()})
    first = zoo.load_cached(path, task="hull")
    assert zoo.load_cached(path, task="hull") is first
    stamp = zoo.stamp(path)
    save_checkpoint(path, PointerNetwork("hull", hidden=8).state_dict(),
                    {"architecture": PointerNetwork("hull", hidden=8).architecture()})
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a later save
    assert zoo.load_cached(path, task="hull") is not first and zoo.stamp(path) != stamp
    state = torch.get_rng_state()
    untrained = zoo.untrained("hull")
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone
    assert zoo.untrained("hull") is untrained


def test_generalise_verb_measures_each_size_and_stops_between_sizes():
    config = GeneraliseConfig(task="hull", model="ptrnet", checkpoint="untrained", sizes=(5, 8, 12), num=3)
    result = run_generalise(config)
    assert [r["n"] for r in result.rows] == [5, 8, 12] and result.label == "ptrnet, untrained"
    assert set(result.metrics()) >= {"accuracy_n5", "area_coverage_n12", "instances_per_second_n8"}
    stopped = run_generalise(config, on_progress=lambda step, total, m: step >= 2)
    assert [r["n"] for r in stopped.rows] == [5, 8]
    assert stopped.rows == [{**r, "instances_per_second": s["instances_per_second"]}
                            for r, s in zip(result.rows[:2], stopped.rows, strict=True)]


def test_trained_runs_are_offered_by_their_checkpoint():
    from lab.core.verbs import run_foreground_verb

    config = TrainConfig(task="hull", n_min=5, n_max=6, hidden=8, steps=2, batch_size=4, eval_num=2)
    _, run_id = run_foreground_verb("pointer", "train", config)
    options = methods.trained_options("hull", [run_id, "pointer-20000101-000000-abcdef"])
    assert [o.key for o in options] == [f"run:{run_id}"] and options[0].label.startswith("trained here: ptrnet hull")
    assert methods.trained_options("tsp", [run_id]) == []
    data = random_instance_list(7, 2, seed=0)
    result = run_solve(SolveConfig(task="hull", **options[0].fields(), trace=True), data=data)
    assert len(result.instances) == 2 and result.instances[0].attention is not None


def test_output_csv_and_downloads():
    assert output_csv("hull", [3, 1, 2]) == "3\n1\n2\n"
    assert output_csv("delaunay", np.array([[0, 1, 2], [1, 2, 3]])) == "0,1,2\n1,2,3\n"
    result = run_solve(SolveConfig(model=None, n=6, reference=True))
    files = result.instances[0].downloads("tsp")
    assert set(files) == {"Tour (.tour)", "Tour (CSV)"} and files["Tour (.tour)"][1].endswith(".tour")
    assert [label for label, _, _ in result.instances[0].headline("tsp")] == ["Length", "Reference", "Gap", "Valid",
                                                                            "Time"]


def test_generalise_without_a_checkpoint_measures_the_model_preferred_at_its_smallest_size():
    small = run_generalise(GeneraliseConfig(task="tsp", sizes=(10, 12), num=2))
    large = run_generalise(GeneraliseConfig(task="tsp", sizes=(60, 50), num=1))
    assert small.label == zoo.default_name("tsp", n=10) == "am_tsp20"
    assert large.label == zoo.default_name("tsp", n=50) == "am_tsp50"
