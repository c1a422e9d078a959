"""TSPLIB parsing and distance conventions, CSV/NPZ readers, validation and writers."""

from __future__ import annotations

import io

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.pointer import io as pio
from lab.pointer.solvers import closed_length, solve

# burma14 (TSPLIB, GEO): published optimum 3323 — checks the DDD.MM conversion and GEO rounding.
BURMA14 = """NAME: burma14
TYPE: TSP
COMMENT: 14-Staedte in Burma (Zaw Win)
DIMENSION: 14
EDGE_WEIGHT_TYPE: GEO
EDGE_WEIGHT_FORMAT: FUNCTION
NODE_COORD_SECTION
   1  16.47       96.10
   2  16.47       94.44
   3  20.09       92.54
   4  22.39       93.37
   5  25.23       97.24
   6  22.00       96.05
   7  20.47       97.02
   8  17.20       96.29
   9  16.30       97.38
  10  14.05       98.12
  11  16.53       97.38
  12  21.52       95.59
  13  19.41       97.13
  14  20.09       94.55
EOF
"""


def _tsp(ewt: str, coords: list[tuple[float, float]], extra: str = "") -> bytes:
    body = "\n".join(f"{i} {x} {y}" for i, (x, y) in enumerate(coords, start=1))
    return (f"NAME : t\nTYPE : TSP\nDIMENSION : {len(coords)}\nEDGE_WEIGHT_TYPE : {ewt}\n{extra}"
            f"NODE_COORD_SECTION\n{body}\nEOF\n").encode()


def test_euc_2d_rounds_to_nearest_integer():
    inst = pio.read_tsplib(_tsp("EUC_2D", [(0, 0), (1, 1), (3, 4), (0, 2.5), (1, 2)]), name="a.tsp")
    d = inst.distance_matrix()
    assert d.dtype == np.int64
    assert d[0, 1] == 1  # sqrt 2 = 1.414 -> 1
    assert d[0, 2] == 5
    assert d[0, 3] == 3  # 2.5 rounds up: nint(x) = int(x + 0.5)
    assert d[0, 4] == 2  # sqrt 5 = 2.236 -> 2
    assert inst.tour_length([0, 1, 2]) == 1 + d[1, 2] + 5


def test_ceil_2d_rounds_up():
    inst = pio.read_tsplib(_tsp("CEIL_2D", [(0, 0), (1, 1), (3, 4), (0, 2.1)]), name="c.tsp")
    d = inst.distance_matrix()
    assert d[0, 1] == 2 and d[0, 2] == 5 and d[0, 3] == 3


def test_att_pseudo_euclidean():
    # r = sqrt((dx^2 + dy^2) / 10); t = nint(r); t + 1 if t < r
    inst = pio.read_tsplib(_tsp("ATT", [(0, 0), (10, 0), (0, 30), (1, 0)]), name="att.tsp")
    d = inst.distance_matrix()
    assert d[0, 1] == 4  # r = 3.162, t = 3 < r -> 4
    assert d[0, 2] == 10  # r = sqrt(90) = 9.487, t = 9 < r -> 10
    assert d[0, 3] == 1  # r = 0.316, t = 0 < r -> 1
    assert np.array_equal(d, d.T)


def test_geo_burma14_matches_published_optimum():
    inst = pio.read_tsplib(BURMA14.encode(), name="burma14.tsp")
    assert inst.name == "burma14" and inst.n == 14 and inst.distance == "GEO"
    d = inst.distance_matrix()
    assert d[0, 1] == 153
    tour = solve("held_karp", d)
    assert closed_length(d, tour) == 3323
    assert inst.tour_length(solve("reference", d)) == 3323


def test_geo_truncates_degrees_for_negative_coordinates():
    inst = pio.read_tsplib(_tsp("GEO", [(-16.30, -97.38), (16.30, 97.38), (0.0, 0.0)]), name="g.tsp")
    rad = pio._geo_radians(np.array([-16.30]))[0]
    assert rad == pytest.approx(-3.141592 * (16 + 5 * 0.30 / 3) / 180)
    d = inst.distance_matrix()
    assert d[0, 2] == d[1, 2]  # mirror points are equally far from (0, 0)


def test_header_variants_and_node_order():
    text = b"NAME:t\nTYPE: TSP\nDIMENSION:3\nEDGE_WEIGHT_TYPE:EUC_2D\nNODE_COORD_SECTION\n3 0 5\n1 0 0\n2 3 4\n"
    inst = pio.read_tsplib(text, name="t.tsp")
    assert inst.points.tolist() == [[0, 0], [3, 4], [0, 5]]  # ordered by node id


@pytest.mark.parametrize("ewt", ["EXPLICIT", "EUC_3D", "MAN_2D"])
def test_unsupported_edge_weight_type(ewt):
    with pytest.raises(LabInputError, match=f"not supported: {ewt}"):
        pio.read_tsplib(_tsp(ewt, [(0, 0), (1, 0), (0, 1)]), name="u.tsp")


