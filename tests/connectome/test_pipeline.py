"""The connectome pipeline and its verbs: configs, results, downloads, figures, stop, save and re-run.

Each test checks the values a behaviour produces (not only that something was returned), so that it
fails when that behaviour breaks.
"""

import dataclasses
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from lab.connectome import figures
from lab.connectome import pipeline as pl
from lab.connectome.affinities import pairs_to_matrix
from lab.connectome.config import ConnectomeConfig, ScanConfig
from lab.connectome.data import Recording
from lab.connectome.downloads import DOWNLOADS, communities_csv, factors_csv, factors_npz
from lab.connectome.pipeline import run_pipeline, run_scan_verb, run_verb
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.device import DeviceChoice
from lab.core.errors import LabInputError
from lab.core.jobs import save_output
from lab.core.runstore import RunStore
from lab.core.verbs import config_key, deterministic_metrics, rerun_work, run_foreground_verb, verb_work

from .conftest import SMALL_WORM


# -- configs -----------------------------------------------------------------------------------------
def test_synthetic_worm_is_deterministic_and_planted():
    cfg = WormConfig(neurons=12, communities=3, epochs=2, animals=2, frames_per_epoch=50, seed=3)
    a, b = make_worm(cfg), make_worm(cfg)
    np.testing.assert_array_equal(a.recording.traces, b.recording.traces)
    assert a.recording.shape == (2, 12, 100) and a.membership.shape == (2, 12)
    assert sorted(np.bincount(a.membership[0])) == [4, 4, 4]
    assert np.mean(a.membership[0] != a.membership[1]) > 0.2  # remix moved neurons
    other = make_worm(cfg.replace(seed=4))
    assert not np.array_equal(other.recording.traces, a.recording.traces)
    with pytest.raises(LabInputError, match="snr"):
        WormConfig(snr=0)


