"""Detector ``file`` (issue 18): boxes from MOTChallenge / AI City detection files, by frame number."""

from __future__ import annotations

import pathlib

import json
from pathlib import Path

import numpy as np
import pytest

import mtmc.camera as camera_module
from mtmc.cli import main
from mtmc.detect import build_detector
from mtmc.errors import MtmcError

NO_EMBEDDER = "embedder: null\n"


def frames_folder(root: Path, count: int = 3) -> Path:
    import cv2

    root.mkdir(parents=True)
    for index in range(1, count + 1):
        image = np.full((48, 64, 3), 40 * index, np.uint8)
        cv2.imwrite(str(root / f"{index:06d}.jpg"), image)
    return root


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


@pytest.fixture
def no_detector_weights(monkeypatch):
    """Any detector that would load weights fails the test."""
    import mtmc.detect.openvino_ssd as openvino_ssd
    import mtmc.detect.yolox as yolox

    def refuse(name, *args, **kwargs):
        raise AssertionError(f"detector weights {name} were loaded")

    monkeypatch.setattr(openvino_ssd, "resolve_weights", refuse)
    monkeypatch.setattr(yolox, "resolve_weights", refuse)


def test_boxes_by_frame_in_both_layouts(tmp_path):
    det = tmp_path / "det.txt"
    det.write_text(
        "2,-1,10,20,30,40,0.4,-1,-1,-1\n"  # MOTChallenge, 10 columns
        "\n"
        "1,-1,1.5,2.5,10,20,0.9,-1,-1,-1\n"
        "2,-1,100.0,50.0,20.0,10.0,0.95,-1,-1,-1\n"  # AI City det_*.txt: floats, same layout
        "2,7,5,5,5,5,0.2\n"  # 7 columns, an id that is not -1
    )
    detector = build_detector("file", path=det, classes=["person"], threads=2)
    image = np.zeros((48, 64, 3), np.uint8)
    frame2 = detector.detect_frame(2, image)
    assert frame2.dtype == np.float32 and frame2.shape == (3, 6)
    np.testing.assert_allclose(
        frame2,
        [[100, 50, 120, 60, 0.95, 0], [10, 20, 40, 60, 0.4, 0], [5, 5, 10, 10, 0.2, 0]],  # best score first
        rtol=1e-6,
    )
    np.testing.assert_allclose(detector.detect_frame(1, image), [[1.5, 2.5, 11.5, 22.5, 0.9, 0]], rtol=1e-6)
    assert detector.detect_frame(3, image).shape == (0, 6)
    frame2[:] = 0  # the caller's copy
    assert detector.detect_frame(2, image)[0, 4] == pytest.approx(0.95)

    assert build_detector("file", path=det).detect_frame(1, image)[0, 5] == 2  # car by default
    assert build_detector("file", path=det, class_name="bus").detect_frame(1, image)[0, 5] == 5
    kept = build_detector("file", path=det, score_threshold=0.4).detect_frame(2, image)
    np.testing.assert_allclose(kept[:, 4], [0.95, 0.4])
    with pytest.raises(MtmcError, match="no class column"):
        build_detector("file", path=det, classes=["car", "bus"])
    with pytest.raises(MtmcError, match="unknown COCO class 'lorry'"):
        build_detector("file", path=det, class_name="lorry")
    with pytest.raises(MtmcError, match="unknown option weights: valid options are path"):
        build_detector("file", path=det, weights="yolox-nano")
    with pytest.raises(MtmcError, match="score_threshold must be a number"):
        build_detector("file", path=det, score_threshold="high")
    with pytest.raises(MtmcError, match="frame number"):
        detector.detect(image)  # an image without its frame number


