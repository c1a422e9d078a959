import io

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.core.inputs import read_csv, read_json, read_npz, require_finite


def test_csv_ok_and_required_columns(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("X, y\n0,1\n2,3\n")
    frame = read_csv(path, required_columns=("x", "y"))
    assert list(frame["x"]) == [0, 2]
    with pytest.raises(LabInputError, match="no column 'z'"):
        read_csv(path, required_columns=("z",))


def test_empty_missing_and_oversized_files(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(LabInputError, match="is empty"):
        read_csv(tmp_path / "e.csv")
    with pytest.raises(LabInputError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
    (tmp_path / "big.csv").write_text("x\n" + "1\n" * 1000)
    with pytest.raises(LabInputError, match="limit"):
        read_csv(tmp_path / "big.csv", max_bytes=100)
    with pytest.raises(LabInputError, match="no rows"):
        read_csv(io.BytesIO(b"x,y\n"), name="h.csv")


def test_binary_garbage_is_not_utf8():
    with pytest.raises(LabInputError, match="not UTF-8"):
        read_csv(io.BytesIO(b"\xff\xfe\x00\x81garbage"), name="g.csv")


def test_npz_never_unpickles():
    buffer = io.BytesIO()
    np.savez(buffer, locs=np.array([{"a": 1}], dtype=object))
    with pytest.raises(LabInputError, match="never loaded"):
        read_npz(buffer.getvalue(), name="evil.npz")
    good = io.BytesIO()
    np.savez(good, locs=np.zeros((2, 5, 2)))
    assert read_npz(good.getvalue())["locs"].shape == (2, 5, 2)
    with pytest.raises(LabInputError, match="not a valid .npz"):
        read_npz(b"PK\x03\x04 nonsense", name="broken.npz")


def test_json_and_finite_checks():
    with pytest.raises(LabInputError, match="line 1"):
        read_json(b"{oops", name="c.json")
    with pytest.raises(LabInputError, match="1 NaN"):
        require_finite(np.array([1.0, np.nan]), "coordinates")
    with pytest.raises(LabInputError, match="numeric"):
        require_finite(np.array(["a"]), "coordinates")
