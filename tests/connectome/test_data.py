import io

import numpy as np
import pytest

from lab.connectome.combine import combine_recordings
from lab.connectome.data import Recording
from lab.connectome.readers import (
    list_nwb_series,
    load_recording,
    read_traces_csv,
    read_traces_npz,
    read_traces_nwb,
    recording_to_nwb,
)
from lab.core.errors import LabInputError


def _traces(a=2, n=5, t=60, seed=0):
    return np.random.default_rng(seed).normal(size=(a, n, t)).cumsum(axis=2)


def _csv(traces, names=None, animal=True):
    a, n, t = traces.shape
    names = names or [f"AV{i}" for i in range(n)]
    lines = [",".join((["animal", "time"] if animal else []) + names)]
    for k in range(a):
        for f in range(t):
            lines.append(",".join(([f"w{k}", f"{f * 0.25:.2f}"] if animal else []) + [f"{v:.5f}" for v in traces[k, :, f]]))
    return ("\n".join(lines) + "\n").encode()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_csv_reader():
    tr = _traces()
    rec = read_traces_csv(_csv(tr), name="worm.csv")
    assert rec.shape == (2, 5, 60) and rec.names[0] == "AV0" and rec.animals == ["w0", "w1"]
    assert rec.fps == pytest.approx(4.0)
    np.testing.assert_allclose(rec.traces, tr, atol=1e-5)


def test_csv_bad_files():
    tr = _traces(a=1)
    text = _csv(tr, animal=False).decode().splitlines()
    text[3] = ",".join(["nan"] + text[3].split(",")[1:])  # a gap: filled by interpolation, with a note
    rec = read_traces_csv("\n".join(text).encode(), name="gap.csv")
    assert rec.traces[0, 0, 2] == pytest.approx((tr[0, 0, 1] + tr[0, 0, 3]) / 2, abs=1e-4)
    assert rec.present.all() and any("1 missing value" in n for n in rec.notes)
    text[3] = ",".join(["inf"] + text[3].split(",")[1:])
    with pytest.raises(LabInputError, match="infinite"):
        read_traces_csv("\n".join(text).encode(), name="inf.csv")
    const = tr.copy()
    const[0, 2] = 1.0
    with pytest.raises(LabInputError, match="constant"):
        read_traces_csv(_csv(const, animal=False), name="flat.csv")
    with pytest.raises(LabInputError, match="neuron columns"):
        read_traces_csv(b"a,b\n1,2\n3,4\n", name="two.csv")
    with pytest.raises(LabInputError, match="not numeric"):
        read_traces_csv(b"a,b,c\n1,2,x\n3,4,y\n5,6,z\n7,8,w\n", name="text.csv")


def test_npz_reader_and_bad_npz():
    tr = _traces(a=3)
    epochs = np.array([[0, 30], [30, 60]])
    rec = read_traces_npz(_npz(traces=tr, names=np.array(list("abcde")), fps=np.float64(2.0), epochs=epochs), name="x.npz")
    assert rec.shape == (3, 5, 60) and rec.fps == 2.0 and rec.names == list("abcde")
    assert rec.epochs[29] == 0 and rec.epochs[30] == 1
    assert read_traces_npz(_npz(traces=tr[0]), name="y.npz").shape == (1, 5, 60)
    with pytest.raises(LabInputError, match="no 'traces'"):
        read_traces_npz(_npz(x=tr), name="z.npz")
    with pytest.raises(LabInputError, match="names"):
        read_traces_npz(_npz(traces=tr, names=np.array(["a"])), name="z.npz")
    with pytest.raises(LabInputError, match="pickled"):
        read_traces_npz(_npz(traces=np.array([{"a": 1}], dtype=object)), name="p.npz")
    with pytest.raises(LabInputError, match="frames"):
        read_traces_npz(_npz(traces=tr[:, :, :2]), name="short.npz")
    with pytest.raises(LabInputError):
        read_traces_npz(b"not a zip file at all", name="junk.npz")


