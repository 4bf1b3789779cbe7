"""pipelines/folder_of_videos and pipelines/aicity_submission: each run.sh with its own config (only
the cameras' folder, the output and the ports replaced) on 36-frame cuts of the shared clips,
with the default parts. pipelines/live_rtsp is tests/test_pipeline_live_rtsp.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
FRAMES = 36


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cut(video: Path, target: Path, fourcc: str) -> tuple[int, int]:
    """The first FRAMES frames of ``video`` into ``target``; the frame size."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    writer = None
    for _ in range(FRAMES):
        ok, frame = capture.read()
        assert ok
        if writer is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*fourcc), 24, (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    capture.release()
    return frame.shape[1], frame.shape[0]


def _config(source: Path, target: Path, **changes) -> Path:
    """The pipeline's config with the run's own ports and no dashboard (tests may run side by side)."""
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config.update(changes)
    config["matcher"].update(bind=f"tcp://127.0.0.1:{_port()}", publish=None, dashboard=None)
    target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target


def _run(*argv: str, **env: str) -> subprocess.CompletedProcess:
    mtmc = str(Path(sys.executable).with_name("mtmc"))
    return subprocess.run(
        ["bash", *argv], capture_output=True, text=True, timeout=600, env={**os.environ, "MTMC": mtmc, **env}
    )


def test_folder_of_videos(data_dir, tmp_path):
    for name in ("street-a", "street-b"):
        _cut(data_dir / "videos" / f"{name}.mp4", tmp_path / "videos" / f"{name}.mp4", "mp4v")
    source = PIPELINES / "folder_of_videos" / "city.yaml"
    base = yaml.safe_load(source.read_text())
    out = tmp_path / "out"
    config = _config(source, tmp_path / "city.yaml", cameras="videos", output={**base["output"], "dir": str(out)})
    done = _run(str(PIPELINES / "folder_of_videos" / "run.sh"), str(config), "-q")
    assert done.returncode == 0, done.stderr
    assert "submission.txt" in done.stderr and "cameras.csv" in done.stderr  # where the outputs are
    assert (out / "submission.txt").read_text().strip()
    for name in ("street-a", "street-b"):
        assert (out / "mot" / f"{name}.txt").is_file() and (out / "videos" / f"{name}.mp4").stat().st_size
    numbered = [line.split(",")[:2] for line in (out / "cameras.csv").read_text().splitlines()[1:]]
    assert numbered == [["street-a", "1"], ["street-b", "2"]]  # name -> the submission's camera number
    assert json.loads((out / "status.json").read_text())["state"] == "complete"


def test_aicity_submission(data_dir, tmp_path):
    import cv2
    import numpy as np

    root = tmp_path / "AIC"
    for camera, name in (("c001", "street-a"), ("c002", "street-b")):
        folder = root / "test" / "S01" / camera
        width, height = _cut(data_dir / "videos" / f"{name}.mp4", folder / "vdo.avi", "MJPG")
        cv2.imwrite(str(folder / "roi.jpg"), np.full((height, width), 255, np.uint8))
        (folder / "calibration.txt").write_text("Homography matrix: 1 0 0;0 1 0;0 0 1\n")
    (root / "cam_timestamp").mkdir()
    (root / "cam_framenum").mkdir()
    (root / "cam_timestamp" / "S01.txt").write_text("c001 0.000\nc002 0.000\n")
    (root / "cam_framenum" / "S01.txt").write_text(f"c001 {FRAMES}\nc002 {FRAMES}\n")
    parts = _config(PIPELINES / "aicity_submission" / "parts.yaml", tmp_path / "parts.yaml")
    out = tmp_path / "out"
    done = _run(str(PIPELINES / "aicity_submission" / "run.sh"), str(root), str(out), "-q", PARTS=str(parts))
    assert done.returncode == 0, done.stderr
    assert f"submit: {out}/track1.txt" in done.stderr
    rows = (out / "track1.txt").read_text().split("\n")
    assert rows[0] and {line.split()[0] for line in rows if line} <= {"1", "2"}
    assert json.loads((out / "S01" / "status.json").read_text())["state"] == "complete"
    assert not (out / "scores.json").exists()  # the test split has no ground truth
