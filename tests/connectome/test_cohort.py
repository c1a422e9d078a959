"""Many animals with their own neurons: name alignment, the masked fit, layouts, covariates, truth, the CLI."""

import json

import numpy as np
import pytest

from lab.cli import main
from lab.connectome.affinities import make_affinity, window_starts
from lab.connectome.cohort import (
    align_neurons,
    build_tensor,
    covariate_correlations,
    resolve_layout,
    window_covariates,
)
from lab.connectome.combine import combine_recordings, match_covariates, read_covariates
from lab.connectome.communities import match_labels, match_membership
from lab.connectome.config import ConnectomeConfig
from lab.connectome.data import Recording
from lab.connectome.ntf import fit_ntf
from lab.connectome.pipeline import run_pipeline, run_verb
from lab.core.errors import LabInputError


def _rec(names, t=60, seed=0, epochs=None, animals=1):
    traces = np.random.default_rng(seed).normal(size=(animals, len(names), t)).cumsum(axis=2)
    return Recording(traces, list(names), 4.0, epochs)


def _files(*name_lists, lengths=None):
    recs = [_rec(names, t=(lengths or [60] * len(name_lists))[k], seed=k) for k, names in enumerate(name_lists)]
    return combine_recordings(recs, [f"f{k}.csv" for k in range(len(recs))])


# -- names -----------------------------------------------------------------------------------------------
def test_common_neurons_and_what_each_file_lost():
    rec = align_neurons(_files(["AVAL", "AVAR", "RIML", "AIAL", "ADER"], ["AVAL", "AVAR", "RIML", "AIA?", "ADAR"]))
    assert rec.names == ["AVAL", "AVAR", "RIML"] and rec.present.all()
    assert rec.dropped == {"f0.csv": ["AIAL", "ADER"], "f1.csv": ["AIA?", "ADAR"]}  # AIA? is not AIAL
    assert any("left out: f0.csv: 2; f1.csv: 2" in n for n in rec.notes)


def test_min_k_keeps_neurons_of_k_animals_and_masks_the_rest():
    union = _files(["a", "b", "c", "d"], ["a", "b", "c", "e"], ["a", "b", "d", "e"])
    rec = align_neurons(union, "min:2")
    assert rec.names == ["a", "b", "c", "d", "e"] and rec.dropped == {"f0.csv": [], "f1.csv": [], "f2.csv": []}
    assert rec.present.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 0, 1], [1, 1, 0, 1, 1]]
    ct = build_tensor(rec, make_affinity("derivative-correlation"), 20, 10, "aligned")
    # pair (d, e) is observed only in animal 2; pair (a, b) everywhere
    pairs = {(i, j): k for k, (i, j) in enumerate(zip(*np.triu_indices(5, k=1), strict=True))}
    assert ct.mask[pairs[(3, 4)], :, 0].sum() == 0 and ct.mask[pairs[(3, 4)], :, 2].all()
    assert ct.mask[pairs[(0, 1)]].all() and ct.tensor[pairs[(3, 4)], :, 0].max() == 0
    with pytest.raises(LabInputError, match="only 2 neurons identified in at least 3 animals"):
        align_neurons(union, "min:3")
    with pytest.raises(LabInputError, match="at most 3"):
        align_neurons(union, "min:4")
    with pytest.raises(LabInputError, match="'common'.*'min:K'"):
        align_neurons(union, "most")


def test_files_that_share_no_neurons_are_refused():
    with pytest.raises(LabInputError, match="no neuron identified in every animal"):
        align_neurons(_files(["a", "b", "c"], ["x", "y", "z"]))
    with pytest.raises(LabInputError, match="f0.csv shares no neurons with the other files"):
        align_neurons(_files(["a", "b", "c"], ["x", "y", "z"]), "min:1")


# -- the masked fit ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", [0.1, 0.3])
def test_masked_fit_recovers_an_exactly_low_rank_tensor(missing):
    rng = np.random.default_rng(1)
    factors = [rng.random((45, 3)), rng.random((16, 3)), rng.random((4, 3))]
    x = np.einsum("pr,wr,ar->pwa", *factors)
    mask = rng.random(x.shape) >= missing
    fit = fit_ntf(x, 3, n_iter_max=400, tol=1e-10, mask=mask)
    model = fit.reconstruct()
    assert fit.error < 1e-3  # on the observed entries
    np.testing.assert_allclose(fit.error, np.linalg.norm((model - x)[mask]) / np.linalg.norm(x[mask]), rtol=1e-2,
                               atol=1e-6)
    assert np.linalg.norm((model - x)[~mask]) / np.linalg.norm(x[~mask]) < 1e-2  # the missing ones, never seen
    x_bad = x.copy()
    x_bad[~mask] = 100.0  # whatever sits in the missing entries is ignored
    assert fit_ntf(x_bad, 3, n_iter_max=400, tol=1e-10, mask=mask).error < 1e-3


