"""``mtmc track --detections DET --size WxH`` (issue 35): boxes tracked without frames, motion only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtmc.cli import main

DETS = [  # two cars crossing a 64 x 48 image, KITTI/AB3DMOT detection lines (frames from 0, logits)
    f"{f},2,{2 + 3 * f},10,{14 + 3 * f},20,{2.0 - 0.1 * f:.2f},1,1,1,0,0,0,0,0" for f in range(8)
] + [f"{f},2,{50 - 3 * f},24,{62 - 3 * f},34,1.5,1,1,1,0,0,0,0,0" for f in range(1, 8)]
CONFIG = "detector: {name: file, path: unused, score_map: sigmoid}\ntracker: {name: deepsort-bot, n_init: 2}\n"


@pytest.fixture
def kitti_run(tmp_path: Path) -> Path:
    (tmp_path / "det.txt").write_text("\n".join(DETS) + "\n")
    (tmp_path / "run.yaml").write_text(CONFIG)
    return tmp_path


def rows(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", ndmin=2)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_without_frames_equals_tracking_blank_frames(kitti_run: Path) -> None:
    import cv2

    run = ["--detections", str(kitti_run / "det.txt"), "--config", str(kitti_run / "run.yaml"), "-q"]
    assert main(["track", "-o", str(kitti_run / "none.txt"), "--size", "64x48", "--fps", "10", *run]) == 0
    (kitti_run / "motion.yaml").write_text(CONFIG + "embedder: null\n")  # the frames' run: no embedder either
    frames = kitti_run / "seq" / "img1"
    frames.mkdir(parents=True)
    for index in range(1, 9):
        cv2.imwrite(str(frames / f"{index:06d}.png"), np.zeros((48, 64, 3), np.uint8))
    (kitti_run / "seq" / "seqinfo.ini").write_text("[Sequence]\nframeRate=10\nimWidth=64\nimHeight=48\n")
    assert main(["track", str(kitti_run / "seq"), "-o", str(kitti_run / "blank.txt"), "--config", str(kitti_run / "motion.yaml"), *run[:2], "-q"]) == 0
    without, blank = rows(kitti_run / "none.txt"), rows(kitti_run / "blank.txt")
    assert len(without) >= 10 and len(np.unique(without[:, 1])) == 2
    np.testing.assert_array_equal(without, blank)
    for image in frames.iterdir():  # the same folder without its images: seqinfo.ini gives the size
        image.unlink()
    (kitti_run / "seq" / "seqinfo.ini").write_text("[Sequence]\nframeRate=10\nseqLength=8\nimWidth=64\nimHeight=48\n")
    assert main(["track", str(kitti_run / "seq"), "-o", str(kitti_run / "ini.txt"), "--config", str(kitti_run / "run.yaml"), *run[:2], "-q"]) == 0
    np.testing.assert_array_equal(rows(kitti_run / "ini.txt"), without)


def test_an_embedder_without_frames_is_one_line_saying_frames_are_needed(kitti_run: Path, capsys) -> None:
    (kitti_run / "run.yaml").write_text(CONFIG + "embedder: {name: reid}\n")
    code = main(["track", "-o", str(kitti_run / "o.txt"), "--detections", str(kitti_run / "det.txt"), "--size", "64x48", "--config", str(kitti_run / "run.yaml")])
    assert code == 2
    assert "needs the frames" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--size", "64by48"], "is not WxH"),
        (["--size", "64x48", "--video", "v.mp4"], "--video draws on the frames"),
        (["some.mp4", "--size", "64x48"], "give --detections and no SOURCE"),
    ],
)
def test_bad_use_of_size_is_one_line(kitti_run: Path, capsys, extra: list[str], words: str) -> None:
    code = main(["track", "-o", str(kitti_run / "o.txt"), "--detections", str(kitti_run / "det.txt"), *extra])
    assert code == 2
    assert words in one_line_error(capsys)


def test_size_without_detections_is_one_line(kitti_run: Path, capsys) -> None:
    assert main(["track", "-o", str(kitti_run / "o.txt"), "--size", "64x48"]) == 2
    assert "give --detections" in one_line_error(capsys)


def test_interpolate_fills_a_gap_in_the_output_offline(kitti_run: Path, capsys) -> None:
    lines = (kitti_run / "det.txt").read_text().splitlines()
    (kitti_run / "det.txt").write_text("\n".join(line for line in lines if not line.startswith("4,2,14")) + "\n")
    run = ["--detections", str(kitti_run / "det.txt"), "--size", "64x48", "--fps", "10", "--config", str(kitti_run / "run.yaml"), "-q"]
    assert main(["track", "-o", str(kitti_run / "gap.txt"), *run]) == 0
    assert main(["track", "-o", str(kitti_run / "filled.txt"), "--interpolate", "0.5", *run]) == 0
    gap, filled = rows(kitti_run / "gap.txt"), rows(kitti_run / "filled.txt")
    first = filled[filled[:, 1] == 1]
    assert 5 not in gap[gap[:, 1] == 1, 0] and 5 in first[:, 0]  # frame 5 is KITTI's frame 4
    np.testing.assert_allclose(first[first[:, 0] == 5, 2], (first[first[:, 0] == 4, 2] + first[first[:, 0] == 6, 2]) / 2, atol=0.02)
    assert "interpolated 1 boxes" in capsys.readouterr().err
    assert main(["track", "-o", str(kitti_run / "x.txt"), "--interpolate", "0", *run]) == 2
