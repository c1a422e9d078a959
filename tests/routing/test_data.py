"""The CSV reader: any valid file is read; bad files get one sentence."""

from __future__ import annotations

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.routing.data import load_digits_dataset, read_csv_dataset, split_indices


def _csv(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def test_digits_split_is_fixed_and_standardised():
    a, b = load_digits_dataset(), load_digits_dataset()
    assert a.x_train.shape[1:] == (1, 8, 8) and len(a.x_train) + len(a.x_test) == 1797
    assert np.array_equal(a.y_test, b.y_test)
    assert abs(float(a.x_train.mean())) < 1e-4


def test_a_valid_csv_with_named_labels_and_other_separators():
    rows = ["f1;f2;Class"] + [f"{i};{i % 3 * 0.5};{'cat' if i % 2 else 'dog'}" for i in range(20)]
    ds = read_csv_dataset(_csv(rows), name="pets.csv")
    assert ds.classes == ["cat", "dog"] and ds.kind == "vector" and ds.input_shape == (2,)
    assert len(ds.x_train) + len(ds.x_test) == 20 and set(ds.y_test) == {0, 1}


def test_label_column_anywhere_numeric_labels_in_numeric_order():
    rows = ["target, a , b"] + [f"{[2, 10, 1][i % 3]},{i},{-i}" for i in range(15)]
    ds = read_csv_dataset(_csv(rows), name="x.csv")
    assert ds.classes == ["1", "2", "10"] and ds.input_shape == (2,)


@pytest.mark.parametrize("rows,match", [
    (["a,b,c", "1,2,3", "4,5,6"], "no label column"),
    (["a,b,label", "1,x,0", "3,4,1", "5,6,1"], "not numeric"),
    (["a,label", "1,0", "2,0", "3,0"], "one class only"),
    (["a,label", "1,0", ",1", "3,1"], "missing"),
    (["a,label", "1,0", "2,", "3,1"], "without a label"),
    (["label", "0", "1"], "only a label column"),
    (["a,label"], "no rows"),
])
def test_bad_csv_files_are_one_sentence(rows, match):
    with pytest.raises(LabInputError, match=match) as err:
        read_csv_dataset(_csv(rows), name="bad.csv")
    assert "\n" not in str(err.value)


def test_empty_file():
    with pytest.raises(LabInputError, match="empty"):
        read_csv_dataset(b"", name="e.csv")


def test_split_keeps_every_class_on_both_sides():
    y = np.array([0, 0, 1, 1, 1, 2, 2])
    tr, te = split_indices(y)
    assert set(y[tr]) == {0, 1, 2} and set(y[te]) == {0, 1, 2}