# -- layouts -------------------------------------------------------------------------------------------------
def test_independent_layout_puts_animals_one_after_another_in_time():
    rec = align_neurons(_files(list("abcdef"), list("abcdef"), list("abcdef"), lengths=[60, 45, 80]))
    assert resolve_layout(rec) == "independent"  # no epochs column, different lengths
    ct = build_tensor(rec, make_affinity("derivative-correlation"), 20, 10, "independent")
    per_animal = [len(window_starts(t, 20, 10)) for t in (60, 45, 80)]
    assert ct.tensor.shape == (15, sum(per_animal), 1) and ct.mask is None
    assert ct.window_animal.tolist() == [0] * per_animal[0] + [1] * per_animal[1] + [2] * per_animal[2]
    assert ct.starts.tolist()[: per_animal[0] + 1] == list(range(0, 41, 10)) + [0]
    aligned = build_tensor(rec, make_affinity("derivative-correlation"), 20, 10, "aligned")
    assert aligned.tensor.shape == (15, len(window_starts(45, 20, 10)), 3) and "cut to the first 45" in aligned.notes[0]


def test_auto_layout_is_aligned_only_with_a_shared_clock():
    epochs = np.repeat([0, 1], 30)
    shared = combine_recordings([_rec("abc", epochs=epochs), _rec("abc", seed=1, epochs=epochs)])
    assert resolve_layout(shared) == "aligned" and resolve_layout(shared, "independent") == "independent"
    other = combine_recordings([_rec("abc", epochs=epochs), _rec("abc", seed=1, epochs=epochs[::-1].copy())])
    assert resolve_layout(other) == "independent"
    assert resolve_layout(_rec("abc")) == "aligned"  # one animal: both layouts are the same


def test_pipeline_in_the_independent_layout_marks_boundaries():
    worm = {"neurons": 12, "communities": 2, "epochs": 2, "animals": 3, "frames_per_epoch": 100, "identified": 0.75}
    res = run_pipeline(ConnectomeConfig(worm=worm, rank=2, layout="independent", neurons="min:2", n_iter_max=40))
    w_each = len(window_starts(200, 40, 20))
    assert res.layout == "independent" and res.tensor.shape[1:] == (3 * w_each, 1) and res.mask is not None
    assert res.boundaries() == [(0.0, "worm 0"), (200.0, "worm 1"), (400.0, "worm 2")]
    assert res.window_frames()[w_each] == 200 and res.animal_loadings().shape == (3, 2)
    doc = res.to_json()
    assert doc["layout"] == "independent" and doc["masked_entries"] > 0 and len(doc["factors"][0]["animal"]) == 3
    assert "ari" in doc  # truth by name, on the neurons kept


# -- covariates ----------------------------------------------------------------------------------------------
def test_covariates_are_averaged_per_window_and_correlated_with_factors():
    rec = _rec("abcd", t=100, animals=2)
    rec.covariates = {"ramp": np.tile(np.arange(100.0), (2, 1)), "gappy": np.full((2, 100), np.nan)}
    rec.covariates["gappy"][1, :10] = 5.0
    starts = np.array([0, 10, 20])
    aligned = window_covariates(rec, starts, np.array([-1, -1, -1]), 10)
    np.testing.assert_allclose(aligned["ramp"], [4.5, 14.5, 24.5])
    assert aligned["gappy"][0] == 5.0 and np.isnan(aligned["gappy"][1:]).all()
    independent = window_covariates(rec, np.array([0, 0]), np.array([0, 1]), 10)
    assert np.isnan(independent["gappy"][0]) and independent["gappy"][1] == 5.0
    # a factor built from a covariate correlates 1 with it; one built from noise does not
    rng = np.random.default_rng(0)
    speed = rng.random(30)
    time = np.stack([2.0 * speed + 1.0, rng.random(30)], axis=1)  # (W, R)
    table = covariate_correlations(time, {"speed": speed, "flat": np.ones(30)})
    assert table["speed"][0] == pytest.approx(1.0) and abs(table["speed"][1]) < 0.5
    assert table["flat"] == [None, None]


