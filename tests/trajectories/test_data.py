"""Readers on hand-written files (good and bad), ground-truth sidecars, and windows."""

import numpy as np
import pytest

from lab.core.errors import LabInputError
from lab.trajectories.data import (
    find_groups_file,
    infer_frame_step,
    load_scene,
    make_windows,
    read_groups_txt,
    read_scene,
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_eth_ucy_tabs_unsorted_duplicates_and_float_ids(tmp_path):
    text = "20.0\t1.0\t1.2\t0.5\n0.0\t1.0\t1.0\t0.5\n10.0\t1.0\t1.1\t0.5\n10\t2\t5\t5\n10 2 5 5.2\n\n0 2 5.0e+00 4.8\n"
    scene = read_scene(_write(tmp_path, "a.txt", text))
    assert scene.frame_step == 10 and list(scene.frames) == [0, 10, 20] and scene.agents == [1, 2]
    assert scene.pos[1, 0].tolist() == [1.1, 0.5]
    assert scene.pos[1, 1].tolist() == pytest.approx([5.0, 5.1])  # the duplicate (10, 2) averaged
    assert not scene.present[2, 1] and any("averaged" in n for n in scene.notes)


def test_frame_step_is_inferred_and_gaps_are_empty_frames(tmp_path):
    rows = [f"{f} 1 {f / 6:.2f} 0" for f in range(780, 840, 6)] + [f"{f} 1 {f / 6:.2f} 0" for f in range(1200, 1230, 6)]
    scene = read_scene(_write(tmp_path, "eth.txt", "\n".join(rows)))
    assert scene.frame_step == 6 and scene.frames[0] == 780
    assert scene.present.sum() == len(rows)
    assert scene.shape[0] == 10 + 1 + 5 and not scene.present[10].any()  # the gap: one empty step
    assert scene.frame_index(1200) == 11 and scene.frame_index(1201) == -1
    assert infer_frame_step(np.array([0, 10, 20, 100, 110])) == 10


def test_header_line_and_csv_with_named_columns(tmp_path):
    scene = read_scene(_write(tmp_path, "h.txt", "frame ped_id x y\n0 1 0 0\n1 1 1 0\n"))
    assert scene.frame_step == 1 and scene.shape == (2, 1)
    csv = read_scene(_write(tmp_path, "s.csv", "Frame, Agent, X, Y\n0,a,0,0\n10,a,1,0\n10,b,2,2\n"))
    assert csv.agents == ["a", "b"] and csv.pos[1, 1].tolist() == [2.0, 2.0]
    alias = read_scene(_write(tmp_path, "p.csv", "frame,ped_id,x,y\n0,3,0,0\n"))
    assert alias.agents == [3]


@pytest.mark.parametrize("text,words", [
    ("0 1 0.0\n", "3 values"),
    ("0 1 abc 0\n", "not a number"),
    ("0 1 nan 0\n", "nan"),
    ("", "empty"),
    ("# only a comment\n", "no rows"),
    ("0.5 1 0 0\n", "non-integer"),
])
def test_bad_text_files_say_what_is_wrong_in_one_sentence(tmp_path, text, words):
    with pytest.raises(LabInputError) as err:
        read_scene(_write(tmp_path, "bad.txt", text))
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text,words", [
    ("frame,agent,x\n0,1,0\n", "no column y"),
    ("frame,agent,x,y\n", "no rows"),
    ("frame,agent,x,y\n0,1,zz,0\n", "not a number"),
])
def test_bad_csv_files(tmp_path, text, words):
    with pytest.raises(LabInputError) as err:
        read_scene(_write(tmp_path, "bad.csv", text))
    assert words in str(err.value)


def test_sidecar_and_groups_txt(tmp_path):
    scene_path = _write(tmp_path, "s.txt", "0 1 0 0\n0 2 1 0\n0 3 5 5\n10 1 0 1\n10 2 1 1\n10 3 5 6\n")
    assert find_groups_file(scene_path) is None
    _write(tmp_path, "groups.txt", "1 2 2\n\n3\n")  # a repeated id, a blank line, a singleton
    scene = load_scene(scene_path)
    assert scene.groups[0, 0] == scene.groups[0, 1] != scene.groups[0, 2]
    _write(tmp_path, "s.txt.groups.csv", "frame,agent,group\n0,1,7\n0,2,8\n0,3,8\n10,1,7\n10,2,7\n10,3,8\n")
    scene = load_scene(scene_path)  # the sidecar is preferred
    assert scene.groups[0].tolist() == [0, 1, 1] and scene.groups[1].tolist() == [0, 0, 1]
    bad = _write(tmp_path, "bad_groups.txt", "1 x\n")
    with pytest.raises(LabInputError, match="not an agent id"):
        read_groups_txt(bad, scene)


def test_windows_never_include_an_absent_agent(tmp_path):
    rows = [f"{f * 10} 1 {f} 0" for f in range(10)]  # agent 1: frames 0..9
    rows += [f"{f * 10} 2 {f} 1" for f in range(10) if f != 5]  # agent 2: a gap at frame 5
    rows += [f"{f * 10} 3 {f} 2" for f in range(3, 10)]  # agent 3 appears at frame 3
    scene = read_scene(_write(tmp_path, "w.txt", "\n".join(rows)))
    w = make_windows(scene, obs=2, pred=2)
    assert list(w.starts) == list(range(7))
    for s, agents in zip(w.starts, w.agents, strict=True):
        assert scene.present[s:s + 4][:, agents].all()
        assert (1 in agents) == (s + 3 < 5 or s > 5)  # agent 2 (index 1) only in windows clear of its gap
        assert (2 in agents) == (s >= 3)
    assert w.n_tracks == sum(len(a) for a in w.agents)


def test_a_recording_that_restarts_on_another_phase_after_a_gap(tmp_path):
    rows = [f"{f} 1 {f / 60:.3f} 0" for f in range(780, 900, 6)] + [f"{f} 2 {f / 60:.3f} 1" for f in range(4163, 4300, 6)]
    scene = read_scene(_write(tmp_path, "eth_like.txt", "\n".join(rows)))
    assert scene.frame_step == 6 and scene.present.sum() == len(rows) and not scene.notes
    assert scene.frame_index(4163) == 21 and scene.frame_index(894) == 19
    w = make_windows(scene, obs=8, pred=12)
    assert list(w.starts) == [0, 21, 22, 23, 24]  # agent 1: 20 steps, one window; agent 2: 23 steps, four
    assert [list(a) for a in w.agents] == [[0], [1], [1], [1], [1]]
