"""KITTI tracking as a format (issue 35): labels, results, AB3DMOT detections and the scoring rule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mtmc.cli import main
from mtmc.detect import build_detector
from mtmc.errors import MtmcError
from mtmc.formats import read_kitti, read_kitti_objects, read_tracks, sniff_format, write_kitti, write_mot
from mtmc.formats.kitti import read_kitti_detections
from mtmc.metrics.kitti import kitti_scored
from mtmc.types import TrackRows

LABEL = "{f} {i} {kind} {t} {o} -1.0 {l} {top} {r} {b} 1.5 1.6 3.9 1.0 1.5 20.0 0.1\n"


def kitti_dir(data_dir: Path) -> Path:
    root = data_dir / "kitti-tracking"
    if not root.is_dir():
        pytest.skip("kitti-tracking not in shared data")
    return root


def test_labels_of_the_eleven_sequences_have_the_counts_of_the_data_readme(data_dir) -> None:
    cars, dont_care, first_frames = 0, 0, set()
    identities = 0
    for file in sorted((kitti_dir(data_dir) / "label_02").glob("00*.txt")):
        objects = read_kitti_objects(file)
        car = objects.of("Car")
        cars += int(car.sum())
        identities += len(np.unique(objects.rows.id[car]))
        dont_care += int(objects.of("dontcare").sum())
        first_frames.add(int(objects.rows.frame.min()))
        assert (objects.rows.id[objects.of("DontCare")] == -1).all()
    assert (cars, identities) == (13728, 358)  # "13,728 Car boxes of 358 cars"
    assert dont_care == 8573
    assert first_frames == {1}  # KITTI's frame 0 is mtmc's frame 1
    assert sniff_format(kitti_dir(data_dir) / "label_02" / "0000.txt", "mot") == "kitti"


def test_pointrcnn_detections_are_corner_boxes_with_raw_scores(data_dir) -> None:
    frames, boxes, lines = read_kitti_detections(kitti_dir(data_dir) / "det_pointrcnn_car" / "0000.txt")
    # first line: 0,2,298.3125,165.1800,458.2292,293.4391,8.2981,...
    assert frames[0] == 1 and lines[0] == 1
    np.testing.assert_allclose(boxes[0, :5], [298.3125, 165.18, 458.2292, 293.4391, 8.2981], rtol=1e-6)
    assert (boxes[:, 4] < 0).any() and (boxes[:, 4] > 1).any()  # logits, not probabilities


def test_results_round_trip_through_the_writer(tmp_path) -> None:
    rows = TrackRows(frame=[1, 1, 3], id=[4, 2, 4], xywh=[[10, 20, 30, 40], [0, 0, 5, 6], [12, 21, 30, 40]], score=[0.9, 0.5, 0.7])
    write_kitti(tmp_path / "0001.txt", rows)
    first = (tmp_path / "0001.txt").read_text().splitlines()[0].split()
    assert first[:3] == ["0", "2", "Car"] and first[6:10] == ["0.00", "0.00", "5.00", "6.00"]
    back = read_kitti(tmp_path / "0001.txt")
    order = np.lexsort((rows.id, rows.frame))
    np.testing.assert_array_equal(back.frame, rows.frame[order])
    np.testing.assert_allclose(back.xywh, rows.xywh[order])
    np.testing.assert_allclose(back.score, rows.score[order], atol=1e-4)
    assert len(read_tracks(tmp_path / "0001.txt")) == 3  # sniffed


def hand_made_labels(path: Path) -> Path:
    path.write_text(
        LABEL.format(f=0, i=0, kind="Car", t=0, o=0, l=0, top=0, r=100, b=100)
        + LABEL.format(f=0, i=1, kind="Van", t=0, o=0, l=200, top=0, r=300, b=100)
        + LABEL.format(f=0, i=-1, kind="DontCare", t=-1, o=-1, l=400, top=0, r=600, b=100)
        + LABEL.format(f=0, i=2, kind="Pedestrian", t=0, o=0, l=700, top=0, r=720, b=60)
        + LABEL.format(f=0, i=3, kind="Car", t=2, o=0, l=800, top=0, r=900, b=100)
    )
    return path


def test_van_and_dont_care_predictions_are_ignored_not_false_positives(tmp_path) -> None:
    labels = read_kitti_objects(hand_made_labels(tmp_path / "0000.txt"))
    pred = TrackRows(
        frame=[1] * 6,
        id=[1, 2, 3, 4, 5, 6],
        xywh=[
            [0, 0, 100, 100],  # the car: scored, a hit
            [205, 0, 95, 100],  # the van: ignored
            [450, 10, 60, 60],  # inside DontCare: ignored
            [320, 0, 100, 100],  # a fifth of it in DontCare: a false positive
            [700, 0, 20, 60],  # the pedestrian is no car: a false positive
            [800, 0, 100, 100],  # the truncated car: scored (only --kitti-official ignores it)
        ],
    )
    kept = kitti_scored(labels, pred)
    assert sorted(kept.pred.id.tolist()) == [1, 4, 5, 6]
    assert sorted(kept.gt.id.tolist()) == [0, 3]
    assert (kept.dropped_neighbour, kept.dropped_ignored) == (1, 1)
    official = kitti_scored(labels, pred, official=True)
    assert sorted(official.gt.id.tolist()) == [0]
    assert sorted(official.pred.id.tolist()) == [1, 4, 5]  # 6 matches the truncated car: ignored
    assert official.dropped_neighbour == 2
    tiny = TrackRows(frame=[1], id=[1], xywh=[[1000, 0, 30, 25]])
    assert len(kitti_scored(labels, tiny, official=True).pred) == 0 and len(kitti_scored(labels, tiny).pred) == 1


def test_eval_scores_a_mot_prediction_against_kitti_labels(tmp_path, capsys) -> None:
    gt = hand_made_labels(tmp_path / "0000.txt")
    pred = TrackRows(frame=[1, 1, 1], id=[7, 8, 9], xywh=[[0, 0, 100, 100], [205, 0, 95, 100], [800, 0, 100, 100]])
    write_mot(tmp_path / "pred" / "0000.txt", pred)
    assert main(["eval", str(gt), str(tmp_path / "pred" / "0000.txt"), "--json", str(tmp_path / "s.json"), "-q"]) == 0
    overall = json.loads((tmp_path / "s.json").read_text())["overall"]
    assert overall["num_false_positives"] == 0 and overall["num_misses"] == 0 and overall["mota"] == 1.0


def test_kitti_named_as_the_format_scores_labels_against_themselves(data_dir, tmp_path) -> None:
    labels = data_dir / "kitti-tracking" / "label_02" / "0001.txt"
    out = tmp_path / "s.json"
    assert main(["eval", str(labels), str(labels), "--gt-format", "kitti", "--pred-format", "kitti", "--json", str(out), "-q"]) == 0
    overall = json.loads(out.read_text())["overall"]
    assert overall["idf1"] == 1.0 and overall["num_switches"] == 0


def write_detections(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_file_detector_reads_kitti_detections_and_maps_scores(tmp_path) -> None:
    path = write_detections(
        tmp_path / "det.txt",
        [
            "0,2,10,20,110,70,0.0,1,1,1,0,0,0,0,0",
            "2,2,10,20,110,70,-2.0,1,1,1,0,0,0,0,0",
            "2,2,0,0,5,5,3.0,1,1,1,0,0,0,0,0",
            "2,2,1241,0,1241,5,3.0,1,1,1,0,0,0,0,0",  # clipped to zero width: left out
        ],
    )
    raw = build_detector("file", path=str(path))
    np.testing.assert_allclose(raw.detect_frame(1, None)[0, :5], [10, 20, 110, 70, 0.0])
    assert len(raw.detect_frame(2, None)) == 0 and len(raw.detect_frame(3, None)) == 2
    mapped = build_detector("file", path=str(path), score_map="sigmoid", score_threshold=0.5)
    assert len(mapped.detect_frame(1, None)) == 1 and mapped.detect_frame(1, None)[0, 4] == pytest.approx(0.5)
    np.testing.assert_allclose(mapped.detect_frame(3, None)[:, 4], [1 / (1 + np.exp(-3.0))])


def test_bad_kitti_detection_line_is_one_error_naming_the_line(tmp_path) -> None:
    path = write_detections(tmp_path / "det.txt", ["0,2,10,20,110,70,0.0,1,1,1,0,0,0,0,0", "1,2,110,20,10,70,0.5,1,1,1,0,0,0,0,0"])
    with pytest.raises(MtmcError, match=r"det.txt:2: box must have right >= left"):
        build_detector("file", path=str(path))
    with pytest.raises(MtmcError, match="score_map must be null or sigmoid"):
        build_detector("file", path=str(path), score_map="softmax")
