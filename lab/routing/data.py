"""Datasets of the early-exit lab, all offline: scikit-learn's bundled digits, MNIST-1D, a user CSV.

Every dataset comes back as a :class:`Dataset`: float32 inputs already standardised with the training
split's statistics, integer labels ``0..C-1``, and a fixed train/test split (``SPLIT_SEED``), so a
shipped checkpoint and a later evaluation always see the same held-out rows.

CSV files: one row per example, one column of labels named ``label`` (or ``target``, ``class``, ``y``,
any case) and every other column a numeric feature. Labels may be numbers or names; they are mapped
to ``0..C-1`` in sorted order and the names are kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab.core.errors import LabInputError

#: The train/test split never depends on the run's seed: every model is scored on the same rows.
SPLIT_SEED = 0
TEST_FRACTION = 0.3
NAMED = ("digits", "mnist1d")
LABEL_NAMES = ("label", "labels", "target", "class", "y")


@dataclass
class Dataset:
    """Inputs and labels, split once.

    Attributes
    ----------
    name : str
        ``digits``, ``mnist1d`` or the CSV's file name.
    kind : str
        ``image`` (inputs (N, 1, H, W), a 2-D CNN backbone) or ``vector`` (inputs (N, D), an MLP).
    x_train, x_test : np.ndarray
        float32, standardised with the training split's mean and standard deviation.
    y_train, y_test : np.ndarray
        int64 labels in ``0..C-1``.
    classes : list of str
        The name of each label index.
    raw_test : np.ndarray
        The test inputs before standardisation (digit images for the gallery), (N_test, ...).
    """

    name: str
    kind: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    raw_test: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.x_train.shape[1:])


def split_indices(y: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled, class-stratified train/test indices; every class with >= 2 rows has one in each split."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        else:
            n_test = 0
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(test, dtype=np.int64))


def _standardise(x_train: np.ndarray, x_test: np.ndarray, per_feature: bool) -> tuple[np.ndarray, np.ndarray]:
    if per_feature:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    else:  # images: one mean and scale for all pixels keeps the picture a picture
        mean, std = x_train.mean(), x_train.std()
    std = np.where(std > 1e-8, std, 1.0)
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def _make(name: str, kind: str, x: np.ndarray, y: np.ndarray, classes: list[str], notes: list[str] | None = None) -> Dataset:
    tr, te = split_indices(y)
    if len(te) == 0 or len(tr) == 0:
        raise LabInputError(f"{name} has too few rows to hold out a test set; give at least two rows of some class.")
    x_tr, x_te = _standardise(x[tr], x[te], per_feature=kind == "vector")
    return Dataset(name, kind, x_tr, y[tr].astype(np.int64), x_te, y[te].astype(np.int64), classes,
                   raw_test=x[te].astype(np.float32), notes=list(notes or []))


def load_digits_dataset() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes; shipped with scikit-learn, no download)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.images.astype(np.float32)[:, None]  # (N, 1, 8, 8), values 0..16
    return _make("digits", "image", x, bunch.target.astype(np.int64), [str(c) for c in range(10)])


def load_mnist1d_dataset(seed: int = SPLIT_SEED) -> Dataset:
    """MNIST-1D made by the ``mnist1d`` package's generator (templates in the package, nothing downloaded)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise LabInputError("the mnist1d dataset needs the mnist1d package (pip install mnist1d); "
                            "use --dataset digits or a CSV file meanwhile.") from None
    args = get_dataset_args()
    args.seed = seed
    data = make_dataset(args)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)  # (N, 40)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return _make("mnist1d", "vector", x, y, [str(c) for c in range(10)])