@pytest.mark.filterwarnings("ignore:The linked table")
def test_nwb_written_with_pynwb_in_test(tmp_path):
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    tr = _traces(a=1, n=4, t=50)[0]
    nwb = NWBFile(session_description="test", identifier="t1", session_start_time=datetime(2024, 1, 1, tzinfo=UTC))
    device = nwb.create_device(name="scope")
    plane = nwb.create_imaging_plane(name="plane", optical_channel=OpticalChannel(name="g", description="g", emission_lambda=520.0),
                                     description="p", device=device, excitation_lambda=480.0, imaging_rate=3.0,
                                     indicator="GCaMP", location="head")
    seg = ImageSegmentation()
    nwb.create_processing_module(name="ophys", description="o").add(seg)
    ps = seg.create_plane_segmentation(name="ps", description="d", imaging_plane=plane)
    for i in range(4):
        ps.add_roi(pixel_mask=[(i, 0, 1.0)])
    region = ps.create_roi_table_region(region=[0, 1, 2, 3], description="all")
    series = RoiResponseSeries(name="dff", data=tr.T, rois=region, unit="a.u.", rate=3.0)
    nwb.processing["ophys"].add(Fluorescence(roi_response_series=series))
    path = tmp_path / "rec.nwb"
    with NWBHDF5IO(str(path), "w") as io_:
        io_.write(nwb)
    rec = load_recording(path)
    assert rec.shape == (1, 4, 50) and rec.fps == 3.0 and rec.names == ["roi0", "roi1", "roi2", "roi3"]
    np.testing.assert_allclose(rec.traces[0], tr)
    assert list_nwb_series(path) == ["dff"]
    with pytest.raises(LabInputError, match="no series 'raw'"):
        read_traces_nwb(path, series="raw")


def test_nwb_round_trip_with_names_and_bad_nwb(tmp_path):
    rec = Recording(_traces(a=1, n=5, t=40), [f"AV{i}" for i in range(5)], 2.5)
    path = recording_to_nwb(rec, tmp_path / "named.nwb")
    back = load_recording(path.read_bytes(), name="named.nwb")
    assert back.names == rec.names and back.fps == 2.5
    np.testing.assert_allclose(back.traces, rec.traces)
    with pytest.raises(LabInputError, match="NWB"):
        load_recording(b"\x89HDF not really" * 10, name="bad.nwb")
    with pytest.raises(LabInputError, match="unknown format"):
        load_recording(b"1,2,3", name="traces.txt")


def test_combine_recordings_matches_names_on_the_union():
    tr = _traces(a=1, n=4, t=30)
    a = Recording(tr, ["a", "b", "c", "d"])
    b = Recording(tr[:, ::-1, :20].copy(), ["d", "c", "b", "a"])
    both = combine_recordings([a, b], ["one", "two"])
    assert both.shape == (2, 4, 30) and list(both.lengths) == [30, 20] and both.present.all()
    np.testing.assert_allclose(both.traces[1, :, :20], tr[0, :, :20])
    assert both.files == ["one", "two"] and both.animals == ["one", "two"]
    c = Recording(tr, ["a", "b", "c", "x?"])  # another neuron set: the union, x? absent in the first file
    union = combine_recordings([a, c], ["one", "three"])
    assert union.names == ["a", "b", "c", "d", "x?"]
    assert union.present.tolist() == [[True, True, True, True, False], [True, True, True, False, True]]


def test_empty_columns_and_uneven_animals_in_one_csv():
    tr = _traces(a=2, n=4, t=40)
    text = _csv(tr).decode().splitlines()
    rows = [text[0] + ",EMPTY"] + [line + "," for line in text[1:]]
    # animal w1 loses neuron AV3 (an empty column in its rows) and its last 10 frames
    rows = rows[:41] + [",".join(r.split(",")[:-2] + ["", ""]) for r in rows[41:71]]
    rec = read_traces_csv("\n".join(rows).encode() + b"\n", name="uneven.csv")
    assert rec.names == ["AV0", "AV1", "AV2", "AV3", "EMPTY"] and list(rec.lengths) == [40, 30]
    assert rec.present.tolist() == [[True, True, True, True, False], [True, True, True, False, False]]
    assert any("EMPTY" in n for n in rec.notes)
    with pytest.raises(LabInputError, match="twice"):
        read_traces_csv(b"a,b,a,c\n1,2,3,4\n2,3,4,5\n3,1,2,6\n4,4,4,1\n", name="dup.csv")
