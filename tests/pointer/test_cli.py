"""`dynlab pointer solve|eval` through lab.cli.main: the JSON contract and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lab.cli import main
from lab.pointer.io import read_tour, tsplib_text
from lab.pointer.tasks import is_valid_tour


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, argv):
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    return json.loads(out)


def test_solve_random_tsp_contract(capsys):
    doc = _json(capsys, ["pointer", "solve", "--task", "tsp", "--n", "12", "--num", "3", "--seed", "5",
                         "--solver", "two_opt", "--reference", "--json"])
    assert set(doc) >= {"instances", "mean_length", "mean_gap", "seconds"}
    assert len(doc["instances"]) == 3
    for inst in doc["instances"]:
        assert is_valid_tour(inst["tour"], 12) and inst["tour"][0] == 0
        assert inst["gap"] == pytest.approx(inst["length"] / inst["reference_length"] - 1)
        assert inst["gap"] >= -1e-9
    assert doc["mean_gap"] == pytest.approx(np.mean([i["gap"] for i in doc["instances"]]))


def test_solve_without_reference_gives_nulls(capsys):
    doc = _json(capsys, ["pointer", "solve", "--n", "6", "--solver", "nearest_neighbour", "--json"])
    assert doc["instances"][0]["reference_length"] is None and doc["mean_gap"] is None


def test_solve_tsplib_uses_file_convention(tmp_path, capsys):
    pts = np.array([[0, 0], [3, 0], [3, 4], [0, 4], [1, 1]], dtype=float)
    path = tmp_path / "five.tsp"
    path.write_text(tsplib_text(pts, "five", "EUC_2D"))
    tour_path = tmp_path / "five.tour"
    doc = _json(capsys, ["pointer", "solve", "--input", str(path), "--solver", "reference", "--reference",
                         "--save-tour", str(tour_path), "--json"])
    inst = doc["instances"][0]
    assert inst["length"] == float(int(inst["length"]))  # integer TSPLIB distances
    assert inst["reference_length"] == inst["length"] and inst["gap"] == 0
    # e.g. (0,0)-(1,1) 1.414->1, (1,1)-(3,0) 2.236->2, then 4, 3, 4: the optimum is 14 under EUC_2D rounding
    assert inst["length"] == 14
    assert read_tour(tour_path).tolist() == inst["tour"]


def test_solve_hull_and_delaunay_keys(capsys, monkeypatch):
    doc = _json(capsys, ["pointer", "solve", "--task", "hull", "--n", "15", "--num", "2", "--json"])
    assert "hull" in doc["instances"][0] and 0 <= doc["accuracy"] <= 1 and 0 <= doc["area_coverage"] <= 1
    from lab.pointer import zoo

    monkeypatch.setattr(zoo, "available", lambda folder=None: [])  # no checkpoint: the exact scipy labels
    doc = _json(capsys, ["pointer", "solve", "--task", "hull", "--n", "15", "--num", "2", "--json"])
    assert doc["accuracy"] == 1.0 and doc["area_coverage"] == 1.0 and "note" in doc
    doc = _json(capsys, ["pointer", "solve", "--task", "delaunay", "--n", "8", "--json"])
    tri = doc["instances"][0]["triangles"]
    assert all(len(t) == 3 for t in tri) and doc["triangle_coverage"] == 1.0


def test_eval_reports_baselines(capsys):
    doc = _json(capsys, ["pointer", "eval", "--n", "10", "--num", "4", "--solver", "nearest_neighbour",
                         "--baselines", "two_opt", "--json"])
    assert doc["num"] == 4 and doc["mean_gap"] >= 0 and doc["baselines"]["two_opt"] <= doc["mean_gap"] + 1e-9


BAD = {
    "missing.tsp": ("NAME : m\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n"
                    "1 0 0\n2 1\n3 2 2\nEOF\n", "no y coordinate"),
    "nan.csv": ("x,y\n0,0\n1,nan\n2,1\n", "NaN"),
    "two.csv": ("x,y\n0,0\n1,1\n", "at least 3"),
    "explicit.tsp": ("NAME : e\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : FULL_MATRIX\n"
                     "EDGE_WEIGHT_SECTION\n0 1 2\n1 0 3\n2 3 0\nEOF\n", "not supported: EXPLICIT"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_one_line_exit_2(tmp_path, capsys, name):
    text, match = BAD[name]
    path = tmp_path / name
    path.write_text(text)
    code, out, err = _run(capsys, ["pointer", "solve", "--input", str(path), "--json"])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and match in err


def test_duplicate_points_for_hull(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("x,y\n0,0\n1,0\n0,1\n1,0\n")
    code, _, err = _run(capsys, ["pointer", "solve", "--task", "hull", "--input", str(path), "--json"])
    assert code == 2 and "repeats point" in err and len(err.strip().splitlines()) == 1


def test_missing_input_and_bad_options(capsys):
    code, _, err = _run(capsys, ["pointer", "solve", "--json"])
    assert code == 2 and "--input" in err
    code, _, err = _run(capsys, ["pointer", "solve", "--task", "hull", "--n", "5", "--solver", "two_opt"])
    assert code == 2 and "--solver" in err


@pytest.fixture(scope="module")
def ptrnet_tsp_checkpoint(tmp_path_factory):
    import torch

    from lab.core.checkpoints import save_checkpoint
    from lab.pointer.models import build_model

    torch.manual_seed(0)
    net = build_model({"model": "ptrnet", "task": "tsp", "hidden": 16})
    path = tmp_path_factory.mktemp("ckpt") / "tiny_ptrnet_tsp.pt"
    save_checkpoint(path, net.state_dict(), {"architecture": net.architecture(), "note": "untrained, for tests"})
    return path


@pytest.mark.parametrize("decode", ["greedy", "beam", "sample", "pomo"])
def test_solve_with_a_checkpoint_gives_valid_tours(capsys, ptrnet_tsp_checkpoint, decode):
    doc = _json(capsys, ["pointer", "solve", "--n", "9", "--num", "2", "--checkpoint", str(ptrnet_tsp_checkpoint),
                         "--decode", decode, "--beam-width", "3", "--samples", "4", "--reference", "--json"])
    assert doc["method"].startswith("ptrnet")
    for inst in doc["instances"]:
        assert is_valid_tour(inst["tour"], 9) and inst["tour"][0] == 0 and inst["gap"] >= -1e-9


def test_checkpoint_of_wrong_architecture_exits_2(capsys, ptrnet_tsp_checkpoint):
    code, out, err = _run(capsys, ["pointer", "solve", "--n", "6", "--model", "am",
                                   "--checkpoint", str(ptrnet_tsp_checkpoint), "--json"])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, ["pointer", "solve", "--task", "hull", "--n", "6",
                                 "--checkpoint", str(ptrnet_tsp_checkpoint), "--json"])
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_model_without_checkpoint_says_so(capsys, monkeypatch):
    from lab.pointer import zoo

    monkeypatch.setattr(zoo, "available", lambda folder=None: [])
    code, out, err = _run(capsys, ["pointer", "solve", "--n", "6", "--model", "am", "--json"])
    assert code == 2 and out == "" and "no trained am checkpoint" in err and len(err.strip().splitlines()) == 1
    doc = _json(capsys, ["pointer", "solve", "--n", "6", "--json"])  # auto falls back, and says so
    assert "note" in doc and is_valid_tour(doc["instances"][0]["tour"], 6)


def test_a_saved_solve_reruns_by_its_verb_to_the_same_metrics(capsys):
    from lab.core.runstore import RunStore
    from lab.core.verbs import deterministic_metrics, rerun_work

    doc = _json(capsys, ["pointer", "solve", "--n", "8", "--num", "2", "--seed", "3", "--solver", "held_karp",
                         "--reference", "--json"])
    run = RunStore().load_run(doc["run_id"])
    assert run.verb == "solve" and run.config["n"] == 8 and run.config["seed"] == 3
    assert {"result.json", "metrics.csv"} <= {p.name for p in run.artifact_path("x").parent.iterdir()}
    lab, verb, config, work = rerun_work(run)
    assert (lab, verb) == ("pointer", "solve")
    again = work(lambda step, total, metrics: False)
    assert again.metrics["mean_gap"] == pytest.approx(0.0, abs=1e-9)
    assert deterministic_metrics(again.metrics) == deterministic_metrics(run.metrics)


def test_the_checkpoint_is_chosen_by_the_size_of_the_instances_wherever_they_come_from(tmp_path, capsys,
                                                                                        monkeypatch):
    """A 50-node file gets the TSP50 attention model (it used to get the TSP20 one), a 20-node one TSP20."""
    from lab.pointer import service, zoo

    if zoo.default_name("tsp", "am", n=50) != "am_tsp50":
        pytest.skip("needs the shipped am_tsp20 and am_tsp50 checkpoints")
    used = []
    real = service.load_model

    def spy(task, model, checkpoint, device="cpu"):
        used.append(Path(checkpoint).stem)
        return real(task, model, checkpoint, device)

    monkeypatch.setattr(service, "load_model", spy)
    rng = np.random.default_rng(0)
    big = tmp_path / "fifty.tsp"
    big.write_text(tsplib_text(rng.random((50, 2)) * 1000, "fifty", "EUC_2D"))
    _json(capsys, ["pointer", "solve", "--input", str(big), "--model", "am", "--json"])
    assert used == ["am_tsp50"]
    # one file with instances of two sizes: each size gets its own checkpoint
    mixed = tmp_path / "mixed.csv"
    rows = [(0, *p) for p in rng.random((20, 2))] + [(1, *p) for p in rng.random((50, 2))]
    mixed.write_text("instance,x,y\n" + "".join(f"{i},{x},{y}\n" for i, x, y in rows))
    used.clear()
    doc = _json(capsys, ["pointer", "solve", "--input", str(mixed), "--model", "am", "--json"])
    assert sorted(used) == ["am_tsp20", "am_tsp50"] and [i["n"] for i in doc["instances"]] == [20, 50]
    used.clear()
    _json(capsys, ["pointer", "solve", "--n", "50", "--json"])  # --model auto, random instances: the same rule
    assert used == ["am_tsp50"]


def test_sample_decoding_follows_seed(tmp_path, capsys, ptrnet_tsp_checkpoint):
    """``--decode sample`` on one file: the same --seed gives the same tours, other seeds other tours."""
    path = tmp_path / "twelve.csv"
    rng = np.random.default_rng(1)
    path.write_text("instance,x,y\n" + "".join(f"{b},{x},{y}\n" for b in range(4) for x, y in rng.random((12, 2))))

    def tours(seed: int) -> list[list[int]]:
        doc = _json(capsys, ["pointer", "solve", "--input", str(path), "--checkpoint", str(ptrnet_tsp_checkpoint),
                             "--decode", "sample", "--samples", "4", "--seed", str(seed), "--json"])
        return [i["tour"] for i in doc["instances"]]

    first = tours(0)
    assert tours(0) == first
    assert tours(1) != first or tours(2) != first


def test_unavailable_device_falls_back_saying_so_and_unknown_device_is_refused(capsys):
    import torch

    code, out, err = _run(capsys, ["pointer", "solve", "--task", "hull", "--n", "8", "--num", "2", "--device", "cuda",
                                   "--hull-rule", "convex", "--json"])
    assert code == 0 and len(json.loads(out)["instances"]) == 2
    if not torch.cuda.is_available():
        assert "no CUDA device" in err
    code, out, err = _run(capsys, ["pointer", "solve", "--task", "hull", "--n", "8", "--device", "gpu", "--json"])
    assert code == 2 and "Unknown device" in err and len(err.strip().splitlines()) == 1


def test_hull_pomo_and_beam_through_the_cli_and_delaunay_pomo_refused(capsys):
    for decode in ("pomo", "beam"):
        doc = _json(capsys, ["pointer", "solve", "--task", "hull", "--n", "20", "--num", "3", "--seed", "2",
                             "--decode", decode, "--json"])
        assert all(len(i["hull"]) >= 3 and 0 <= i["area_coverage"] <= 1 + 1e-9 for i in doc["instances"])
    code, out, err = _run(capsys, ["pointer", "solve", "--task", "delaunay", "--n", "8", "--decode", "pomo", "--json"])
    assert code == 2 and "POMO" in err and len(err.strip().splitlines()) == 1


def test_device_defaults_to_dynlab_device(capsys, monkeypatch):
    """No --device: DYNLAB_DEVICE decides (it used to be a hard-coded cpu)."""
    from lab.core import device
    from lab.core.runstore import RunStore

    monkeypatch.setattr(device, "_cuda_available", lambda: True)  # a classical solver never touches the device
    monkeypatch.setenv("DYNLAB_DEVICE", "cuda")
    doc = _json(capsys, ["pointer", "solve", "--n", "6", "--solver", "nearest_neighbour", "--json"])
    assert RunStore().load_run(doc["run_id"]).config["device"] == "cuda"


def test_train_takes_its_defaults_from_the_config_saves_its_verb_and_resumes(tmp_path, capsys):
    from lab.core.runstore import RunStore
    from lab.pointer import zoo
    from lab.pointer.train import TrainConfig

    out = tmp_path / "m.pt"
    argv = ["pointer", "train", "--task", "hull", "--n-min", "5", "--n-max", "6", "--hidden", "8", "--steps", "3",
            "--batch-size", "4", "--json", "-o", str(out)]
    doc = _json(capsys, argv)
    run = RunStore().load_run(doc["run_id"])
    assert run.verb == "train" and doc["checkpoint"] == str(out) and "accuracy_greedy_n6" in doc["metrics"]
    expected = TrainConfig(task="hull", n_min=5, n_max=6, hidden=8, steps=3, batch_size=4, device="cpu")
    assert run.config == expected.to_dict()  # every option not given is the config's default
    assert zoo.load(out, task="hull").architecture()["hidden"] == 8
    doc = _json(capsys, [*argv[:-2], "--steps", "2", "--resume", str(out), "-o", str(tmp_path / "m2.pt")])
    card = json.loads((tmp_path / "m2.json").read_text())
    assert card["training"]["steps_done"]["supervised"] == 5
    assert RunStore().load_run(doc["run_id"]).config["init_checkpoint"] == str(out)
    code, out_text, err = _run(capsys, ["pointer", "train", "--task", "sorting", "--json"])
    assert code == 2 and out_text == "" and len(err.strip().splitlines()) == 1 and "unknown task" in err


def test_polish_reports_the_models_tour_and_the_polished_one_apart(capsys, tmp_path):
    code = main(["pointer", "solve", "--n", "60", "--num", "2", "--seed", "4", "--reference", "--polish",
                 "--checkpoint", "untrained", "--model", "ptrnet", "--save-tour", str(tmp_path / "t.tour"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    for inst in doc["instances"]:
        assert sorted(inst["polished_tour"]) == list(range(60)) and inst["polished_length"] < inst["length"]
        assert inst["polished_gap"] < inst["gap"]  # the network's own gap stays visible beside it
    assert doc["mean_polished_gap"] < doc["mean_gap"]
    saved = read_tour(str(tmp_path / "t_0.tour"))  # --save-tour writes the polished tour
    assert list(np.asarray(saved).tolist()) == doc["instances"][0]["polished_tour"]
    assert main(["pointer", "solve", "--task", "hull", "--n", "8", "--polish"]) == 2
    assert "nothing to polish" in capsys.readouterr().err


def test_a_gap_to_the_reference_is_never_negative(capsys):
    """The reference is exact on rounded distances; on the real ones a method may not beat it by a hair."""
    code = main(["pointer", "solve", "--n", "18", "--num", "40", "--seed", "11", "--solver", "two_opt", "--reference",
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and all(inst["gap"] >= 0 for inst in doc["instances"])
    assert all(inst["length"] >= inst["reference_length"] for inst in doc["instances"])


def test_train_an_x_order_hull_model_and_solve_with_it(tmp_path, capsys):
    out = tmp_path / "x.pt"
    doc = _json(capsys, ["pointer", "train", "--task", "hull", "--input-order", "x", "--n-min", "5", "--n-max", "8",
                         "--hidden", "8", "--steps", "2", "--batch-size", "4", "--json", "-o", str(out)])
    assert json.loads((tmp_path / "x.json").read_text())["architecture"]["input_order"] == "x"
    doc = _json(capsys, ["pointer", "solve", "--task", "hull", "--n", "9", "--num", "2", "--checkpoint", str(out),
                         "--json"])
    assert len(doc["instances"]) == 2
    code, out_text, err = _run(capsys, ["pointer", "train", "--task", "tsp", "--input-order", "x", "--json"])
    assert code == 2 and out_text == "" and len(err.strip().splitlines()) == 1 and "input order" in err


def test_above_100_nodes_the_tsp50_model_before_its_fine_tune_is_preferred():
    from lab.pointer import zoo

    names = {e.name for e in zoo.available()}
    if not {"am_tsp50", "am_tsp50_imitation"} <= names:
        pytest.skip("needs the shipped am_tsp50 and am_tsp50_imitation checkpoints")
    assert zoo.default_name("tsp", "am", n=100) == "am_tsp50"
    assert zoo.default_name("tsp", "am", n=101) == zoo.default_name("tsp", n=300) == "am_tsp50_imitation"
    assert zoo.default_name("tsp", "am", n=20) == "am_tsp20" and zoo.default_name("tsp", "ptrnet") == "ptrnet_tsp"


def test_train_refuses_an_output_that_is_not_a_pt_file_before_it_trains(tmp_path, capsys):
    assert main(["pointer", "train", "--task", "hull", "--steps", "1", "-o", str(tmp_path / "model.bin")]) == 2
    err = capsys.readouterr().err
    assert "with .pt" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "model.bin").exists()