def read_csv_dataset(source: str | Path | bytes, name: str | None = None) -> Dataset:
    """A user CSV of feature vectors and a label column, validated (one-sentence errors)."""
    from lab.core.inputs import source_name

    label = source_name(source, name)
    frame = _read_frame(source, name)
    lower = {c.lower(): c for c in frame.columns}
    label_col = next((lower[n] for n in LABEL_NAMES if n in lower), None)
    if label_col is None:
        raise LabInputError(f"{label} has no label column (name one column label, target, class or y); its columns "
                            f"are {', '.join(map(str, frame.columns[:8]))}{'...' if frame.shape[1] > 8 else ''}.")
    features = [c for c in frame.columns if c != label_col]
    if not features:
        raise LabInputError(f"{label} has only a label column; add at least one numeric feature column.")
    labels = frame[label_col]
    if labels.isna().any():
        row = int(np.flatnonzero(labels.isna().to_numpy())[0]) + 2
        raise LabInputError(f"{label} has a row without a label (line {row}); fill or remove it.")
    x = np.empty((len(frame), len(features)), dtype=np.float64)
    for j, col in enumerate(features):
        values = frame[col]
        if values.dtype == bool:
            values = values.astype(float)
        numeric = np.asarray(values.to_numpy(), dtype=object)
        try:
            x[:, j] = numeric.astype(np.float64)
        except (TypeError, ValueError):
            bad = next((v for v in numeric if not _is_number(v)), numeric[0])
            raise LabInputError(f"{label}: feature column {col!r} is not numeric (value {str(bad)[:20]!r}); "
                                "features must be numbers.") from None
    if not np.isfinite(x).all():
        r, c = np.argwhere(~np.isfinite(x))[0]
        raise LabInputError(f"{label}: feature column {features[c]!r} has a missing or infinite value (line {r + 2}); "
                            "fill or remove it.")
    names = sorted({_label_text(v) for v in labels.to_numpy()}, key=_label_key)
    if len(names) < 2:
        raise LabInputError(f"{label} has one class only ({names[0]!r}); a classifier needs at least two.")
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[_label_text(v)] for v in labels.to_numpy()], dtype=np.int64)
    return _make(label, "vector", x.astype(np.float32), y, names)


def _read_frame(source: str | Path | bytes, name: str | None):
    """The CSV as a DataFrame (size-limited by :mod:`lab.core.inputs`); the delimiter is read off the header.

    Comma, semicolon, tab or ``|`` -- whichever the header line holds most of -- else whitespace, else
    one column. (A sniffer guesses wrong on one-column files: it can split ``label`` at its ``l``.)
    """
    import pandas as pd

    from lab.core.inputs import read_text, source_name

    label = source_name(source, name)
    text = read_text(source, name=name)
    header = next((line for line in text.splitlines() if line.strip()), "")
    if not header:
        raise LabInputError(f"{label} has no header line; put column names on the first line.")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    delim = max(counts, key=counts.get) if max(counts.values()) else (r"\s+" if header.strip().count(" ") else ",")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, engine="python" if len(delim) > 1 else "c",
                            skip_blank_lines=True, skipinitialspace=True)
    except Exception as err:  # pandas raises many types; the person needs one sentence
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LabInputError(f"{label} could not be read as CSV ({first}); check its format.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    # a trailing delimiter on every line makes an empty, unnamed column: not a feature
    empty = [c for c in frame.columns if c.startswith("Unnamed:") and frame[c].isna().all()]
    frame = frame.drop(columns=empty).dropna(how="all")
    if frame.empty:
        raise LabInputError(f"{label} has a header but no rows; add data rows.")
    return frame


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _label_text(value: object) -> str:
    """``3``, ``3.0`` and ``"3"`` are one class; names stay names."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def _label_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), text)  # numeric labels in numeric order
    except ValueError:
        return (1, 0.0, text)


def load_dataset(dataset: str, data: bytes | None = None) -> Dataset:
    """``digits``, ``mnist1d``, a CSV path, or (``data`` given) the bytes of an uploaded CSV named ``dataset``."""
    if data is not None:
        return read_csv_dataset(data, name=dataset)
    if dataset == "digits":
        return load_digits_dataset()
    if dataset == "mnist1d":
        return load_mnist1d_dataset()
    path = Path(dataset)
    if path.suffix.lower() != ".csv" and not path.is_file():
        raise LabInputError(f"unknown dataset {dataset!r}; use digits, mnist1d or a .csv file.")
    return read_csv_dataset(path)
