"""Writers of tracker output and the annotated video."""

import json

import numpy as np

from mtmc.formats import read_aicity, read_mot
from mtmc.outputs import TrackWriter, VideoAnnotator


def tracks(*rows):
    return np.array(rows, np.float32).reshape(-1, 8)


def test_writer_formats_agree(tmp_path):
    writer = TrackWriter(3, tmp_path / "c003.txt", tmp_path / "aicity.txt", tmp_path / "c003.jsonl")
    writer.add(1, 0.0, tracks((10, 20, 50, 80, 7, 0.9, 2, 0)))
    writer.add(2, 0.04, tracks())
    writer.add(3, 0.08, tracks((12, 22, 52, 82, 7, 0.8, 2, 1), (100, 100, 140, 130, 8, 0.7, 7, 0)))
    rows = writer.close()
    assert len(rows) == 3
    mot = read_mot(tmp_path / "c003.txt")
    assert mot.frame.tolist() == [1, 3, 3] and mot.id.tolist() == [7, 7, 8]
    assert mot.xywh[0].tolist() == [10, 20, 40, 60]
    aicity = read_aicity(tmp_path / "aicity.txt")
    assert set(aicity.camera.tolist()) == {3} and len(aicity) == 3
    lines = [json.loads(line) for line in (tmp_path / "c003.jsonl").read_text().splitlines()]
    assert [line["frame"] for line in lines] == [1, 2, 3]
    assert lines[2]["tracks"][1] == {"id": 8, "box": [100.0, 100.0, 140.0, 130.0], "score": 0.7, "cls": 7}


def test_annotated_video_is_playable(tmp_path):
    import cv2

    annotator = VideoAnnotator(tmp_path / "v.mp4", fps=10, label="c001")
    image = np.zeros((120, 160, 3), np.uint8)
    for f in range(1, 6):
        drawn = annotator.add(image, tracks((10 + 5 * f, 20, 50 + 5 * f, 80, 4, 0.9, 2, 0)), f)
    annotator.close()
    assert drawn.any() and not image.any()  # drew on a copy
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 5
