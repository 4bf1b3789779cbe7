"""The AI City Challenge Track 1 layout: reading it (``scenario:`` and ``mtmc aicity``), its one-line
errors, track1.txt and the per-scene / overall scores, and SynthCity written in it end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.cli import main
from mtmc.commands import aicity
from mtmc.config import MtmcConfig
from mtmc.formats import read_aicity, read_mot, write_aicity
from mtmc.runtime.scenario import aicity_scenes, read_scene, scene_truth, with_scenario
from mtmc.types import TrackRows

SIZE = (64, 48)  # w, h of the fake cameras' roi.jpg


def _camera(folder: Path, gt: list[str] | None, roi_black_below: int | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "vdo.avi").write_bytes(b"")
    (folder / "calibration.txt").write_text("Homography matrix: 1 0 0;0 1 0;0 0 1\n")
    roi = np.full((SIZE[1], SIZE[0]), 255, np.uint8)
    if roi_black_below is not None:
        roi[roi_black_below:] = 0
    cv2.imwrite(str(folder / "roi.jpg"), roi)
    if gt is not None:
        (folder / "gt").mkdir()
        (folder / "gt" / "gt.txt").write_text("".join(f"{line},1,-1,-1,-1\n" for line in gt))


def fake_root(tmp_path: Path, split: str = "validation", with_gt: bool = True) -> Path:
    """Two scenes: S01 (c001, c002; vehicle 1 in both, vehicle 2 in c001 only), S02 (c003, c004)."""
    root = tmp_path / "AIC"
    truth = {
        "S01": {"c001": ["1,1,10,10,8,8", "2,1,11,10,8,8", "1,2,30,10,8,8"], "c002": ["5,1,20,20,8,8", "6,1,21,20,8,8"]},
        "S02": {"c003": ["1,1,10,10,8,8", "2,1,12,10,8,8"], "c004": ["3,1,20,5,8,8"]},
    }
    for scene, cameras in truth.items():
        for camera, gt in cameras.items():
            _camera(root / split / scene / camera, gt if with_gt else None, roi_black_below=40)
    (root / "cam_timestamp").mkdir()
    (root / "cam_framenum").mkdir()
    (root / "cam_timestamp" / "S01.txt").write_text("c001 0\nc002 1.640\n")
    (root / "cam_timestamp" / "S02.txt").write_text("c003 0.000\nc004 2.5\n")
    (root / "cam_framenum" / "S01.txt").write_text("c001 2110\nc002 2000\n")
    (root / "cam_framenum" / "S02.txt").write_text("c003 10\nc004 10\n")
    return root


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_official_scene_gives_cameras_clocks_frame_counts_and_two_camera_truth(tmp_path, monkeypatch):
    monkeypatch.setenv("MTMC_CACHE_DIR", str(tmp_path / "cache"))
    root = fake_root(tmp_path)
    scenes = aicity_scenes(root, "validation")
    assert [s.name for s in scenes] == ["S01", "S02"] and [s.name for s in aicity_scenes(root, "validation", ["S02"])] == ["S02"]
    scene = read_scene(root / "validation" / "S01")
    assert scene.layout == "aicity" and scene.split == "validation" and scene.root == root
    assert [(c.id, c.offset_s, c.frames) for c in scene.cameras] == [("c001", 0.0, 2110), ("c002", 1.64, 2000)]
    truth = scene_truth(scene)
    assert sorted(set(truth.camera.tolist())) == [1, 2] and set(truth.id.tolist()) == {1}  # vehicle 2: one camera
    config = with_scenario(MtmcConfig(scenario=root / "validation" / "S01"))
    assert [(c.id, c.offset_s, c.calibration is not None) for c in config.cameras] == [("c001", 0.0, True), ("c002", 1.64, True)]
    assert config.eval.mode == "aicity" and config.eval.roi_dir == root / "validation" / "S01"
    assert len(read_aicity(config.eval.gt)) == len(truth) == 4


def test_layout_errors_are_one_line(tmp_path, capsys):
    out = str(tmp_path / "out")
    (tmp_path / "empty").mkdir()
    assert "no train/, validation/ or test/" in _error(capsys, ["aicity", str(tmp_path / "empty"), "--split", "test", "-o", out])
    root = fake_root(tmp_path)
    assert "no test/ split (it has validation)" in _error(capsys, ["aicity", str(root), "--split", "test", "-o", out])
    message = _error(capsys, ["aicity", str(root), "--split", "validation", "--scenes", "S02,S09", "-o", out])
    assert "no scene S09" in message and "S01, S02" in message
    (root / "validation" / "S03").mkdir()
    assert "S03 has no cameras" in _error(capsys, ["aicity", str(root), "--split", "validation", "-o", out])
    (root / "validation" / "S03" / "c009").mkdir()
    message = _error(capsys, ["aicity", str(root), "--split", "validation", "--scenes", "S03", "-o", out])
    assert "c009 has no video (vdo.avi" in message
    (root / "validation" / "S03" / "c009" / "vdo.avi").write_bytes(b"")
    assert "no " + str(root / "cam_timestamp" / "S03.txt") in _error(capsys, ["aicity", str(root), "--split", "validation", "-o", out])
    (root / "cam_timestamp" / "S03.txt").write_text("c001 0\n")
    assert "has no line for camera c009" in _error(capsys, ["aicity", str(root), "--split", "validation", "-o", out])
    (root / "cam_timestamp" / "S03.txt").write_text("c009 soon\n")
    assert "S03.txt:1: expected 'c001 0.000'" in _error(capsys, ["aicity", str(root), "--split", "validation", "-o", out])
    for name in ("S01.txt", "S02.txt", "S03.txt"):
        (root / "cam_timestamp" / name).unlink()
    (root / "cam_timestamp").rmdir()
    assert "no cam_timestamp/ folder" in _error(capsys, ["aicity", str(root), "--split", "validation", "-o", out])


def test_track1_drops_feet_outside_the_roi_keeps_ids_apart_and_scores_scenes_and_all(tmp_path):
    root = fake_root(tmp_path)
    scenes = aicity_scenes(root, "validation")
    out = tmp_path / "out"
    truths = {}
    for scene in scenes:
        truths[scene.name] = scene_truth(scene)
        prediction = truths[scene.name].replace(id=truths[scene.name].id + 40)  # every scene's ids are 41
        stray = TrackRows(frame=[1, 2], id=[7, 7], xywh=[[5, 30, 8, 16], [5, 30, 8, 16]], camera=[scene.cameras[0].number] * 2)
        write_aicity(out / scene.name / "submission.txt", TrackRows.concat([prediction, stray]))  # feet at y=46: black
    predictions, worlds, details = aicity.build_submission(scenes, out)
    assert details["S01"] == {"boxes": 4, "dropped_outside_roi": 2, "ids": 1} and details["S02"]["dropped_outside_roi"] == 2
    assert set(predictions["S01"].id.tolist()) == {1} and set(predictions["S02"].id.tolist()) == {2}
    assert worlds["S01"].shape == (4, 2) and (worlds["S01"] == -1).all()
    table, _ = aicity.score_scenes(scenes, truths, predictions)
    assert list(table) == ["overall", "S01", "S02"]
    for name in table:
        assert table[name]["idf1"] == pytest.approx(1.0) and table[name]["num_false_positives"] == 0
    assert table["overall"]["num_unique_objects"] == 2  # each scene's vehicle 1 is its own vehicle
    # a wrong scene lowers the overall score, not the other scene's
    predictions["S02"] = predictions["S02"].replace(xywh=predictions["S02"].xywh + 30)
    table, _ = aicity.score_scenes(scenes, truths, predictions)
    assert table["S01"]["idf1"] == pytest.approx(1.0) and table["S02"]["idf1"] == 0
    assert 0 < table["overall"]["idf1"] < 1


def test_split_without_ground_truth_writes_track1_and_skips_scoring(tmp_path, capsys):
    root = fake_root(tmp_path, split="test", with_gt=False)
    scenes = aicity_scenes(root, "test")
    out = tmp_path / "out"
    write_aicity(out / "S01" / "submission.txt", TrackRows(frame=[1, 1], id=[3, 3], xywh=[[1, 1, 8, 8]] * 2, camera=[1, 2]))
    code = aicity._finish(scenes, MtmcConfig(), out, {"S01": {"state": "complete"}, "S02": {"state": "complete"}})
    assert code == 0 and len(read_aicity(out / "track1.txt")) == 2 and not (out / "scores.json").exists()
    err = capsys.readouterr().err
    assert "the test split has no ground truth (no cXXX/gt/gt.txt): not scored" in err


def test_simulate_with_a_missing_footage_video_names_the_file_and_the_fix(tmp_path, capsys):
    config = tmp_path / "sim.yaml"
    config.write_text(
        "footage:\n  street-a:\n    video: nowhere/street-a.mp4\n"
        "    road: {corners: [[218, 170], [382, 174], [1294, 352], [300, 352]], width_m: 8, length_m: 45}\n"
        "world: {nodes: {W: [0, 0], X: [60, 0]}, roads: [[W, X]]}\n"
        "cameras: [{id: c001, road: [W, X]}]\n"
    )
    message = _error(capsys, ["simulate", str(config), "-o", str(tmp_path / "out"), "--layout", "aicity"])
    assert f"video not found: {tmp_path / 'nowhere' / 'street-a.mp4'}" in message and "set footage.street-a.video" in message


@pytest.mark.integration
def test_synthcity_in_aicity_layout_runs_end_to_end(data_dir, tmp_path, capsys, free_port):
    from test_sim_render import tiny_config

    from mtmc.sim.scenario import simulate

    sim = tiny_config(data_dir, tmp_path / "cache").model_copy(update={"duration_s": 20.0})
    sim = sim.model_copy(update={"cameras": [c.model_copy(update={"fps": 8.0}) for c in sim.cameras]})
    sim = sim.model_copy(update={"traffic": sim.traffic.model_copy(update={"vehicles": 8})})
    root = tmp_path / "AIC"
    summary = simulate(sim, root, show_progress=False, layout="aicity", split="validation", scene_name="S01")
    assert summary["multi_camera_vehicles"] >= 3
    counts = dict(line.split() for line in (root / "cam_framenum" / "S01.txt").read_text().splitlines())
    assert set(dict(line.split() for line in (root / "cam_timestamp" / "S01.txt").read_text().splitlines())) == {"c001", "c002"}
    for camera in ("c001", "c002"):
        folder = root / "validation" / "S01" / camera
        capture, frames = cv2.VideoCapture(str(folder / "vdo.avi")), 0
        while capture.read()[0]:
            frames += 1
        assert frames == int(counts[camera]) > 50
        assert (folder / "gt" / "gt.txt").read_text().splitlines()[0].endswith(",1,-1,-1,-1")
        assert (folder / "roi.jpg").is_file() and (folder / "calibration.txt").is_file()
    truth = scene_truth(read_scene(root / "validation" / "S01"))
    reference = read_aicity(root / "synthcity" / "S01" / "ground_truth.txt")
    assert len(truth) == len(reference) and set(truth.id.tolist()) == set(reference.id.tolist())
    assert len(read_mot(root / "validation" / "S01" / "c001" / "gt" / "gt.txt")) > 0
    (root / "cam_framenum" / "S01.txt").write_text(f"c001 999\nc002 {counts['c002']}\n")  # a wrong count: a warning

    parts = tmp_path / "parts.yaml"
    parts.write_text(
        "detector: {name: onnx-yolox}\ntracker: {name: deepsort-bot}\n"
        "embedder: {name: reid, weights: glamor-mobilenetv2-2cam}\n"
        # 20 s of traffic is too little to learn the camera network from (a link needs a few
        # confident matches beyond chance): the scene's cameras are taken as related
        f"matcher: {{bind: 'tcp://127.0.0.1:{free_port}', publish: null, dashboard: null, network: {{learn: false}}}}\n"
        "worker: {preview_every_s: 0}\noutput: {video: false}\n"
    )
    out = tmp_path / "run"
    code = main(["aicity", str(root), "--split", "validation", "--config", str(parts), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"camera c001: {root / 'cam_framenum' / 'S01.txt'} says 999 frames, vdo.avi decoded {counts['c001']}" in err
    assert "scene S01 (1/1): 2 cameras (c001, c002), ground truth" in err
    track1 = np.loadtxt(out / "track1.txt", ndmin=2)
    assert track1.shape[1] == 9 and len(track1) > 100 and set(track1[:, 0].astype(int).tolist()) == {1, 2}
    scores = json.loads((out / "scores.json").read_text())
    assert {"S01", "overall"} <= set(scores) and scores["scenes"]["S01"]["state"] == "complete"
    assert scores["S01"]["idf1"] == pytest.approx(scores["overall"]["idf1"])
    assert 0.15 <= scores["overall"]["idf1"] <= 1.0 and scores["overall"]["recall"] > 0.5
    assert (out / "S01" / "run.yaml").is_file() and (out / "S01" / "ground_truth.txt").is_file()
    print(
        "SynthCity in AI City layout: IDF1 {idf1:.3f} IDP {idp:.3f} IDR {idr:.3f} MOTA {mota:.3f} HOTA {hota:.3f} "
        "Rcll {recall:.3f} Prcn {precision:.3f}".format(**scores["overall"])
    )
