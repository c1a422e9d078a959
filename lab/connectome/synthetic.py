"""Synthetic worms with planted ground truth: the lab proves it recovers what is there.

Generative model, per animal (all animals share the community structure, not the noise):

1. ``N`` neurons in ``K`` communities; epoch 0 is a balanced random partition and at each later
   stimulus epoch a fraction ``remix`` of neurons moves to another community.
2. Each community has a latent drive: a Poisson train of *community events*; each member neuron joins
   an event with probability ``participation`` (amplitude log-normal, jitter of 0-1 frame), and has
   private events of its own at a low rate.
3. Events are convolved with a calcium kernel ``(1 - exp(-t/rise)) * exp(-t/decay)``.
4. Gaussian noise is added with standard deviation ``std(signal) / snr`` per neuron.

To stand in for real recordings, each animal may identify only a fraction ``identified`` of the neurons
(a different random subset per animal), and every animal comes with per-frame covariates:
``stimulus`` (on in odd epochs), ``c0_drive`` (community 0's events, through the calcium kernel: a
behaviour that community drives) and ``unrelated`` (smoothed noise, related to nothing). Both come from their own
random stream, so the traces of a worm do not change with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab.connectome.data import Recording
from lab.core.config import LabConfig
from lab.core.errors import LabInputError


@dataclass(frozen=True)
class WormConfig(LabConfig):
    """Knobs of a synthetic worm (defaults: a small worm that the default pipeline recovers)."""

    neurons: int = 40
    communities: int = 4
    epochs: int = 3
    animals: int = 3
    snr: float = 2.0
    frames_per_epoch: int = 300
    remix: float = 0.5
    event_rate: float = 0.06  # community events per frame
    participation: float = 0.9
    private_rate: float = 0.01  # private events per neuron per frame
    rise: float = 1.0  # frames
    decay: float = 6.0  # frames
    fps: float = 4.0
    identified: float = 1.0  # fraction of neurons identified in each animal (a random subset per animal)
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()  # seed
        checks = [
            (3 <= self.neurons <= 2000, "neurons must be between 3 and 2000"),
            (1 <= self.communities <= self.neurons, "communities must be between 1 and the number of neurons"),
            (1 <= self.epochs <= 50, "epochs must be between 1 and 50"),
            (1 <= self.animals <= 50, "animals must be between 1 and 50"),
            (0 < self.snr <= 1e6, "snr must be positive"),
            (10 <= self.frames_per_epoch <= 100_000, "frames_per_epoch must be between 10 and 100000"),
            (0.0 <= self.remix <= 1.0, "remix must be between 0 and 1"),
            (0.0 < self.event_rate < 1.0, "event_rate must be between 0 and 1"),
            (0.0 < self.participation <= 1.0, "participation must be in (0, 1]"),
            (0.0 <= self.private_rate < 1.0, "private_rate must be in [0, 1)"),
            (self.rise > 0 and self.decay > self.rise, "decay must be longer than rise, both positive"),
            (self.fps > 0, "fps must be positive"),
            (0.0 < self.identified <= 1.0, "identified must be in (0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise LabInputError(f"Synthetic worm: {message}.")


@dataclass
class SyntheticWorm:
    """A recording plus its planted truth.

    Attributes
    ----------
    recording : Recording
        Traces (A, N, T) with per-frame ``epochs``.
    membership : ndarray of int, shape (E, N)
        Planted community of every neuron in every epoch.
    config : WormConfig
    c0_events : ndarray, shape (A, T)
        Community 0's shared events per frame in every animal (what the ``c0_drive`` covariate is made of).
    """

    recording: Recording
    membership: np.ndarray
    config: WormConfig
    c0_events: np.ndarray | None = None


def planted_membership(cfg: WormConfig, rng: np.random.Generator) -> np.ndarray:
    """(E, N) community labels: balanced at epoch 0, then ``remix`` of the neurons move each epoch."""
    n, k = cfg.neurons, cfg.communities
    first = rng.permutation(np.arange(n) % k)
    rows = [first]
    for _ in range(1, cfg.epochs):
        nxt = rows[-1].copy()
        if k > 1:
            movers = rng.choice(n, size=int(round(cfg.remix * n)), replace=False)
            # move each mover to a different community (an offset of 1..k-1 keeps it from staying put)
            nxt[movers] = (nxt[movers] + rng.integers(1, k, size=len(movers))) % k
        rows.append(nxt)
    return np.stack(rows)


def calcium_kernel(rise: float, decay: float) -> np.ndarray:
    """Peak-normalised rise/decay kernel, long enough for the decay to fall below 1 %."""
    t = np.arange(int(np.ceil(decay * 5)) + 1, dtype=np.float64)
    kernel = (1.0 - np.exp(-t / rise)) * np.exp(-t / decay)
    return kernel / kernel.max()


def make_worm(cfg: WormConfig | None = None) -> SyntheticWorm:
    """Generate a synthetic worm (deterministic for a given config, seed included)."""
    cfg = cfg or WormConfig()
    rng = np.random.default_rng(cfg.seed)
    membership = planted_membership(cfg, rng)  # (E, N)
    n, e_count, f = cfg.neurons, cfg.epochs, cfg.frames_per_epoch
    t_total = e_count * f
    epochs = np.repeat(np.arange(e_count), f)  # (T,)
    kernel = calcium_kernel(cfg.rise, cfg.decay)
    traces = np.empty((cfg.animals, n, t_total))
    c0_events = np.zeros((cfg.animals, t_total))
    for a in range(cfg.animals):
        events = np.zeros((n, t_total))
        for e in range(e_count):
            lo = e * f
            # community events: one Poisson train per community in this epoch, (K, f)
            shared = rng.random((cfg.communities, f)) < cfg.event_rate
            c0_events[a, lo : lo + f] = shared[0]
            for c in range(cfg.communities):
                members = np.flatnonzero(membership[e] == c)
                times = np.flatnonzero(shared[c])
                for i in members:
                    joined = times[rng.random(len(times)) < cfg.participation]
                    jitter = rng.integers(0, 2, size=len(joined))
                    idx = np.minimum(lo + joined + jitter, lo + f - 1)
                    np.add.at(events[i], idx, rng.lognormal(0.0, 0.3, size=len(idx)))
        private = rng.random((n, t_total)) < cfg.private_rate
        events += private * rng.lognormal(0.0, 0.3, size=(n, t_total))
        signal = np.stack([np.convolve(row, kernel)[:t_total] for row in events])  # (N, T)
        scale = signal.std(axis=1, keepdims=True)
        scale[scale == 0] = 1.0
        traces[a] = signal + rng.normal(size=signal.shape) * scale / cfg.snr
    names = [f"N{i:03d}" for i in range(n)]
    animals = [f"worm {a}" for a in range(cfg.animals)]
    extra = np.random.default_rng([cfg.seed, 1])  # its own stream: traces are the same with or without it
    present = np.ones((cfg.animals, n), dtype=bool)
    if cfg.identified < 1.0:
        keep = max(3, int(round(cfg.identified * n)))
        for a in range(cfg.animals):
            present[a] = False
            present[a, extra.choice(n, size=keep, replace=False)] = True
        traces[~present] = 0.0
    drive = np.stack([np.convolve(row, kernel)[:t_total] for row in c0_events])  # (A, T)
    covariates = {"stimulus": np.tile((epochs % 2).astype(float), (cfg.animals, 1)), "c0_drive": drive,
                  "unrelated": np.stack([np.convolve(row, kernel)[:t_total]
                                         for row in extra.normal(size=(cfg.animals, t_total))])}
    recording = Recording(traces, names, cfg.fps, epochs, animals, present=present, covariates=covariates,
                          files=list(animals), named=present.copy())
    return SyntheticWorm(recording, membership, cfg, c0_events)