def test_config_is_frozen_and_spells_out_its_worm():
    worm = {"neurons": 12}
    cfg = ConnectomeConfig(worm=worm, seed=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rank = 4  # type: ignore[misc]
    full = {k: v for k, v in WormConfig().to_dict().items() if k != "seed"}
    assert cfg.worm == {**full, "neurons": 12}  # every setting but the seed spelled out
    assert cfg.worm_config() == WormConfig(**{**full, "neurons": 12, "seed": 5})  # the worm's seed is the run's
    assert cfg.replace(seed=6).worm_config().seed == 6  # ... also in a copy: a new seed is a new worm
    worm["neurons"] = 99
    assert cfg.worm["neurons"] == 12  # the config holds its own copy: nobody can change it from outside
    own = ConnectomeConfig(worm={"seed": 2}, seed=5)
    assert own.worm["seed"] == 2 and own.worm_config().seed == 2  # a worm given its own seed keeps it
    assert cfg.replace(rank=5).rank == 5 and cfg.rank == 3
    with pytest.raises(LabInputError, match="rank"):
        cfg.replace(rank=0)


@pytest.mark.parametrize("config", [
    ConnectomeConfig(),
    ConnectomeConfig(source="files", inputs=["a.csv", "b.npz"], series="dff", rank=5, affinity="gaussian",
                     method="louvain", resolution=0.5, device="cuda", seed=3),
    ScanConfig(worm=dict(SMALL_WORM), ranks=[4, 2, 2, 3], restarts=2),
], ids=["defaults", "files", "scan"])
def test_config_round_trips_through_json(config):
    data = json.loads(json.dumps(config.to_dict()))
    again = type(config).from_dict(data)
    assert again == config and again.to_dict() == data
    assert config_key(again) == config_key(config)
    assert isinstance(again.inputs, tuple)


def test_scan_config_defaults_and_normalised_ranks():
    assert ScanConfig.default("ranks") == (1, 2, 3, 4, 5, 6) and ScanConfig.default("restarts") == 5
    scan = ScanConfig(ranks=[4, 2, 2, 3], rank=7)
    assert scan.ranks == (2, 3, 4) and scan.rank == 4  # the run's rank plays no part in a scan
    assert config_key(scan) == config_key(ScanConfig(ranks=(2, 3, 4)))
    assert set(ConnectomeConfig.field_names()) < set(ScanConfig.field_names())


@pytest.mark.parametrize("cls,values,message", [
    (ConnectomeConfig, {"source": "disk"}, "unknown source 'disk'; choose one of synthetic, files, upload."),
    (ConnectomeConfig, {"affinity": "nope"}, "unknown affinity 'nope'; choose one of derivative-correlation, gaussian."),
    (ConnectomeConfig, {"method": "kmeans"}, "unknown community method 'kmeans'; choose one of leiden, louvain."),
    (ConnectomeConfig, {"device": "tpu"}, "unknown device 'tpu'; choose one of auto, cpu, cuda, mps."),
    (ConnectomeConfig, {"rank": 0}, "rank is 0; choose a rank between 1 and 200."),
    (ConnectomeConfig, {"seed": -1}, "seed is -1; use a non-negative integer."),
    (ConnectomeConfig, {"source": "files"}, "source 'files' needs at least one input file."),
    (ConnectomeConfig, {"worm": {"legs": 3}}, "unknown synthetic-worm setting 'legs'"),
    (ConnectomeConfig, {"worm": {"neurons": 2}}, "Synthetic worm: neurons must be between 3 and 2000."),
    (ScanConfig, {"ranks": [0, 2]}, "ranks are [0, 2]; list ranks between 1 and 200."),
    (ScanConfig, {"restarts": 0}, "restarts is 0; use 1 to 100 restarts per rank."),
])
def test_config_errors_are_one_sentence(cls, values, message):
    with pytest.raises(LabInputError) as err:
        cls.from_dict(values)
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text and text.endswith(".")


def test_device_is_mapped_in_the_lab(monkeypatch, small_config):
    assert ConnectomeConfig(device="cpu").ntf_device == "cpu"
    monkeypatch.setattr("lab.core.device.resolve_device", lambda asked: DeviceChoice(
        {"auto": "cuda", "cuda": "cuda", "mps": "mps"}[asked], "test"))
    assert ConnectomeConfig(device="cuda").ntf_device == "cuda"
    assert ConnectomeConfig(device="auto").ntf_device == "cuda"
    assert ConnectomeConfig(device="mps").ntf_device == "cpu"  # the NTF has no MPS path
    seen = []
    real_fit = pl.fit_ntf

    def fit(*args, device, **kwargs):
        seen.append(device)
        return real_fit(*args, device="cpu", **kwargs)

    monkeypatch.setattr(pl, "fit_ntf", fit)
    run_pipeline(small_config.replace(device="cuda", n_iter_max=2))
    assert seen == ["cuda"]


# -- the run verb --------------------------------------------------------------------------------------
def test_end_to_end_small_worm_recovers_planted_communities(small_result):
    res = small_result
    assert res.scores["ari"] > 0.8 and res.scores["nmi"] > 0.8
    doc = res.to_json()
    assert {"factors", "membership", "reconstruction_error", "seconds", "ari", "nmi"} <= set(doc)
    assert len(doc["factors"]) == 3 and len(doc["membership"]) == len(res.starts)
    f0 = doc["factors"][0]
    assert len(f0["time"]) == len(res.starts) and len(f0["animal"]) == 2
    assert sorted(i for c in f0["communities"] for i in c) == list(range(24))
    assert 0 < doc["reconstruction_error"] < 1
    assert res.mean_modularity == pytest.approx(np.mean([f["modularity"] for f in doc["factors"]]))
    assert res.title() == "NTF rank 3 (synthetic, derivative-correlation, leiden)"


def test_metrics_are_json_safe_and_reproduced_by_seed(small_config, small_result):
    metrics = small_result.metrics()
    json.dumps(metrics)
    assert metrics["mean_modularity"] == small_result.mean_modularity
    assert metrics["curves"]["ntf_error"] == small_result.fit.errors
    assert metrics["iterations"] == len(small_result.fit.errors) and "stopped_early" not in metrics
    timings = set(metrics) - set(deterministic_metrics(metrics))
    assert timings == {"seconds", "seconds_ntf"}
    again = run_verb(small_config)
    assert deterministic_metrics(again.metrics()) == deterministic_metrics(metrics)
    other = run_verb(small_config.replace(seed=1))  # another worm and another NTF start
    assert other.metrics()["reconstruction_error"] != metrics["reconstruction_error"]


def test_stop_gives_a_partial_result_with_metrics(small_config):
    steps = []
    res = run_verb(small_config, on_progress=lambda step, total, m: steps.append(step) or step >= 2)
    assert steps == [1, 2] and res.fit.stopped and len(res.fit.errors) == 2
    assert res.membership.shape[1] == 24 and res.to_json()["stopped_early"] is True
    metrics = res.metrics()
    assert metrics["stopped_early"] is True and metrics["iterations"] == 2
    assert np.isfinite(metrics["mean_modularity"]) and 0 <= metrics["ari"] <= 1
    # saved as a stopped run that keeps its metrics
    work = verb_work("connectome", "run", small_config)
    output = work(lambda step, total, m: step >= 2)
    run = RunStore().load_run(save_output(RunStore(), "connectome", "run", output, stopped=True))
    assert run.status == "stopped" and run.verb == "run"
    assert run.metrics["iterations"] == 2 and run.metrics["stopped_early"] is True


def test_saved_run_reruns_by_its_verb_to_the_same_metrics(small_config):
    output, run_id = run_foreground_verb("connectome", "run", small_config)
    run = RunStore().load_run(run_id)
    assert run.verb == "run" and run.status == "done" and run.meta["title"] == output.result.title()
    assert {"factors.npz", "factors.csv", "communities.csv", "sankey.plotly.json"} <= set(run.artifacts)
    lab, verb, config, work = rerun_work(run)
    assert (lab, verb, config) == ("connectome", "run", small_config)
    again = work(lambda *a: False)
    assert deterministic_metrics(again.metrics) == deterministic_metrics(output.metrics)


def test_uploaded_recording_and_errors():
    rec = Recording(np.random.default_rng(0).normal(size=(1, 6, 30)), [f"n{i}" for i in range(6)])
    res = run_verb(ConnectomeConfig(source="upload", rank=2, window=10, step=5), data=rec)
    assert res.scores is None and res.membership.shape == (5, 6) and res.recording.names == rec.names
    assert "ari" not in res.metrics()
    with pytest.raises(LabInputError, match="fewer than one window"):
        run_verb(ConnectomeConfig(source="upload", rank=2, window=40), data=rec)
    with pytest.raises(LabInputError, match="uploaded file, which is not stored"):
        run_verb(ConnectomeConfig(source="upload"))
    with pytest.raises(LabInputError, match="not a ndarray"):
        run_verb(ConnectomeConfig(source="upload"), data=rec.traces)


# -- downloads and figures -------------------------------------------------------------------------------
def test_downloads_hold_the_result(small_result):
    r = small_result
    with np.load(io.BytesIO(factors_npz(r)), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["pairs"], r.fit.pairs)
        np.testing.assert_array_equal(z["time"], r.fit.time)
        np.testing.assert_array_equal(z["weights"], r.fit.weights)
        np.testing.assert_array_equal(z["labels"], np.stack([c.labels for c in r.communities]))
        assert list(z["names"]) == r.recording.names
    long = pd.read_csv(io.StringIO(factors_csv(r)))
    time1 = long[(long["mode"] == "time") & (long["factor"] == 1)].sort_values("index")["value"].to_numpy()
    np.testing.assert_allclose(time1, r.fit.time[:, 1], rtol=1e-5)
    animal0 = long[(long["mode"] == "animal") & (long["factor"] == 0)]
    assert list(animal0["label"]) == r.recording.animals
    comm = pd.read_csv(io.StringIO(communities_csv(r)))
    assert len(comm) == len(r.starts) * 24
    np.testing.assert_array_equal(comm["community"].to_numpy().reshape(len(r.starts), 24), r.membership)
    np.testing.assert_array_equal(comm["factor"].to_numpy().reshape(len(r.starts), 24), r.factor)
    assert [r.download(name)[:2] for name in DOWNLOADS] == [b"PK", b"fa", b"wi", b"PK"]
    with zipfile.ZipFile(io.BytesIO(r.download("figures.zip"))) as zf:
        names = set(zf.namelist())
        assert {"all_figures.html", "plotly.min.js", "traces.html", "time_courses.html", "sankey.html",
                "covariate_correlations.html", "motif_0.html", "graph_2.html"} <= names
        page = zf.read("all_figures.html").decode()
        assert "<script src" not in page and page.count("Plotly.newPlot") == len(names) - 2  # plotly.js inside
        assert 'src="plotly.min.js"' in zf.read("motif_0.html").decode()
    with pytest.raises(LabInputError, match="unknown download"):
        r.download("all.tar")


def test_figures_show_the_result(small_result):
    r = small_result
    n, w_count = 24, len(r.starts)
    heat = figures.traces_heatmap(r.recording, animal=1).data[0]
    z = np.asarray(heat.z, dtype=float)
    assert z.shape == r.recording.traces[1].shape and list(heat.y) == r.recording.names
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-4)  # z-scored per neuron

    mat = np.asarray(figures.affinity_matrix_figure(r, 2, animal=1, order="window").data[0].z, dtype=float)
    order = np.argsort(r.membership[2], kind="stable")
    want = pairs_to_matrix(r.tensor[:, 2, 1].astype(float), n)
    np.fill_diagonal(want, np.nan)
    np.testing.assert_allclose(mat, want[np.ix_(order, order)])
    fixed = figures.neuron_order(r)  # the default: one order for every window, so labels never jump
    for w in (0, 3):
        assert list(figures.affinity_matrix_figure(r, w).data[0].x) == [r.recording.names[i] for i in fixed]
    anim = figures.affinity_animation(r)
    assert len(anim.frames) == w_count and list(anim.data[0].x) == [r.recording.names[i] for i in fixed]
    assert anim.layout.updatemenus[0].y > 1 and anim.layout.sliders[0].steps[0].label == "0 (epoch 0)"

    motif = figures.motif_figure(r, 0)
    order = np.argsort(r.communities[0].labels, kind="stable")
    np.testing.assert_allclose(np.asarray(motif.data[0].z, dtype=float),
                               pairs_to_matrix(r.fit.pairs[:, 0], n)[np.ix_(order, order)])
    assert len(motif.layout.shapes) == len(r.communities[0].groups)  # one outline per community

    time_fig = figures.factor_time_figure(r)
    assert len(time_fig.data) == 3 + len(r.covariates)  # the factors, then one panel per covariate
    np.testing.assert_allclose(time_fig.data[2].y, r.fit.time[:, 2] * r.fit.weights[2])
    np.testing.assert_allclose(time_fig.data[3].y, r.covariates["stimulus"])
    assert all(not str(shape.fillcolor).startswith("rgba(76") for shape in time_fig.layout.shapes)  # greys
    corr = figures.correlation_figure(r).data[0]
    assert list(corr.y) == list(r.correlations) and np.asarray(corr.z).shape == (3, 3)
    np.testing.assert_allclose(figures.animal_loadings_figure(r, 1).data[0].y, r.fit.animal[:, 1])

    nodes = figures.community_graph_figure(r, 0).data[-1]
    assert len(nodes.x) == n and list(nodes.customdata) == list(r.communities[0].labels)

    lit = figures.community_graph_figure(r, 0, highlight={"N001"}).data[-1]
    assert lit.marker.size[1] > lit.marker.size[0]
    heat = figures.traces_heatmap(r.recording, highlight={"N001"})
    assert "N001</span>" in heat.layout.yaxis.ticktext[1]
    sankey = figures.membership_sankey(r).data[0]
    segments, mem = figures.segment_membership(r)
    assert len(segments) == 3  # one per planted epoch
    assert sum(sankey.link.value) == n * (len(segments) - 1)  # every neuron flows from each epoch to the next

    np.testing.assert_allclose(figures.ntf_progress_figure(r.fit.errors).data[0].y, r.fit.errors)


