"""The lab contract, checked for every verb of every built lab (a new lab gets these tests for free).

Each verb declares a small ``example`` config; with it: the config round-trips through JSON, one seed
gives one set of metrics, a stop request gives a partial result that is saved, a saved run (and its
exported lab card) re-runs by its verb to the same metrics, and bad command-line input exits 2 with
one line on stderr.
"""

import dataclasses
import json

import pytest

from lab.cli import main
from lab.core.jobs import save_output
from lab.core.registry import labs
from lab.core.runstore import RunStore
from lab.core.verbs import (
    deterministic_metrics,
    make_config,
    rerun_config,
    rerun_work,
    run_foreground_verb,
    verb_work,
)

VERBS = [pytest.param(spec.key, verb.name, id=f"{spec.key}-{verb.name}") for spec in labs() for verb in spec.verbs]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _example(lab, verb):
    spec = next(s for s in labs() if s.key == lab).verb(verb)
    return make_config(lab, verb, dict(spec.example))


def test_every_lab_declares_itself_and_the_cli_lists_the_built_ones(capsys):
    keys = [spec.key for spec in labs()]
    assert len(keys) == len(set(keys)) >= 5
    for spec in labs():
        assert spec.title and spec.question and spec.papers and spec.page.startswith("pages/")
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for spec in labs():
        assert (spec.key in shown) == spec.built


@pytest.mark.parametrize("lab,verb", VERBS)
def test_config_round_trip(lab, verb):
    config = _example(lab, verb)
    again = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, type(config).field_names()[0], None)


@pytest.mark.parametrize("lab,verb", VERBS)
def test_one_seed_gives_the_same_metrics(lab, verb):
    config = _example(lab, verb)
    first = verb_work(lab, verb, config)(lambda *a: False)
    second = verb_work(lab, verb, config)(lambda *a: False)
    assert deterministic_metrics(first.metrics) == deterministic_metrics(second.metrics)
    assert first.verb == verb and first.config == config.to_dict()


@pytest.mark.parametrize("lab,verb", VERBS)
def test_stop_returns_a_partial_result_that_is_saved(lab, verb):
    calls = []

    def stop_at_once(step, total, metrics):
        calls.append((step, total))
        return True

    output = verb_work(lab, verb, _example(lab, verb))(stop_at_once)
    assert calls, "the verb never reported progress, so it cannot be stopped"
    store = RunStore()
    run = store.load_run(save_output(store, lab, verb, output, stopped=True))
    assert run.status == "stopped" and run.metrics["stopped_early"] is True and run.verb == verb
    assert len(calls) == 1, "the verb went on after it was asked to stop"


@pytest.mark.parametrize("lab,verb", VERBS)
def test_a_saved_run_reruns_by_its_verb_to_the_same_metrics(lab, verb):
    store = RunStore()
    output, run_id = run_foreground_verb(lab, verb, _example(lab, verb), store=store)
    run = store.load_run(run_id)
    assert run.verb == verb and run.status == "done"
    again_lab, again_verb, config, work = rerun_work(run)
    assert (again_lab, again_verb) == (lab, verb) and config == _example(lab, verb)
    assert deterministic_metrics(work(lambda *a: False).metrics) == deterministic_metrics(run.metrics)
    card = store.export_card(run_id)  # a card imported elsewhere re-runs the same way
    assert rerun_config(json.loads(json.dumps(card)))[:2] == (lab, verb)


@pytest.mark.parametrize("lab,verb", VERBS)
def test_bad_cli_input_exits_2_with_one_line(lab, verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([lab, verb, "--no-such-option", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    if "seed" in type(_example(lab, verb)).field_names():
        assert main([lab, verb, "--seed", "-1", "--json"]) == 2
        out = capsys.readouterr()
        assert out.err.count("\n") == 1 and "seed" in out.err and out.out == ""
