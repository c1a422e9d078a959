import json
from pathlib import Path

import pytest

from lab.cli import main
from lab.connectome.cli import format_ranks, parse_ranks
from lab.core.runstore import RunStore

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "connectome"
SMALL = ["--neurons", "24", "--communities", "3", "--animals", "2", "--frames-per-epoch", "240"]


def test_run_synthetic_json(capsys):
    assert main(["connectome", "run", "--synthetic", *SMALL, "--rank", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"factors", "membership", "reconstruction_error", "seconds", "ari", "nmi"} <= set(doc)
    f = doc["factors"][0]
    assert {"time", "animal", "communities", "modularity"} <= set(f)
    assert isinstance(f["communities"][0][0], int)
    assert doc["ari"] > 0.8
    run = RunStore().load_run(doc["run_id"])  # saved with its verb, so it re-runs by name
    assert run.verb == "run" and run.status == "done" and run.config["rank"] == 3
    assert run.config["worm"]["neurons"] == 24 and run.config["device"] == "cpu"


def test_progress_on_a_pipe_is_plain_lines(capsys):
    assert main(["connectome", "run", "--synthetic", *SMALL, "--rank", "3", "--json"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith("NTF: 1/300")
    assert len(err.splitlines()) <= 3  # a line every few seconds at most, not one per iteration


@pytest.mark.parametrize("has_cuda", [True, False])
def test_device_default_honours_dynlab_device(capsys, monkeypatch, has_cuda):
    import lab.connectome.pipeline as pipeline
    import lab.core.device as device

    monkeypatch.setenv("DYNLAB_DEVICE", "cuda")
    monkeypatch.setattr(device, "_cuda_available", lambda: has_cuda)
    seen, real_fit = [], pipeline.fit_ntf

    def fit(*args, device, **kwargs):  # record where the NTF was sent; compute on the CPU here
        seen.append(device)
        return real_fit(*args, device="cpu", **kwargs)

    monkeypatch.setattr(pipeline, "fit_ntf", fit)
    assert main(["connectome", "run", "--synthetic", *SMALL, "--iterations", "2", "--json"]) == 0
    run = RunStore().load_run(json.loads(capsys.readouterr().out)["run_id"])
    expected = "cuda" if has_cuda else "cpu"
    assert run.config["device"] == expected and seen == [expected]


def test_defaults_come_from_the_configs():
    from lab.cli import build_parser
    from lab.connectome.config import ConnectomeConfig, ScanConfig
    from lab.connectome.synthetic import WormConfig

    args = build_parser().parse_args(["connectome", "scan"])
    assert args.worm_neurons == WormConfig.default("neurons") and args.neurons is None  # None: the config's rule
    assert args.iterations == ConnectomeConfig.default("n_iter_max")
    assert args.window == ConnectomeConfig.default("window") and args.method == ConnectomeConfig.default("method")
    assert parse_ranks(args.ranks) == list(ScanConfig.default("ranks")) and args.restarts == ScanConfig.default("restarts")
    assert args.device is None  # DYNLAB_DEVICE, else auto
    assert format_ranks((2, 4, 6)) == "2,4,6" and parse_ranks(format_ranks((1, 2, 3, 4))) == [1, 2, 3, 4]


@pytest.mark.parametrize("name", ["worm.csv", "worm.npz", "worm.nwb"])
def test_run_sample_files(capsys, name):
    assert main(["connectome", "run", "--input", str(SAMPLES / name), "--rank", "3", "--method", "louvain",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["membership"][0]) == 20 and doc["neurons"][0] == "N000"
    assert doc["ari"] > 0.9  # scored against sample_data/connectome/truth.json, which names the sample files


def test_cohort_sample_with_covariates_is_scored(capsys):
    d = SAMPLES / "cohort"
    inputs = [str(d / f"worm_{k}.csv") for k in "abc"]
    assert main(["connectome", "run", "--input", *inputs, "--covariates", *[p[:-4] + "_beh.csv" for p in inputs],
                 "--neurons", "min:2", "--rank", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layout"] == "independent" and len(doc["neurons"]) == 29 and "AIA?" not in doc["neurons"]
    assert set(doc["covariates"]) == {"reversal", "speed", "stimulus"} and doc["ari"] > 0.9


def test_scan_json(capsys):
    assert main(["connectome", "scan", "--synthetic", *SMALL, "--ranks", "1-3", "--restarts", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ranks"] == [1, 2, 3] and len(doc["error"]) == 3 and len(doc["similarity"]) == 3
    assert {"scan", "errors", "similarities", "restarts", "seconds"} <= set(doc) and doc["restarts"] == 2
    run = RunStore().load_run(doc["run_id"])
    assert run.verb == "scan" and run.config["ranks"] == [1, 2, 3] and run.metrics["fits"] == 6


@pytest.mark.parametrize("content,name", [(b"a,b\n1,2\n", "few.csv"), (b"junk", "bad.npz"), (b"junk", "bad.nwb"),
                                          (b"x", "traces.txt")])
def test_bad_file_is_one_line_exit_2(tmp_path, capsys, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["connectome", "run", "--input", str(path), "--rank", "2", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and out.err.startswith("dynlab: error:")


def test_without_a_data_source_runs_the_default_synthetic_worm(capsys):
    assert main(["connectome", "run", "--neurons", "12", "--communities", "2", "--iterations", "3", "--json"]) == 0
    assert "ari" in json.loads(capsys.readouterr().out)  # the config's default source: a worm with planted truth


def test_input_and_synthetic_together_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as err:
        main(["connectome", "run", "--synthetic", "--input", "a.csv"])
    assert err.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,says", [
    (["scan", "--synthetic", "--ranks", "a-b"], "--ranks 'a-b' is not a rank list"),
    (["run", "--synthetic", "--window", "5000"], "fewer than one window"),
    (["run", "--synthetic", "--method", "kmeans"], "unknown community method 'kmeans'"),
    (["scan", "--synthetic", "--restarts", "0"], "restarts is 0"),
    (["run", "--synthetic", "--seed", "-1"], "seed is -1"),
    (["run", "--synthetic", "--device", "tpu"], "nknown device 'tpu'"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, says):
    assert main(["connectome", *argv, "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and says in out.err