def test_pets09_with_detections_from_gt_rows(data_dir, tmp_path, capsys, no_detector_weights):
    sequence = data_dir / "pets09-s2l1"
    assert not (sequence / "det" / "det.txt").exists()  # the copy here ships GT only: boxes from its rows
    rows = np.loadtxt(sequence / "gt" / "gt.txt", delimiter=",", ndmin=2)
    rows = rows[rows[:, 6] != 0]  # confidence 0: "ignore" rows
    det = tmp_path / "det.txt"
    det.write_text("".join(f"{int(r[0])},-1,{r[2]},{r[3]},{r[4]},{r[5]},1,-1,-1,-1\n" for r in rows))
    config = tmp_path / "motion.yaml"
    config.write_text(NO_EMBEDDER)
    out = tmp_path / "out.txt"
    args = ["track", str(sequence), "--detections", str(det), "-o", str(out), "--classes", "person"]
    assert main([*args, "--config", str(config), "-q"]) == 0
    capsys.readouterr()
    scores = tmp_path / "scores.json"
    assert main(["eval", str(sequence / "gt" / "gt.txt"), str(out), "--json", str(scores), "-q"]) == 0
    overall = json.loads(scores.read_text())["overall"]
    # Exact boxes: Deep SORT loses only the frames before a track is confirmed, and a few ids.
    assert overall["precision"] > 0.99 and overall["recall"] > 0.98
    assert overall["mota"] > 0.97 and overall["idf1"] > 0.85


def test_embedder_sees_the_frames_and_the_files_boxes(tmp_path, monkeypatch, no_detector_weights):
    folder = frames_folder(tmp_path / "seq")
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n3,-1,12,11,20,20,0.8,-1,-1,-1\n3,-1,40,5,10,30,0.7,-1,-1,-1\n")
    seen = []
    embed = camera_module.embed_for_tracker

    def spy(embedder, tracker, image, detections):
        seen.append((int(image.mean()), detections.copy()))
        return embed(embedder, tracker, image, detections)

    monkeypatch.setattr(camera_module, "embed_for_tracker", spy)
    assert main(["track", str(folder), "--detections", str(det), "-o", str(tmp_path / "t.txt"), "-q"]) == 0
    assert [mean for mean, _ in seen] == pytest.approx([40, 80, 120], abs=2)  # the frames themselves
    assert [len(d) for _, d in seen] == [1, 0, 2]
    np.testing.assert_allclose(seen[2][1][:, :4], [[12, 11, 32, 31], [40, 5, 50, 35]])
    assert (seen[0][1][:, 5] == 2).all()  # car


def test_detector_file_from_a_config(tmp_path, capsys, no_detector_weights):
    folder = frames_folder(tmp_path / "seq")
    det = tmp_path / "det.txt"
    det.write_text("".join(f"{f},-1,10,10,20,20,0.9,-1,-1,-1\n" for f in (1, 2, 3)))
    config = tmp_path / "c.yaml"
    config.write_text(NO_EMBEDDER + f"detector: {{name: file, path: '{det}', class_name: person}}\n")
    out = tmp_path / "t.txt"
    assert main(["track", str(folder), "-o", str(out), "--config", str(config), "-q"]) == 0
    assert len(out.read_text().splitlines()) >= 1  # confirmed at the third frame


LAYOUT = "frame,-1,left,top,width,height,score[,x,y,z]"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "1,-1,10,10,20,20,0.9\n1,-1,10,10,five,20,0.9\n",
            f"{{det}}:2: value 5 'five' is not a number (expected {LAYOUT}): '1,-1,10,10,five,20,0.9'",
        ),
        ("1,-1,10,10,20\n", f"{{det}}:1: expected {LAYOUT} (7 to 10 numbers), got 5: '1,-1,10,10,20'"),
        ("1.5,-1,10,10,20,20,0.9\n", "{det}:1: frame '1.5' is not a frame number (an integer >= 1): '1.5,-1,10,10,20,20,0.9'"),
        ("0,-1,10,10,20,20,0.9\n", "{det}:1: frame '0' is not a frame number (an integer >= 1): '0,-1,10,10,20,20,0.9'"),
        ("1,-1,10,10,0,20,0.9\n", f"{{det}}:1: width and height must be > 0 (expected {LAYOUT}): '1,-1,10,10,0,20,0.9'"),
        ("1,-1,10,10,20,20,nan\n", f"{{det}}:1: value 7 'nan' is not a number (expected {LAYOUT}): '1,-1,10,10,20,20,nan'"),
        (
            "1,-1,10,10,20,20,0.9\n2,-1,1,1,5,5,1\n4,-1,1,1,5,5,1\n",
            "{det}:3: frame 4 is beyond the last frame of seq (3): are these the detections of another sequence?",
        ),
    ],
)
def test_bad_detections_are_one_line(tmp_path, capsys, text, expected, no_detector_weights):
    folder = frames_folder(tmp_path / "seq")
    det = tmp_path / "det.txt"
    det.write_text(text)
    config = tmp_path / "c.yaml"
    config.write_text(NO_EMBEDDER)
    out = tmp_path / "t.txt"
    args = ["track", str(folder), "--detections", str(det), "-o", str(out), "--config", str(config), "-q"]
    assert main(args) == 2
    assert one_line_error(capsys) == "mtmc track: error: " + expected.format(det=det)
    assert not out.exists()


