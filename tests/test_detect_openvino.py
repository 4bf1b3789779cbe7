"""The OpenVINO SSD detector: Open Model Zoo IR on real frames, the contract, tiling, bad models."""

import numpy as np
import pytest

from mtmc.detect import DETECTORS, build_detector
from mtmc.detect.coco import class_ids
from mtmc.detect.openvino_ssd import away_from_inner_edges, tile_windows
from mtmc.errors import MtmcError

CAR, PERSON = class_ids(["car", "person"])


def save_onnx(path, input_shape, output_of):
    """A tiny ONNX model: one float input ``image`` of ``input_shape``; ``output_of(helper, nodes)``
    adds nodes from ``image`` and returns the output's name and shape."""
    import onnx
    from onnx import TensorProto, helper

    nodes: list = []
    name, shape = output_of(helper, nodes)
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


# image_id, label, confidence, x_min, y_min, x_max, y_max; the -1 row ends the list.
ROWS = np.array(
    [
        [0, 1, 0.9, 0.1, 0.1, 0.3, 0.4],
        [0, 2, 0.8, 0.5, 0.5, 0.9, 1.2],  # past the bottom edge: clipped
        [0, 1, 0.2, 0.6, 0.1, 0.8, 0.2],  # below the score threshold
        [-1, 0, 0, 0, 0, 0, 0],
        [0, 1, 0.99, 0.0, 0.0, 1.0, 1.0],  # after the end: never read
    ],
    np.float32,
)


def fixed_ssd(helper, nodes):
    """detection_out [1,1,5,7] = ROWS whatever the image (the image's mean times 0 is added)."""
    from onnx import numpy_helper

    nodes += [
        helper.make_node("Constant", [], ["rows"], value=numpy_helper.from_array(ROWS[None, None], "rows")),
        helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.zeros((), np.float32))),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["rows", "nothing"], ["detection_out"]),
    ]
    return "detection_out", [1, 1, 5, 7]


def classifier(helper, nodes):
    nodes.append(helper.make_node("ReduceMean", ["image"], ["logits"], axes=[2, 3], keepdims=0))
    return "logits", [1, 3]


@pytest.fixture(scope="module")
def ssd_onnx(tmp_path_factory):
    return save_onnx(tmp_path_factory.mktemp("ssd") / "fixed-ssd.onnx", [1, 3, 64, 64], fixed_ssd)


def test_any_onnx_ssd_with_a_label_map(ssd_onnx):
    detector = build_detector(
        "openvino", weights=ssd_onnx, labels={1: "car", 2: "person"}, classes=["car", "person"]
    )
    det = detector.detect(np.zeros((100, 200, 3), np.uint8))
    assert det.dtype == np.float32 and det.shape == (2, 6)
    assert det[0].tolist() == pytest.approx([20, 10, 60, 40, 0.9, CAR])
    assert det[1].tolist() == pytest.approx([100, 50, 180, 100, 0.8, PERSON])
    only_person = build_detector(
        "openvino", weights=ssd_onnx, labels={1: "car", 2: "person"}, classes=["person"]
    )
    assert only_person.detect(np.zeros((100, 200, 3), np.uint8))[:, 5].tolist() == [PERSON]


def test_input_size_override_reshapes_the_model(ssd_onnx):
    detector = build_detector("openvino", weights=ssd_onnx, labels={1: "car"}, input_size=[96, 128])
    assert (detector.height, detector.width) == (96, 128)
    assert len(detector.detect(np.zeros((50, 50, 3), np.uint8))) == 1


def test_mismatched_models_say_what_they_have(tmp_path, ssd_onnx):
    wrong_output = save_onnx(tmp_path / "classifier.onnx", [1, 3, 32, 32], classifier)
    with pytest.raises(
        MtmcError, match=r"needs an SSD output detection_out \[1,1,N,7\], the model has logits \[1,3\]"
    ):
        build_detector("openvino", weights=wrong_output, labels={1: "car"})
    grey = save_onnx(tmp_path / "grey.onnx", [1, 1, 64, 64], fixed_ssd)
    with pytest.raises(
        MtmcError, match=r"needs one image input \[1,3,H,W\], the model has image \[1,1,64,64\]"
    ):
        build_detector("openvino", weights=grey, labels={1: "car"})
    with pytest.raises(MtmcError, match=r"no label map is known for this model; give the detector labels"):
        build_detector("openvino", weights=ssd_onnx)
    with pytest.raises(MtmcError, match="detects only car: none of the classes asked for \\(person\\)"):
        build_detector("openvino", weights=ssd_onnx, labels={1: "car"}, classes=["person"])
    with pytest.raises(MtmcError, match="cannot run fixed-ssd.onnx on device 'NPU' \\(devices here: CPU"):
        build_detector("openvino", weights=ssd_onnx, labels={1: "car"}, device="NPU")


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("score_threshold", 1.0, "a number with 0 <= value < 1"),
        ("nms_iou", 0.0, "a number with 0 < value <= 1"),
        ("threads", 0, "an integer >= 1"),
        ("tiles", [2], r"\[rows, columns\], integers from 1 to 8, or null"),
        ("tiles", [0, 2], r"\[rows, columns\], integers from 1 to 8, or null"),
        ("tile_overlap", 0.5, "a number with 0 <= value < 0.5"),
        ("input_size", [16, 512], r"\[height, width\], integers >= 32, or null"),
        ("labels", {"car": 1}, r"a map \{label id: COCO name\}"),
    ],
)
def test_bad_options_state_the_valid_range(option, value, rule):
    with pytest.raises(MtmcError, match=f"openvino: option {option} must be {rule}, got"):
        build_detector("openvino", **{option: value})


