"""Readers of MOTChallenge, AI City, VATIC and UA-DETRAC files, and their error messages."""

import numpy as np
import pytest

from mtmc.errors import InputFormatError, MtmcError
from mtmc.formats import (
    read_aicity,
    read_detrac,
    read_mot,
    read_tracks,
    read_vatic,
    sniff_format,
    write_aicity,
    write_mot,
)
from mtmc.formats.layout import find_sequences, pair_sequences

from helpers import rows


def test_mot_reads_mixed_separators_and_optional_confidence(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("1,3,10.5,20,30,40\n# a comment\n\n2 3 11 21\t30 40\n")
    r = read_mot(f)
    assert r.frame.tolist() == [1, 2] and r.id.tolist() == [3, 3]
    assert r.xywh[0].tolist() == [10.5, 20, 30, 40]
    assert r.score.tolist() == [1.0, 1.0]


def test_mot_ground_truth_ignore_rows(tmp_path):
    f = tmp_path / "gt.txt"
    f.write_text("1,1,0,0,10,10,1,1,1\n1,2,0,0,10,10,0,1,1\n")
    assert len(read_mot(f)) == 2
    assert read_mot(f, drop_zero_conf=True).id.tolist() == [1]


def test_mot_round_trip(tmp_path):
    r = rows((2, 5, 1.25, 2.5, 10, 20), (1, 4, 0, 0, 5, 5))
    write_mot(tmp_path / "o.txt", r)
    back = read_mot(tmp_path / "o.txt")
    assert back.frame.tolist() == [1, 2] and back.id.tolist() == [4, 5]
    assert np.allclose(back.xywh[1], [1.25, 2.5, 10, 20])


@pytest.mark.parametrize(
    "line, reason",
    [
        ("1,2,3,4,5", "expected at least 6 values"),
        ("1,2,3,x,5,6", "value 4 'x' is not a number"),
        ("1,2,3,4,5,nan", "not finite"),
        ("1.5,2,3,4,5,6", "frame must be a whole number"),
    ],
)
def test_malformed_line_names_file_line_and_reason(tmp_path, line, reason):
    f = tmp_path / "bad.txt"
    f.write_text("1,1,0,0,10,10,1\n\n" + line + "\n1,1,0,0,10,10,1\n")
    with pytest.raises(InputFormatError) as info:
        read_mot(f)
    message = str(info.value)
    assert message.startswith(f"{f}:3: ") and reason in message


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(MtmcError, match="not found: .*nope.txt"):
        read_mot(tmp_path / "nope.txt")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(InputFormatError, match="not a text file"):
        read_mot(tmp_path / "b.txt")


def test_empty_file_is_no_rows(tmp_path):
    (tmp_path / "e.txt").write_text("\n")
    assert len(read_mot(tmp_path / "e.txt")) == 0


def test_aicity_round_trip(tmp_path):
    r = rows((3, 7, 10, 20, 30, 40), (1, 7, 11, 21, 31, 41), camera=6)
    write_aicity(tmp_path / "s.txt", r)
    assert (tmp_path / "s.txt").read_text().splitlines()[0] == "6 7 1 11 21 31 41 -1 -1"
    back = read_aicity(tmp_path / "s.txt")
    assert back.camera.tolist() == [6, 6] and back.frame.tolist() == [1, 3]


def test_vatic_epfl_frames_from_one_and_lost_rows_dropped(data_dir):
    path = data_dir / "epfl-laboratory" / "laboratory6-c0" / "gt" / "gt.txt"
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    visible = [line for line in lines if line[6] == "0"]
    r = read_vatic(path, camera=1)
    assert len(r) == len(visible) > 0
    assert r.frame.min() == min(int(v[5]) for v in visible) + 1
    first = visible[0]
    x1, y1, x2, y2 = map(float, first[1:5])
    assert r.xywh[0].tolist() == [x1, y1, x2 - x1, y2 - y1]
    assert set(r.camera.tolist()) == {1}
    assert sniff_format(path, "mot") == "vatic"


def test_detrac_xml(data_dir):
    path = data_dir / "ua-detrac-mvi20011" / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml"
    seq = read_detrac(path)
    # Counts stated in ../shared/data/README.md.
    assert len(seq.rows) == 7655
    assert len(np.unique(seq.rows.id)) == 53
    assert len(np.unique(seq.rows.frame)) == 664
    assert seq.ignored_regions.shape == (7, 4)
    assert seq.vehicle_type[0] == "car"
    assert seq.rows.xywh[0].tolist() == [592.75, 378.8, 160.05, 162.2]
    assert len(read_tracks(path)) == 7655


def test_detrac_bad_xml(tmp_path):
    (tmp_path / "x.xml").write_text("<sequence><frame num='1'>")
    with pytest.raises(InputFormatError, match="not valid XML"):
        read_detrac(tmp_path / "x.xml")


def test_sequence_layouts(tmp_path):
    for seq in ("A", "B"):
        (tmp_path / "gt" / seq / "gt").mkdir(parents=True)
        (tmp_path / "gt" / seq / "gt" / "gt.txt").write_text("")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "A.txt").write_text("")
    (tmp_path / "res" / "B.txt").write_text("")
    gt = find_sequences(tmp_path / "gt", "ground truth")
    assert sorted(gt) == ["A", "B"]
    assert find_sequences(tmp_path / "gt" / "A", "ground truth") == {
        "A": tmp_path / "gt" / "A" / "gt" / "gt.txt"
    }
    paired = pair_sequences(gt, find_sequences(tmp_path / "res", "prediction"))
    assert [p[0] for p in paired] == ["A", "B"]
    (tmp_path / "res" / "B.txt").unlink()
    with pytest.raises(MtmcError, match="no file for sequence.*B"):
        pair_sequences(gt, find_sequences(tmp_path / "res", "prediction"))
