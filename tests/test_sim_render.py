"""SynthCity rendered from the shared street footage: layout, determinism, geometry, scoring."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.formats import read_aicity, read_mot
from mtmc.metrics.aicity import evaluate_aicity, find_roi_masks, outside_roi
from mtmc.sim.config import SimConfig
from mtmc.sim.geometry import apply_homography
from mtmc.sim.scenario import simulate

pytestmark = pytest.mark.integration

CORNERS = [[218, 170], [382, 174], [1294, 352], [300, 352]]


def tiny_config(data_dir: Path, cache: Path, seed: int = 0) -> SimConfig:
    return SimConfig.model_validate(
        {
            "seed": seed,
            "duration_s": 8,
            "footage": {
                "street-a": {
                    "video": str(data_dir / "videos" / "street-a.mp4"),
                    "road": {"corners": CORNERS, "width_m": 8, "length_m": 45},
                    "frames": [0, 240],
                    "background_frames": 20,
                }
            },
            "sprites": {"frame_step": 4, "min_views": 1},
            "world": {"nodes": {"W": [0, 0], "X": [60, 0], "E": [120, 0]}, "roads": [["W", "X"], ["X", "E"]]},
            "cameras": [
                {"id": "c001", "road": ["W", "X"], "fps": 5, "size": [320, 180]},
                {"id": "c002", "road": ["X", "E"], "fps": 4, "size": [320, 180], "view": {"flip": True}},
            ],
            "traffic": {"vehicles": 6, "single_camera_fraction": 0, "speed_mps": [12, 16], "headway_s": 0.8},
            "render": {"workers": 2, "min_visibility": 0.0},
            "cache_dir": str(cache),
        }
    )


def frames_of(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            return frames
        frames.append(image)


@pytest.fixture(scope="module")
def scenario(data_dir: Path, tmp_path_factory) -> tuple[Path, SimConfig, dict]:
    out = tmp_path_factory.mktemp("synthcity")
    config = tiny_config(data_dir, out / "cache-1")
    summary = simulate(config, out / "run-1", show_progress=False)
    return out, config, summary


def test_layout_and_formats(scenario):
    out, config, summary = scenario
    run = out / "run-1"
    assert summary["cameras"] == 2 and summary["boxes"] > 10
    for camera, fps, count in [("c001", 5, 40), ("c002", 4, 32)]:
        folder = run / camera
        frames = frames_of(folder / "vdo.mp4")
        offset = float(dict(line.split() for line in (run / "cam_timestamp.txt").read_text().splitlines())[camera])
        assert len(frames) == int(np.floor((8 - offset) * fps)) and count - fps * 3 <= len(frames) <= count
        assert frames[0].shape == (180, 320, 3)
        gt = read_mot(folder / "gt" / "gt.txt")
        assert gt.frame.min() >= 1 and gt.frame.max() <= len(frames)
        assert np.all(gt.xywh[:, :2] >= 0) and np.all(gt.xywh[:, 0] + gt.xywh[:, 2] <= 320 + 1e-6)
        roi = cv2.imread(str(folder / "roi.jpg"), cv2.IMREAD_GRAYSCALE)
        assert roi.shape == (180, 320) and (roi == 255).mean() > 0.2 and (roi < 255).mean() > 0.02
        assert (folder / "calibration.txt").read_text().startswith("Homography matrix: ")
    for name in ["ground_truth.txt", "topology.yaml", "vehicles.json"]:
        assert (run / name).is_file()


def test_same_config_and_seed_give_identical_files_and_frames(scenario, data_dir):
    out, _, _ = scenario
    again = tiny_config(data_dir, out / "cache-2")  # sprites harvested again, from scratch
    simulate(again, out / "run-2", show_progress=False)
    for name in ["ground_truth.txt", "cam_timestamp.txt", "topology.yaml", "vehicles.json", "c001/gt/gt.txt", "c002/gt/gt.txt"]:
        assert (out / "run-1" / name).read_bytes() == (out / "run-2" / name).read_bytes(), name
    for camera in ["c001", "c002"]:
        first, second = frames_of(out / "run-1" / camera / "vdo.mp4"), frames_of(out / "run-2" / camera / "vdo.mp4")
        assert len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))
    other = tiny_config(data_dir, out / "cache-1", seed=1)
    simulate(other, out / "run-3", show_progress=False)
    assert (out / "run-1" / "c001/gt/gt.txt").read_bytes() != (out / "run-3" / "c001/gt/gt.txt").read_bytes()


def test_calibration_projects_world_positions_to_the_box_bottoms(scenario):
    out, _, _ = scenario
    run = out / "run-1"
    truth = np.loadtxt(run / "ground_truth.txt", ndmin=2)
    checked = 0
    for number in np.unique(truth[:, 0]).astype(int):
        text = (run / f"c{number:03d}" / "calibration.txt").read_text().splitlines()[0]
        h = np.array([[float(v) for v in row.split()] for row in text.split(":", 1)[1].split(";")])
        gt = np.loadtxt(run / f"c{number:03d}" / "gt" / "gt.txt", delimiter=",", ndmin=2)
        rows = truth[truth[:, 0] == number]
        for _, vid, frame, x, y, w, hgt, wx, wy in rows:
            match = gt[(gt[:, 0] == frame) & (gt[:, 1] == vid)][0]
            if match[8] < 0.95 or x <= 0 or x + w >= 319 or y + hgt >= 179:
                continue  # occluded or cut by the border: the box bottom is not the foot
            foot = apply_homography(h, np.array([[wx, wy]]))[0]
            assert x - 2 <= foot[0] <= x + w + 2
            assert abs(foot[1] - (y + hgt)) <= 0.2 * hgt + 3
            checked += 1
    assert checked >= 5


def test_ground_truth_scores_perfectly_against_itself(scenario):
    out, _, _ = scenario
    run = out / "run-1"
    truth = read_aicity(run / "ground_truth.txt")
    cameras = sorted(set(truth.camera.tolist()))
    assert len(cameras) == 2
    per_id = {i: set(truth.camera[truth.id == i].tolist()) for i in set(truth.id.tolist())}
    assert all(len(c) >= 2 for c in per_id.values())  # AI City keeps vehicles of 2+ cameras only
    masks = find_roi_masks(run, cameras)
    assert not outside_roi(truth, masks).any()  # every vehicle box lies inside its camera's ROI
    result = evaluate_aicity(truth, truth, masks)
    assert result.overall.metrics()["idf1"] == pytest.approx(1.0) and result.dropped_roi == 0