def test_missing_ir_names_the_fetch_command(tmp_path, monkeypatch):
    import mtmc.weights

    monkeypatch.setattr(mtmc.weights, "search_dirs", lambda: [tmp_path])
    with pytest.raises(
        MtmcError, match="vehicle-detection-0202.bin beside it.*mtmc weights fetch vehicle-detection-0202"
    ):
        build_detector("openvino", weights="vehicle-detection-0202")


def test_tiles_cover_the_frame_with_overlap():
    windows = tile_windows(540, 960, 2, 3, 0.2)
    assert len(windows) == 6
    xs = sorted({(x0, x1) for x0, _, x1, _ in windows})
    ys = sorted({(y0, y1) for _, y0, _, y1 in windows})
    assert xs[0][0] == 0 and xs[-1][1] == 960 and ys[0][0] == 0 and ys[-1][1] == 540
    width = xs[0][1] - xs[0][0]
    assert xs[0][1] - xs[1][0] == pytest.approx(0.2 * width, abs=1)  # neighbours overlap by 20 %
    assert [x1 - x0 for x0, x1 in xs] == pytest.approx([width] * 3, abs=1)


def test_boxes_cut_by_an_inner_tile_edge_are_dropped():
    # The top-left tile of a 2x2 cut of 200x100: its right and bottom edges lie inside the frame.
    det = np.array([[10, 10, 40, 30], [60, 10, 120, 30], [10, 20, 40, 60], [0, 0, 30, 30]], np.float32)
    assert away_from_inner_edges(det, (0, 0, 120, 60), 100, 200).tolist() == [True, False, False, True]


@pytest.fixture(scope="module")
def detrac_frame(data_dir):
    import cv2

    return cv2.imread(
        str(data_dir / "ua-detrac-mvi20011" / "Insight-MVT_Annotation_Train" / "MVI_20011" / "img00001.jpg")
    )


@pytest.fixture(scope="module")
def detrac_truth(data_dir):
    """Frame 1's vehicle boxes (x1, y1, x2, y2) in the official annotation."""
    from mtmc.formats.detrac import read_detrac

    rows = read_detrac(
        data_dir / "ua-detrac-mvi20011" / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml"
    ).rows
    xywh = rows.xywh[rows.frame == 1]
    return np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


@pytest.fixture(scope="module")
def vehicle_0202():
    return build_detector("openvino", weights="vehicle-detection-0202")


def test_open_model_zoo_ir_finds_the_annotated_vehicles(vehicle_0202, detrac_frame, detrac_truth):
    from mtmc.track.matching import iou_matrix

    det = vehicle_0202.detect(detrac_frame)
    assert det.dtype == np.float32 and det.ndim == 2 and det.shape[1] == 6
    assert set(det[:, 5].astype(int)) == {CAR} and (np.diff(det[:, 4]) <= 0).all() and det[:, 4].min() >= 0.3
    assert (det[:, 0] < det[:, 2]).all() and (det[:, 1] < det[:, 3]).all()
    assert det[:, :4].min() >= 0 and det[:, [0, 2]].max() <= 960 and det[:, [1, 3]].max() <= 540
    found = (iou_matrix(detrac_truth, det[:, :4]).max(axis=1) >= 0.5).sum()
    assert found >= len(detrac_truth) - 1  # all but at most one of the 7


def test_crossroad_model_keeps_classes_by_coco_name(detrac_frame):
    vehicles = build_detector("openvino", weights="person-vehicle-bike-detection-crossroad-0078")
    assert set(vehicles.detect(detrac_frame)[:, 5].astype(int)) == {CAR}
    people = build_detector(
        "openvino", weights="person-vehicle-bike-detection-crossroad-0078", classes=["person"]
    )
    assert set(people.detect(detrac_frame)[:, 5].astype(int)) <= {PERSON}


def test_tiling_merges_what_tiles_and_the_whole_frame_both_see(vehicle_0202, detrac_frame):
    from mtmc.track.matching import iou_matrix

    tiled = build_detector("openvino", weights="vehicle-detection-0202", tiles=[2, 2])
    whole, merged = vehicle_0202.detect(detrac_frame), tiled.detect(detrac_frame)
    assert len(merged) >= len(whole)
    # Each confident whole-frame vehicle is still there once: no duplicate, no cut-off piece of it.
    confident = whole[whole[:, 4] >= 0.8, :4]
    overlaps = iou_matrix(confident, merged[:, :4])
    assert ((overlaps >= 0.5).sum(axis=1) == 1).all()
    inside = intersection_over_smaller(confident, merged[:, :4]) >= 0.8
    assert (inside.sum(axis=1) <= 1).all()


def intersection_over_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (hi - lo).clip(0).prod(axis=2)
    area_a, area_b = ((boxes[:, 2:] - boxes[:, :2]).prod(axis=1) for boxes in (a, b))
    return inter / np.minimum(area_a[:, None], area_b[None, :])


def test_registered_and_buildable_from_a_run_config(tmp_path):
    from mtmc.config import load_config

    assert "openvino" in DETECTORS.names()
    path = tmp_path / "run.yaml"
    path.write_text("detector: {name: openvino, weights: vehicle-detection-0202, score_threshold: 0.4}\n")
    config = load_config(path)
    detector = build_detector(config.detector.name, **{"threads": 1, **config.detector.options()})
    assert detector.score_threshold == 0.4 and (detector.height, detector.width) == (512, 512)