def _csv(rows):
    return ("\n".join(rows) + "\n").encode()


def test_covariate_files_are_read_and_bad_ones_refused():
    rec = _rec("abc", t=6)
    covs, notes = read_covariates(_csv(["frame,velocity,state", *[f"{f},{f * 0.5},fwd" for f in range(6)]]), rec,
                                  name="b.csv")
    np.testing.assert_allclose(covs["velocity"][0], np.arange(6) * 0.5)
    assert "state" not in covs and any("'state' is not numeric" in n for n in notes)
    gaps, _ = read_covariates(_csv(["frame,v", "0,1", "2,3", "5,6"]), rec, name="g.csv")
    assert np.isnan(gaps["v"][0, [1, 3, 4]]).all() and gaps["v"][0, 5] == 6
    bad = {
        "has 5 frames but": ["time,v", *[f"{t},{t}" for t in range(5)]],
        "no 'time' or 'frame' column": ["v,w", "1,2", "3,4"],
        "no numeric covariate column": ["time,label", *[f"{t},x" for t in range(6)]],
        "numbered 0..9": ["frame,v", *[f"{f},{f}" for f in range(10)]],
    }
    for says, rows in bad.items():
        with pytest.raises(LabInputError, match=says):
            read_covariates(_csv(rows), rec, name="bad.csv", traces_label="t.csv")


def test_covariate_files_are_matched_to_trace_files_by_name_else_by_order():
    assert match_covariates(["a.csv", "b.csv"], []) == [None, None]
    assert match_covariates(["a.csv", "b.npz"], ["b_beh.csv", "a_beh.csv"]) == [1, 0]  # by name, any order
    assert match_covariates(["a.csv", "b.csv"], ["a_beh.csv"]) == [0, None]  # b has none
    assert match_covariates(["x.csv", "y.csv"], ["one.csv", "two.csv"]) == [0, 1]  # no name matches: in order
    assert match_covariates(["a.csv"], ["a.csv"]) == [0]  # a trace file is never its own covariate file by name
    with pytest.raises(LabInputError) as err:
        match_covariates(["a.csv", "b.csv"], ["a_beh.csv", "zzz.csv"])
    assert str(err.value) == ("zzz.csv matches no trace file; name it after its trace file (A.csv -> A_beh.csv) or "
                              "upload one covariate file per trace file.")
    with pytest.raises(LabInputError, match="worm_beh.csv matches no trace file"):  # two candidates: neither
        match_covariates(["worm.csv"], ["worm_beh.csv", "worm_speed.csv"])


# -- community ids across windows ----------------------------------------------------------------------------
def test_community_ids_are_matched_across_windows():
    a = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    b = np.array([1, 1, 1, 0, 0, 0, 0, 2])  # same groups renumbered, neuron 6 moved
    matched, nxt = match_labels(a, b, 3)
    assert matched.tolist() == [0, 0, 0, 1, 1, 1, 1, 2] and nxt == 3
    split, nxt = match_labels(a, np.array([0, 0, 1, 2, 2, 2, 3, 3]), 3)
    assert split.tolist() == [0, 0, 3, 1, 1, 1, 2, 2] and nxt == 4  # a new community gets a new id
    chain = match_membership(np.stack([a, b, a]))
    assert chain[2].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


# -- the CLI contract ----------------------------------------------------------------------------------------
def _write_animal(path, names, traces, covariates=None):
    lines = [",".join(["time", *names])]
    lines += [",".join([f"{f / 4:.2f}", *[f"{v:.5f}" for v in traces[:, f]]]) for f in range(traces.shape[1])]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def three_worms(tmp_path_factory):
    """Three animals, each its own neurons (one with ``AIA?``), frames and covariates."""
    from lab.connectome.synthetic import WormConfig, make_worm

    d = tmp_path_factory.mktemp("worms")
    worm = make_worm(WormConfig(neurons=12, communities=2, epochs=2, animals=3, frames_per_epoch=120, seed=5))
    names = [f"N{i:02d}" for i in range(12)]
    subsets = [list(range(12)), [i for i in range(12) if i != 4], [i for i in range(12) if i != 7]]
    paths, covs = [], []
    for a, keep in enumerate(subsets):
        t = 240 - 30 * a
        own = [names[i] if not (a == 2 and i == 3) else "AIA?" for i in keep]
        _write_animal(d / f"w{a}.csv", own, worm.recording.traces[a, keep, :t])
        speed = worm.recording.covariates["c0_drive"][a, :t]
        (d / f"w{a}_beh.csv").write_text("frame,speed,reversal\n" + "\n".join(
            f"{f},{speed[f]:.4f},{int(speed[f] > 1)}" for f in range(t)) + "\n")
        paths.append(str(d / f"w{a}.csv"))
        covs.append(str(d / f"w{a}_beh.csv"))
    return paths, covs