# -- the scan verb -----------------------------------------------------------------------------------------
def test_rank_scan_on_worm():
    config = ScanConfig(worm=dict(SMALL_WORM), ranks=(1, 3), restarts=2)
    result = run_scan_verb(config)
    rows = result.summary()
    assert [r["rank"] for r in rows] == [1, 3] and rows[0]["error_min"] > rows[1]["error_min"]
    doc = result.to_json()
    assert doc["ranks"] == [1, 3] and doc["restarts"] == 2 and np.asarray(doc["errors"]).shape == (2, 2)
    metrics = result.metrics()
    json.dumps(metrics)
    assert metrics["fits"] == 4 and metrics["curves"]["error_min"] == [r["error_min"] for r in rows]
    assert deterministic_metrics(run_scan_verb(config).metrics()) == deterministic_metrics(metrics)
    csv = pd.read_csv(io.StringIO(result.artifacts()["rank_scan.csv"]))
    assert list(csv["rank"]) == [1, 3]


def test_rank_scan_stop_keeps_the_fits_done():
    config = ScanConfig(worm=dict(SMALL_WORM), ranks=(1, 2, 3), restarts=2)
    result = run_scan_verb(config, on_progress=lambda step, total, m: step >= 3)
    assert result.scan.stopped and np.sum(~np.isnan(result.scan.errors)) == 3
    metrics = result.metrics()
    assert metrics["stopped_early"] is True and metrics["fits"] == 3 and metrics["curves"]["rank"] == [1.0, 2.0]
    with pytest.raises(LabInputError, match="outside 1..3"):
        run_scan_verb(config.replace(worm={**SMALL_WORM, "neurons": 3, "communities": 1}, ranks=(1, 4)))
