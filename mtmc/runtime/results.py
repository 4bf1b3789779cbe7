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

from mtmc.errors import write_failed
from mtmc.formats import aicity_lines, mot_lines
from mtmc.match.files import ground_points
from mtmc.match.geometry import GroundMap
from mtmc.types import Tracklet, TrackRows


class ResultWriter:
    """``submission.txt`` (xworld/yworld: the foot point in metres through the camera's ground map,
    ``mtmc.match.files.ground_points``; -1 without one) and ``mot/<camera>.txt``."""

    def __init__(self, out_dir: Path, cameras: dict[int, str], homographies: dict[int, GroundMap | np.ndarray]) -> None:
        self.out_dir = out_dir
        self.submission_path = out_dir / "submission.txt"
        self.cameras = cameras
        self.homographies = homographies
        self._submission: IO[str] | None = None
        self._mot: dict[int, IO[str]] = {}
        self.tracklets = 0
        self.rows = 0

    def _open(self) -> None:
        if self._submission is not None:
            return
        (self.out_dir / "mot").mkdir(parents=True, exist_ok=True)
        self._submission = self.submission_path.open("w", encoding="utf-8")
        self._mot = {n: (self.out_dir / "mot" / f"{name}.txt").open("w", encoding="utf-8") for n, name in self.cameras.items()}

    def write(self, tracklet: Tracklet, global_id: int) -> None:
        self._open()
        n = len(tracklet.frames)
        rows = TrackRows(tracklet.frames, np.full(n, global_id), tracklet.boxes, camera=np.full(n, tracklet.camera))
        self._write(self._submission, aicity_lines(rows, ground_points(rows, self.homographies)))
        mot = self._mot.get(tracklet.camera)
        if mot is not None:
            self._write(mot, mot_lines(rows))
        self.tracklets += 1
        self.rows += n

    def flush(self) -> None:
        if self._submission is not None:
            for handle in (self._submission, *self._mot.values()):
                self._write(handle, None)

    def close(self) -> None:
        """Close the files (creating them, empty, when nothing was written)."""
        self._open()
        for handle in (self._submission, *self._mot.values()):
            try:
                handle.close()
            except OSError as exc:
                raise write_failed(exc, handle.name, "the results file") from None

    @staticmethod
    def _write(handle: IO[str], text: str | None) -> None:
        """``text`` appended to ``handle`` (None: flushed); a failed write names the file."""
        try:
            if text is None:
                handle.flush()
            else:
                handle.write(text)
        except OSError as exc:
            raise write_failed(exc, handle.name, "the results file") from None