def test_missing_file_and_both_detector_options(tmp_path, capsys):
    folder = frames_folder(tmp_path / "seq")
    out = str(tmp_path / "t.txt")
    assert main(["track", str(folder), "--detections", str(tmp_path / "nope.txt"), "-o", out, "-q"]) == 2
    assert one_line_error(capsys) == f"mtmc track: error: detections file not found: {tmp_path / 'nope.txt'} (check the path)"
    assert main(["track", str(folder), "--detections", str(tmp_path), "-o", out, "-q"]) == 2
    assert "is a folder: give the file" in one_line_error(capsys)
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,10,20,20,0.9\n")
    assert main(["track", str(folder), "--detections", str(det), "--detector", "onnx-yolox", "-o", out, "-q"]) == 2
    assert "give --detector or --detections" in one_line_error(capsys)
    assert main(["track", str(folder), "--detections", str(det), "--classes", "car,bus", "-o", out, "-q"]) == 2
    assert "no class column" in one_line_error(capsys)
    assert not Path(out).exists()


def test_a_config_names_its_detections_file_relative_to_itself(tmp_path, monkeypatch) -> None:
    from mtmc.config import load_config

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "run.yaml").write_text("detector: {name: file, path: det/det.txt}\n")
    monkeypatch.chdir(tmp_path)
    path = load_config("cfg/run.yaml").detector.options()["path"]
    assert pathlib.Path(path).resolve() == tmp_path / "cfg" / "det" / "det.txt"


def test_one_config_names_each_cameras_detections_file(tmp_path) -> None:
    from mtmc.camera import detector_options
    from mtmc.config import load_config

    for camera in ("c006", "c007"):
        (tmp_path / "S02" / camera / "det").mkdir(parents=True)
        (tmp_path / "S02" / camera / "det" / "det_mask_rcnn.txt").write_text(f"1,-1,10,20,30,40,0.9\n{camera[-1]},-1,1,1,5,5,0.8\n")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "aicity.yaml").write_text(
        "cameras: [{id: c006, source: ../S02/c006/vdo.avi}, {id: north-gate, source: ../S02/c007/vdo.avi, number: 7}]\n"
        "detector: {name: file, path: '{source_dir}/det/det_mask_rcnn.txt'}\n"
    )
    config = load_config(tmp_path / "cfg" / "aicity.yaml")
    paths = [pathlib.Path(detector_options(config, c)["path"]) for c in config.cameras]
    assert paths == [tmp_path / "S02" / c / "det" / "det_mask_rcnn.txt" for c in ("c006", "c007")]
    detectors = [build_detector("file", **detector_options(config, c)) for c in config.cameras]
    assert [sorted(d.spans) for d in detectors] == [[1, 6], [1, 7]]  # each camera read its own file

    (tmp_path / "cfg" / "named.yaml").write_text(
        "cameras: [{id: north-gate, source: a.mp4}]\ndetector: {name: file, path: 'dets/{camera}-c{number:03d}.txt'}\n"
    )
    config = load_config(tmp_path / "cfg" / "named.yaml")
    assert pathlib.Path(detector_options(config, config.cameras[0])["path"]) == tmp_path / "cfg" / "dets" / "north-gate-c001.txt"

    (tmp_path / "cfg" / "typo.yaml").write_text("cameras: [{id: a, source: a.mp4}]\ndetector: {name: file, path: 'd/{cam}.txt'}\n")
    config = load_config(tmp_path / "cfg" / "typo.yaml")
    with pytest.raises(MtmcError, match=r"detector.path .*\{cam\}.*cannot fill in 'cam' \(placeholders: \{camera\}, \{number\}, \{source_dir\}\)"):
        detector_options(config, config.cameras[0])