@pytest.mark.parametrize(
    "text, match",
    [
        (_tsp("EUC_2D", [(0, 0), (1, 0)]), "at least 3"),
        (b"NAME : t\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1\n3 1 1\nEOF\n",
         "no y coordinate"),
        (b"NAME : t\nTYPE : TSP\nDIMENSION : 4\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 0\n3 1 1\nEOF\n",
         "DIMENSION 4"),
        (b"NAME : t\nTYPE : TSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nEOF\n", "no coordinates"),
        (_tsp("EUC_2D", [(0, 0), (float("nan"), 0), (1, 1)]), "NaN"),
        (b"NAME : t\nTYPE : ATSP\nDIMENSION : 3\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 0\n3 1 1\n",
         "not supported: TYPE ATSP"),
        (b"NAME : t\nTYPE : TSP\nNODE_COORD_SECTION\n1 0 0\n2 1 0\n3 1 1\n", "EDGE_WEIGHT_TYPE"),
        (b"NAME : t\nTYPE : TSP\nEDGE_WEIGHT_TYPE : EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 x 0\n3 1 1\n", "not 'id x y'"),
    ],
)
def test_bad_tsplib_files(text, match):
    with pytest.raises(LabInputError, match=match):
        pio.read_tsplib(text, name="bad.tsp")


def test_duplicates_rejected_for_hull_but_fine_for_tsp():
    text = _tsp("EUC_2D", [(0, 0), (1, 0), (0, 1), (1, 0)])
    assert pio.read_tsplib(text, name="d.tsp").n == 4
    with pytest.raises(LabInputError, match="repeats point"):
        pio.read_tsplib(text, name="d.tsp", task="hull")
    with pytest.raises(LabInputError, match="one line"):
        pio.validate_points(np.array([[0, 0], [1, 1], [2, 2.0]]), "p", "delaunay")


def test_csv_reader_single_and_grouped():
    (inst,) = pio.read_csv_points(b"X, Y\n0,0\n1,0\n0,1\n", name="pts.csv")
    assert inst.points.shape == (3, 2) and inst.distance == pio.EUCLIDEAN
    assert inst.tour_length([0, 1, 2]) == pytest.approx(2 + np.sqrt(2))
    many = pio.read_csv_points(b"instance,x,y\n0,0,0\n0,1,0\n0,0,1\n1,5,5\n1,6,5\n1,5,6\n", name="two.csv")
    assert [m.n for m in many] == [3, 3]
    with pytest.raises(LabInputError, match="no column 'y'"):
        pio.read_csv_points(b"x,z\n0,0\n1,1\n2,2\n", name="bad.csv")
    with pytest.raises(LabInputError, match="NaN"):
        pio.read_csv_points(b"x,y\n0,0\n1,\n2,2\n", name="nan.csv")
    with pytest.raises(LabInputError, match="non-numeric"):
        pio.read_csv_points(b"x,y\n0,0\n1,a\n2,2\n", name="txt.csv")


def test_npz_reader():
    buf = io.BytesIO()
    locs = np.random.default_rng(0).random((3, 6, 2)).astype(np.float32)
    np.savez(buf, locs=locs)
    got = pio.read_npz_locs(buf.getvalue(), name="x.npz")
    assert len(got) == 3 and np.allclose(got[1].points, locs[1])
    buf = io.BytesIO()
    np.savez(buf, coords=locs)
    with pytest.raises(LabInputError, match="no array 'locs'"):
        pio.read_npz_locs(buf.getvalue(), name="y.npz")
    buf = io.BytesIO()
    np.savez(buf, locs=np.zeros((2, 5, 3)))
    with pytest.raises(LabInputError, match="shape"):
        pio.read_npz_locs(buf.getvalue(), name="z.npz")


def test_load_instances_dispatch_and_unknown_type(tmp_path):
    path = tmp_path / "a.tsp"
    path.write_bytes(_tsp("EUC_2D", [(0, 0), (3, 0), (3, 4)]))
    (inst,) = pio.load_instances(path)
    assert inst.tour_length([0, 1, 2]) == 12
    with pytest.raises(LabInputError, match="unknown file type"):
        pio.load_instances(b"1,2", name="points.xlsx")


def test_writers_round_trip():
    pts = np.array([[0, 0], [3, 0], [3, 4.5]])
    text = pio.tsplib_text(pts, "rt", "CEIL_2D", comment="made in a test")
    inst = pio.read_tsplib(text.encode(), name="rt.tsp")
    assert np.allclose(inst.points, pts) and inst.distance == "CEIL_2D" and inst.comment == "made in a test"
    tour_text = pio.tour_text([0, 2, 1], "rt", length=12.0)
    assert "TOUR_SECTION\n1\n3\n2\n-1\nEOF" in tour_text
    assert pio.read_tour(tour_text.encode(), name="rt.tour").tolist() == [0, 2, 1]
    csv = pio.tour_csv(pts, [0, 2, 1])
    assert csv.splitlines()[0] == "step,index,x,y" and csv.splitlines()[2].startswith("1,2,3,4.5")
    assert pio.read_csv_points(pio.points_csv(pts).encode(), name="p.csv")[0].n == 3


def test_shipped_samples_parse_and_match_their_references():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "sample_data" / "pointer"
    refs = json.loads((root / "reference.json").read_text())
    inst = pio.read_tsplib(root / "random16.tsp")
    opt = pio.read_tour(root / "random16.opt.tour")
    assert inst.tour_length(opt) == refs["random16.tsp"]["length"]
    assert closed_length(inst.distance_matrix(), solve("held_karp", inst.distance_matrix())) == refs["random16.tsp"]["length"]
    att = pio.read_tsplib(root / "random48_att.tsp")
    assert att.distance == "ATT" and att.tour_length(pio.read_tour(root / "random48_att.tour")) == refs["random48_att.tsp"]["length"]
    assert pio.load_instances(root / "points50.csv")[0].n == 50
    assert [i.n for i in pio.load_instances(root / "uniform20x8.npz")] == [20] * 8
