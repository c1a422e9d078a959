"""The whole lab as one call: traces -> affinity tensor -> NTF -> communities -> scores.

The lab's two verbs (declared in :mod:`lab.connectome`), each ``verb(config, on_progress, data) -> result``:

- ``run``: :class:`~lab.connectome.config.ConnectomeConfig` -> :func:`run_verb` ->
  :class:`~lab.connectome.results.ConnectomeResult`;
- ``scan``: :class:`~lab.connectome.config.ScanConfig` -> :func:`run_scan_verb` ->
  :class:`~lab.connectome.results.ScanResult` (random restarts per rank).

``data`` is an optional :class:`~lab.connectome.data.Recording` the config cannot name (an upload, parsed);
without it the recording comes from the config: a synthetic worm (with its planted truth, :mod:`lab.connectome.truth`)
or input files. Jobs, saving and re-running go through :mod:`lab.core.verbs`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from lab.connectome.affinities import make_affinity
from lab.connectome.cohort import (
    CohortTensor,
    align_neurons,
    covariate_correlations,
    resolve_layout,
    window_covariates,
    window_epochs,
)
from lab.connectome.cohort import build_tensor as cohort_tensor
from lab.connectome.combine import attach_covariates, combine_recordings
from lab.connectome.communities import (
    factor_communities,
    match_membership,
    membership_per_window,
    recovery_scores,
)
from lab.connectome.config import ConnectomeConfig, ScanConfig
from lab.connectome.data import Recording, plural
from lab.connectome.ntf import RankScan, fit_ntf, rank_scan
from lab.connectome.readers import load_recording
from lab.connectome.results import ConnectomeResult, ScanResult
from lab.connectome.synthetic import make_worm
from lab.connectome.truth import Truth, find_truth
from lab.core.errors import LabInputError
from lab.core.progress import ProgressCallback


def load_inputs(config: ConnectomeConfig) -> Recording:
    """Read the config's input files (validated), with their covariates, into one recording (union of neurons)."""
    recs = []
    for k, path in enumerate(config.inputs):
        rec = load_recording(path, series=config.series)
        if config.covariates:
            attach_covariates(rec, config.covariates[k], traces_label=str(path))
        recs.append(rec)
    return combine_recordings(recs, [str(p) for p in config.inputs])


def prepare(config: ConnectomeConfig, recording: Recording | None = None) -> tuple[Recording, Truth | None]:
    """The recording to analyse (all its files' neurons, before alignment) and its truth, when known."""
    if recording is not None:
        return recording, None
    if config.source == "synthetic":
        worm = make_worm(config.worm_config())
        return worm.recording, Truth(list(worm.recording.names), worm.membership)
    if config.source == "upload":
        raise LabInputError("This run analysed an uploaded file, which is not stored; upload it again on the page "
                            "or run `dynlab connectome run --input FILE`.")
    return load_inputs(config), find_truth(config)


def cohort(config: ConnectomeConfig, recording: Recording) -> tuple[Recording, CohortTensor]:
    """Align the neurons (``config.neurons``), choose the layout and build the (masked) affinity tensor."""
    aligned = align_neurons(recording, config.neurons)
    layout = resolve_layout(aligned, config.layout)
    affinity = make_affinity(config.affinity, smooth=config.smooth)
    tensor = cohort_tensor(aligned, affinity, config.window, config.step, layout)
    aligned.notes.extend(tensor.notes)
    if layout == "aligned" and tensor.frames < aligned.shape[2]:  # animals cut to a common length
        t = tensor.frames
        aligned = Recording(aligned.traces[:, :, :t], aligned.names, aligned.fps,
                            None if aligned.epochs is None else aligned.epochs[:t], aligned.animals, aligned.notes,
                            present=aligned.present, lengths=np.minimum(aligned.lengths, t),
                            animal_epochs=None if aligned.animal_epochs is None else aligned.animal_epochs[:, :t],
                            files=aligned.files, covariates={k: v[:, :t] for k, v in aligned.covariates.items()},
                            dropped=aligned.dropped, named=aligned.named)
    return aligned, tensor


def check_settings(config: ConnectomeConfig, windows: int, ranks: tuple[int, ...] | None = None) -> list[str]:
    """Refuse what cannot be identified; return warnings, in words, about what makes the result hard to read."""
    ranks = ranks or (config.rank,)
    if max(ranks) > windows:
        raise LabInputError(f"rank {max(ranks)} is more than the {plural(windows, 'window')}: a factor's time "
                            f"course cannot be identified; choose a rank of at most {windows}, or a shorter step "
                            "or window for more windows.")
    out = []
    if config.step > config.window:
        out.append(f"The step ({config.step} frames) is longer than the window ({config.window}): "
                   f"{config.step - config.window} frames between windows are never looked at.")
    if windows < 10:
        out.append(f"Only {plural(windows, 'window')}: time courses need about 10 or more windows to mean "
                   "something; use a shorter step or window.")
    return out


