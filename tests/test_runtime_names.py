"""`mtmc run` with free camera names from a folder of videos: names in every output, numbers in the
AI City submission, cameras.csv mapping one to the other (72-frame clips, as test_runtime_interrupts)."""

from __future__ import annotations

import csv
import subprocess
import sys

FRAMES = 72


def test_a_folder_of_named_videos_runs_end_to_end(tmp_path, data_dir, free_port):
    import cv2

    folder = tmp_path / "videos"
    folder.mkdir()
    for source, name in (("street-a", "north-gate"), ("street-b", "south_1")):
        capture = cv2.VideoCapture(str(data_dir / "videos" / f"{source}.mp4"))
        writer = None
        for _ in range(FRAMES):
            ok, frame = capture.read()
            assert ok
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(folder / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, size)
            writer.write(frame)
        writer.release()
    config = tmp_path / "city.yaml"
    config.write_text(
        "cameras: videos/\n"
        "tracker: {name: deepsort-byte}\nembedder: null\n"
        f"matcher: {{mode: online, bind: 'tcp://127.0.0.1:{free_port}', publish: null, dashboard: null,\n"
        "          distances: [{name: geometric}, {name: continuity}]}\n"
        "worker: {update_every_s: 0.25, resend_s: 0.5, preview_every_s: 0}\n"
        "output: {dir: out, video: false}\n"
        "eval: {gt: gt.txt, mode: aicity, per_camera: true}\n"
    )
    (tmp_path / "gt.txt").write_text("1 1 1 10 10 40 40 -1 -1\n2 1 1 10 10 40 40 -1 -1\n")  # one vehicle, both cameras
    done = subprocess.run(
        [sys.executable, "-m", "mtmc", "run", str(config), "-q"], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    said = done.stderr.splitlines()  # where the run writes and how to watch it, before the cameras start
    assert said[:2] == [
        f"mtmc run: 2 cameras; output folder {out}",
        f"mtmc run: no dashboard (matcher.dashboard: null) (workers connect to tcp://127.0.0.1:{free_port})",
    ]
    assert not (out / "state").exists()  # a complete run's outboxes are gone; its journal stays
    assert (out / "matcher.journal").stat().st_size > 0
    rows = list(csv.DictReader((out / "cameras.csv").open()))
    assert [(r["name"], r["number"], r["source"]) for r in rows] == [
        ("north-gate", "1", str(folder / "north-gate.mp4")), ("south_1", "2", str(folder / "south_1.mp4"))
    ]
    for name in ("north-gate", "south_1"):
        assert (out / "mot" / f"{name}.txt").stat().st_size > 0
        assert (out / "logs" / f"{name}.log").is_file()
    cameras = {line.split()[0] for line in (out / "submission.txt").read_text().splitlines()}
    assert cameras == {"1", "2"}
    assert not list((out / "mot").glob("c0*"))
    import json

    scores = json.loads((out / "scores.json").read_text())
    assert {"north-gate", "south_1", "overall"} <= set(scores) and "c001" not in scores  # rows by name