def test_cli_contract_on_animals_with_their_own_neurons(capsys, three_worms):
    paths, covs = three_worms
    assert main(["connectome", "run", "--input", *paths, "--covariates", *covs, "--rank", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layout"] == "independent"  # different frame counts, no epochs column
    assert doc["neurons"] == [f"N{i:02d}" for i in range(12) if i not in (3, 4, 7)]
    assert doc["dropped"] == {paths[0]: ["N03", "N04", "N07"], paths[1]: ["N03", "N07"], paths[2]: ["N04", "AIA?"]}
    assert set(doc["covariates"]) == {"speed", "reversal"} and all(len(v) == 2 for v in doc["covariates"].values())
    assert len(doc["membership"][0]) == 9 and max(max(g) for g in doc["factors"][0]["communities"]) == 8
    assert main(["connectome", "run", "--input", *paths, "--neurons", "min:2", "--layout", "aligned", "--rank", "2",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["layout"] == "aligned" and "N04" in doc["neurons"] and "AIA?" not in doc["neurons"]
    assert doc["masked_entries"] > 0 and doc["dropped"][paths[2]] == ["AIA?"]


@pytest.mark.parametrize("case,says", [
    ("disjoint", "no neuron identified in every animal"),
    ("short_covariates", "has 100 frames but"),
    ("count", "1 covariate file for 2 input files"),
])
def test_cli_bad_cohorts_exit_2_with_one_line(capsys, tmp_path, three_worms, case, says):
    paths, covs = three_worms
    other = tmp_path / "other.csv"
    _write_animal(other, ["X1", "X2", "X3"], np.random.default_rng(0).normal(size=(3, 100)))
    argv = {"disjoint": ["--input", paths[0], str(other)],
            "short_covariates": ["--input", paths[0], "--covariates", str(tmp_path / "c.csv")],
            "count": ["--input", *paths[:2], "--covariates", covs[0]]}[case]
    (tmp_path / "c.csv").write_text("time,v\n" + "\n".join(f"{t},{t}" for t in range(100)) + "\n")
    assert main(["connectome", "run", *argv, "--rank", "2", "--json"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and says in out.err


def test_meaningless_settings_are_refused_or_warned():
    worm = {"neurons": 10, "communities": 2, "epochs": 2, "animals": 1, "frames_per_epoch": 100}
    with pytest.raises(LabInputError, match="rank 12 is more than the 1 window"):
        run_verb(ConnectomeConfig(worm=worm, window=4, step=2000, rank=12))
    res = run_verb(ConnectomeConfig(worm=worm, window=10, step=40, rank=2, n_iter_max=5))
    assert any("never looked at" in w for w in res.warnings) and any("Only 5 windows" in w for w in res.warnings)


def test_masked_fit_on_the_pytorch_backend(monkeypatch):
    """The GPU path's masked refill (torch indexing), run on CPU tensors."""
    torch = pytest.importorskip("torch")
    import lab.connectome.ntf as ntf

    monkeypatch.setattr(ntf, "_to_backend", lambda t, device: ("pytorch", torch.as_tensor(t, dtype=torch.float32)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead (and contend on a shared machine)
    rng = np.random.default_rng(1)
    x = np.einsum("pr,wr,ar->pwa", rng.random((45, 3)), rng.random((16, 3)), rng.random((4, 3)))
    mask = rng.random(x.shape) >= 0.3
    try:
        fit = ntf.fit_ntf(x, 3, n_iter_max=100, tol=1e-10, mask=mask)
    finally:
        torch.set_num_threads(threads)
    assert fit.backend == "pytorch" and fit.error < 1e-2
    assert np.linalg.norm((fit.reconstruct() - x)[~mask]) / np.linalg.norm(x[~mask]) < 1e-2