def run_pipeline(
    config: ConnectomeConfig,
    recording: Recording | None = None,
    truth: Truth | np.ndarray | None = None,
    on_progress: ProgressCallback | None = None,
) -> ConnectomeResult:
    """Run the whole lab. Progress is the NTF's ``(iteration, n_iter_max, {"error": e})``; stop is honoured.

    ``truth`` may be a :class:`Truth` or an (E, N) membership over ``recording``'s neurons in order.
    """
    t0 = time.perf_counter()
    recording, found = prepare(config, recording)
    if isinstance(truth, np.ndarray):
        truth = Truth(list(recording.names), truth)
    truth = truth if truth is not None else found
    t1 = time.perf_counter()
    recording, ct = cohort(config, recording)
    tensor, starts = ct.tensor, ct.starts
    warnings = check_settings(config, len(starts))
    t2 = time.perf_counter()
    if config.rank > tensor.shape[0]:
        raise LabInputError(f"rank {config.rank} is more than the {tensor.shape[0]} neuron pairs; choose a smaller rank.")
    fit = fit_ntf(tensor, config.rank, n_iter_max=config.n_iter_max, tol=config.tol,
                  random_state=config.seed, device=config.ntf_device, on_progress=on_progress, mask=ct.mask)
    t3 = time.perf_counter()
    n = recording.shape[1]
    comms = factor_communities(fit, n, config.method, seed=config.seed, resolution=config.resolution)
    membership, factor = membership_per_window(fit, comms, config.method, seed=config.seed,
                                               resolution=config.resolution)
    membership = match_membership(membership)
    t4 = time.perf_counter()
    if truth is not None and recording.animal_epochs is None and truth.epochs is not None:
        recording.animal_epochs = np.full(recording.traces.shape[::2], -1, dtype=int)
        t = min(recording.shape[2], len(truth.epochs))
        recording.animal_epochs[:, :t] = truth.epochs[:t]
        recording.epochs = recording.animal_epochs[0]
    win_epoch = window_epochs(recording, starts, ct.window_animal, config.window)
    scores, planted = None, None
    if truth is not None and win_epoch is not None:
        planted = truth.on(recording.names)
        try:
            scores = recovery_scores(membership, planted, win_epoch)
        except LabInputError as err:
            warnings.append(f"Not scored against the truth: {err}")
    covariates = window_covariates(recording, starts, ct.window_animal, config.window)
    correlations = covariate_correlations(fit.time, covariates)
    t5 = time.perf_counter()
    seconds = {"data": t1 - t0, "affinities": t2 - t1, "ntf": t3 - t2, "communities": t4 - t3,
               "scores": t5 - t4, "total": t5 - t0}
    return ConnectomeResult(config, recording, starts, tensor, fit, comms, membership, factor, planted,
                            win_epoch, scores, seconds, ct.window_animal, ct.layout, ct.mask, covariates,
                            correlations, warnings)


def run_rank_scan(config: ScanConfig, recording: Recording | None = None,
                  on_progress: ProgressCallback | None = None) -> RankScan:
    """Rank scan (``config.restarts`` random restarts per rank in ``config.ranks``) on the config's tensor.

    Progress is ``(fit, total_fits, {"rank": r, "error": e})``; a stop request ends the scan after the
    current fit, with NaN for the fits that did not run.
    """
    recording, _ = prepare(config, recording)
    _, ct = cohort(config, recording)
    tensor = ct.tensor
    bad = [r for r in config.ranks if not 1 <= r <= tensor.shape[0]]
    if bad:
        raise LabInputError(f"ranks {bad} are outside 1..{tensor.shape[0]} (the number of neuron pairs).")
    check_settings(config, len(ct.starts), config.ranks)
    return rank_scan(tensor, config.ranks, config.restarts, n_iter_max=config.n_iter_max, tol=config.tol,
                     seed=config.seed, device=config.ntf_device, on_progress=on_progress, mask=ct.mask)


# -- the verbs ---------------------------------------------------------------------------------------
def _recording(data: Any) -> Recording | None:
    if data is None or isinstance(data, Recording):
        return data
    raise LabInputError(f"the connectome lab analyses a Recording (parsed traces), not a {type(data).__name__}.")


def run_verb(config: ConnectomeConfig, on_progress: ProgressCallback | None = None,
             data: Recording | None = None) -> ConnectomeResult:
    """``dynlab connectome run``: the whole pipeline on ``data`` (an upload) or the config's own recording.

    A stop request (``on_progress`` returns True) ends the NTF early; communities and scores are then
    computed from its partial factors, so a stopped run is a full (partial) result with metrics.
    """
    return run_pipeline(config, recording=_recording(data), on_progress=on_progress)


def run_scan_verb(config: ScanConfig, on_progress: ProgressCallback | None = None,
                  data: Recording | None = None) -> ScanResult:
    """``dynlab connectome scan``: error and factor similarity over random restarts, per rank."""
    return ScanResult(config, run_rank_scan(config, recording=_recording(data), on_progress=on_progress))
