import json
import subprocess
import sys

import pytest

from lab import __version__
from lab.cli import main
from lab.core.runstore import RunStore


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "runs" in capsys.readouterr().out


def test_bad_arguments_are_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "list", "--bogus"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1


def test_runs_list_show_export_import(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out) == {"runs": []}
    code, out, _ = run_cli(capsys, "runs", "list")
    assert "No runs yet" in out
    run_id = RunStore().save_run("pointer", {"n": 5, "seed": 1}, {"gap": 0.1})
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert [r["run_id"] for r in json.loads(out)["runs"]] == [run_id]
    code, out, _ = run_cli(capsys, "runs", "show", run_id, "--json")
    assert json.loads(out)["config"] == {"n": 5, "seed": 1}
    card_file = tmp_path / "card.json"
    code, out, _ = run_cli(capsys, "runs", "export", run_id, "-o", str(card_file), "--json")
    assert code == 0 and json.loads(card_file.read_text())["run_id"] == run_id
    code, out, _ = run_cli(capsys, "runs", "import", str(card_file), "--json")
    assert code == 0 and json.loads(out)["run_id"] != run_id
    assert len(RunStore().list_runs()) == 2


def test_bad_input_files_are_one_line_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out, err = run_cli(capsys, "runs", "import", str(bad))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "not valid JSON" in err
    code, _, err = run_cli(capsys, "runs", "import", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err
    code, _, err = run_cli(capsys, "runs", "show", "nonsense")
    assert code == 2 and "Traceback" not in err


def test_installed_command_runs():
    """The console script works as a person would call it (no traceback, exit 2 on bad input)."""
    proc = subprocess.run([sys.executable, "-m", "lab.cli", "runs", "show", "x"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_verb_without_a_hand_made_parser_gets_one_from_its_config_and_reruns_by_verb(capsys, monkeypatch, tmp_path):
    import toylab

    monkeypatch.setattr("lab.core.registry.labs", lambda: (toylab.TOY,))
    code, out, err = run_cli(capsys, "pointer", "count", "--steps", "4", "--delay", "0", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["metrics"]["counted"] == 4
    run = RunStore().load_run(doc["run_id"])
    assert run.verb == "count" and run.config["steps"] == 4 and run.status == "done"
    card_file = tmp_path / "card.json"
    run_cli(capsys, "runs", "export", doc["run_id"], "-o", str(card_file))
    code, out, _ = run_cli(capsys, "runs", "import", str(card_file), "--rerun", "--json")
    again = json.loads(out)
    assert code == 0 and again["metrics"] == doc["metrics"]
    assert RunStore().load_run(again["rerun_id"]).verb == "count"
    code, _, err = run_cli(capsys, "pointer", "count", "--seed", "-3")
    assert code == 2 and err.count("\n") == 1 and "seed is -3" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["pointer", "count", "--steps", "many"])
    assert exit_info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


def test_device_defaults_to_dynlab_device(monkeypatch, capsys):
    from lab.core.cli import cli_device

    monkeypatch.setenv("DYNLAB_DEVICE", "cpu")
    assert cli_device(None) == "cpu"
    monkeypatch.setattr("lab.core.device._cuda_available", lambda: False)
    assert cli_device("cuda") == "cpu" and "no CUDA device" in capsys.readouterr().err
    monkeypatch.setenv("DYNLAB_DEVICE", "cuda")
    assert cli_device(None) == "cpu" and "DYNLAB_DEVICE cuda, but no CUDA" in capsys.readouterr().err


def test_a_lab_whose_commands_cannot_load_leaves_the_others_working(capsys, monkeypatch):
    import dataclasses

    import toylab

    broken = dataclasses.replace(toylab.TOY, key="connectome", title="Broken", cli="no_such_module_here")
    monkeypatch.setattr("lab.core.registry.labs", lambda: (toylab.TOY, broken))
    code, out, err = run_cli(capsys, "pointer", "count", "--steps", "1", "--delay", "0", "--json")
    assert code == 0 and json.loads(out)["metrics"]["counted"] == 1
    code, out, err = run_cli(capsys, "connectome")
    assert code == 2 and "the Broken lab could not be loaded" in err.splitlines()[-1]
