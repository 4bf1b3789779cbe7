"""The ONNX YOLOX detector: decoding, letterbox geometry, class filter, real detections."""

import numpy as np
import pytest

from mtmc.detect import DETECTORS, build_detector
from mtmc.detect.coco import class_ids
from mtmc.detect.yolox import decode, grid_for, letterbox
from mtmc.errors import MtmcError


def test_grid_matches_the_network_output_length():
    cells, strides = grid_for(416)
    assert len(cells) == 3549 == 52 * 52 + 26 * 26 + 13 * 13
    assert cells[53].tolist() == [1, 1] and strides[0, 0] == 8 and strides[-1, 0] == 32


def test_decode_one_cell_by_hand():
    out = np.zeros((3549, 85), np.float32)
    out[53, :4] = [0.5, 0.25, np.log(4.0), np.log(2.0)]  # cell (1, 1) of stride 8
    out[53, 4] = 0.8
    out[53, 5 + 2] = 0.5  # car
    boxes, scores, cls = decode(out, 416)
    assert boxes[53] == pytest.approx([12 - 16, 10 - 8, 12 + 16, 10 + 8])
    assert scores[53] == pytest.approx(0.4) and cls[53] == 2


def test_letterbox_keeps_aspect_and_pads_with_114():
    image = np.full((352, 640, 3), 7, np.uint8)
    canvas, scale = letterbox(image, 416)
    assert scale == pytest.approx(416 / 640)
    assert canvas.shape == (416, 416, 3)
    assert (canvas[:229] == 7).all() and (canvas[229:] == 114).all()


def test_unknown_names_are_listed():
    with pytest.raises(MtmcError, match="valid names are file, onnx-yolox"):
        build_detector("yolo-v99")
    with pytest.raises(MtmcError, match="unknown COCO class 'vehicle'"):
        class_ids(["vehicle"])
    assert "onnx-yolox" in DETECTORS.names()


def test_missing_weights_say_how_to_fetch(tmp_path):
    with pytest.raises(MtmcError, match="weights file not found"):
        build_detector("onnx-yolox", weights=tmp_path / "missing.onnx")


@pytest.fixture(scope="module")
def street_frame(data_dir):
    import cv2

    capture = cv2.VideoCapture(str(data_dir / "videos" / "street-a.mp4"))
    for _ in range(30):
        ok, frame = capture.read()
    capture.release()
    assert ok
    return frame


def test_detects_cars_on_real_footage(street_frame):
    detections = build_detector("onnx-yolox").detect(street_frame)
    assert detections.dtype == np.float32 and detections.shape[1] == 6
    assert len(detections) >= 3
    assert set(detections[:, 5].astype(int)) <= set(class_ids(["car", "bus", "truck", "motorcycle"]))
    x1, y1, x2, y2, score = detections[0, :5]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 352 and score >= 0.3
    assert (np.diff(detections[:, 4]) <= 0).all()  # best first
    # The large white car in the foreground (bottom right).
    assert ((detections[:, 0] > 300) & (detections[:, 2] > 580) & (detections[:, 3] > 330)).any()


def test_class_filter(street_frame):
    only_person = build_detector("onnx-yolox", classes=["person"]).detect(street_frame)
    assert set(only_person[:, 5].astype(int)) <= {0}
