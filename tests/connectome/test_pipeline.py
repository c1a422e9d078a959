import io

import numpy as np
import pandas as pd
import pytest

from lab.connectome import figures
from lab.connectome.data import Recording
from lab.connectome.pipeline import (
    ConnectomeConfig,
    communities_csv,
    factors_csv,
    factors_npz,
    make_job,
    rerun,
    run_pipeline,
    run_rank_scan,
)
from lab.connectome.synthetic import WormConfig, make_worm
from lab.core.errors import LabInputError
from lab.core.jobs import run_foreground


def test_synthetic_worm_is_deterministic_and_planted():
    cfg = WormConfig(neurons=12, communities=3, epochs=2, animals=2, frames_per_epoch=50, seed=3)
    a, b = make_worm(cfg), make_worm(cfg)
    np.testing.assert_array_equal(a.recording.traces, b.recording.traces)
    assert a.recording.shape == (2, 12, 100) and a.membership.shape == (2, 12)
    assert sorted(np.bincount(a.membership[0])) == [4, 4, 4]
    assert np.mean(a.membership[0] != a.membership[1]) > 0.2  # remix moved neurons
    with pytest.raises(LabInputError, match="snr"):
        WormConfig(snr=0)


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


def test_downloads_parse(small_result):
    with np.load(io.BytesIO(factors_npz(small_result)), allow_pickle=False) as z:
        assert z["pairs"].shape == (24 * 23 // 2, 3) and z["time"].shape[1] == 3
    long = pd.read_csv(io.StringIO(factors_csv(small_result)))
    assert set(long["mode"]) == {"time", "animal"}
    comm = pd.read_csv(io.StringIO(communities_csv(small_result)))
    assert len(comm) == len(small_result.starts) * 24


def test_figures_build(small_result):
    r = small_result
    figs = [figures.traces_heatmap(r.recording), figures.affinity_matrix_figure(r, 2),
            figures.affinity_matrix_figure(r, 2, animal=1), figures.affinity_animation(r), figures.motif_figure(r, 0),
            figures.factor_time_figure(r), figures.animal_loadings_figure(r, 1), figures.community_graph_figure(r, 0),
            figures.membership_sankey(r), figures.ntf_progress_figure(r.fit.errors)]
    for fig in figs:
        assert fig.to_json()
    assert len(figures.affinity_animation(r).frames) == len(r.starts)


def test_job_and_rerun(small_config):
    output, run_id = run_foreground("connectome", "test", make_job(small_config))
    assert run_id and output.metrics["ari"] > 0.8 and "factors.npz" in output.artifacts
    metrics, arts = rerun(output.config)
    assert metrics["reconstruction_error"] == pytest.approx(output.metrics["reconstruction_error"])
    assert "communities.csv" in arts


def test_stop_returns_partial_result(small_config):
    res = run_pipeline(small_config, on_progress=lambda step, total, m: step >= 2)
    assert res.fit.stopped and len(res.fit.errors) == 2 and res.membership.shape[1] == 24


def test_uploaded_recording_and_errors():
    rec = Recording(np.random.default_rng(0).normal(size=(1, 6, 30)), [f"n{i}" for i in range(6)])
    res = run_pipeline(ConnectomeConfig(rank=2, window=10, step=5), recording=rec)
    assert res.scores is None and res.membership.shape == (5, 6)
    with pytest.raises(LabInputError, match="fewer than one window"):
        run_pipeline(ConnectomeConfig(rank=2, window=40), recording=rec)
    with pytest.raises(LabInputError, match="rank"):
        ConnectomeConfig(rank=0)
    with pytest.raises(LabInputError, match="Unknown affinity"):
        ConnectomeConfig(affinity="nope")
    with pytest.raises(LabInputError, match="files"):
        ConnectomeConfig(source="files")


def test_rank_scan_on_worm(small_config):
    scan = run_rank_scan(small_config, [1, 3], restarts=2)
    rows = scan.summary()
    assert rows[0]["error_min"] > rows[1]["error_min"]
