"""The matcher's outputs, written as tracklets become final: an AI City submission for the whole
run and a MOTChallenge file per camera, both with global ids.

Rows are appended tracklet by tracklet (not sorted by frame; both formats' evaluators group rows by
frame themselves), so memory does not grow with the run. The files are rewritten from scratch each
time a matcher starts, because replaying its journal finalises the same tracklets again.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from mtmc.match.geometry import foot_points, project
from mtmc.types import Tracklet


class ResultWriter:
    def __init__(self, out_dir: Path, cameras: dict[int, str], homographies: dict[int, np.ndarray]) -> None:
        self.out_dir = out_dir
        self.submission_path = out_dir / "submission.txt"
        (out_dir / "mot").mkdir(parents=True, exist_ok=True)
        self.homographies = homographies
        self._submission = self.submission_path.open("w", encoding="utf-8")
        self._mot: dict[int, IO[str]] = {
            number: (out_dir / "mot" / f"{name}.txt").open("w", encoding="utf-8") for number, name in cameras.items()
        }
        self.tracklets = 0
        self.rows = 0

    def write(self, tracklet: Tracklet, global_id: int) -> None:
        boxes = np.asarray(tracklet.boxes, np.float64).reshape(-1, 4)
        world = np.full((len(boxes), 2), -1.0)
        if tracklet.camera in self.homographies and len(boxes):
            world = np.nan_to_num(project(self.homographies[tracklet.camera], foot_points(boxes)), nan=-1.0)
        rounded = np.rint(boxes).astype(np.int64).tolist()
        frames = np.asarray(tracklet.frames, np.int64).tolist()
        self._submission.write(
            "".join(
                f"{tracklet.camera} {global_id} {f} {x} {y} {w} {h} {wx:.3f} {wy:.3f}\n"
                for f, (x, y, w, h), (wx, wy) in zip(frames, rounded, world.tolist())
            )
        )
        mot = self._mot.get(tracklet.camera)
        if mot is not None:
            mot.write(
                "".join(
                    f"{f},{global_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n"
                    for f, (x, y, w, h) in zip(frames, boxes.tolist())
                )
            )
        self.tracklets += 1
        self.rows += len(frames)

    def flush(self) -> None:
        for handle in (self._submission, *self._mot.values()):
            handle.flush()

    def close(self) -> None:
        for handle in (self._submission, *self._mot.values()):
            handle.close()
