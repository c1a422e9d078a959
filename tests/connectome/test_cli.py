import json
from pathlib import Path

import pytest

from lab.cli import main

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


@pytest.mark.parametrize("name", ["worm.csv", "worm.npz", "worm.nwb"])
def test_run_sample_files(capsys, name):
    assert main(["connectome", "run", "--input", str(SAMPLES / name), "--rank", "3", "--method", "louvain",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "ari" not in doc and len(doc["membership"][0]) == 20


def test_scan_json(capsys):
    assert main(["connectome", "scan", "--synthetic", *SMALL, "--ranks", "1-3", "--restarts", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ranks"] == [1, 2, 3] and len(doc["error"]) == 3 and len(doc["similarity"]) == 3


@pytest.mark.parametrize("content,name", [(b"a,b\n1,2\n", "few.csv"), (b"junk", "bad.npz"), (b"junk", "bad.nwb"),
                                          (b"x", "traces.txt")])
def test_bad_file_is_one_line_exit_2(tmp_path, capsys, content, name):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["connectome", "run", "--input", str(path), "--rank", "2", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and out.err.startswith("dynlab: error:")


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as err:
        main(["connectome", "run", "--rank", "2"])  # neither --input nor --synthetic
    assert err.value.code == 2
    assert main(["connectome", "scan", "--synthetic", "--ranks", "a-b", "--json"]) == 2
    assert main(["connectome", "run", "--synthetic", "--window", "5000", "--json"]) == 2
    assert "error" in capsys.readouterr().err
