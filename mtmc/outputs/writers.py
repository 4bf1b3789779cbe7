"""Collect a camera's tracker output frame by frame and write it in every requested format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import numpy as np

from mtmc.formats import write_aicity, write_mot
from mtmc.types import TrackRows


class TrackWriter:
    """Streams JSON lines as frames arrive; writes MOT / AI City files when the camera ends.

    Rows are kept as compact arrays, so a camera's whole run costs a few floats per box.
    """

    def __init__(
        self,
        camera: int,
        mot_path: Path | None = None,
        aicity_path: Path | None = None,
        jsonl_path: Path | None = None,
    ) -> None:
        self.camera = camera
        self.mot_path, self.aicity_path = mot_path, aicity_path
        self._chunks: list[np.ndarray] = []
        self._jsonl: IO[str] | None = None
        if jsonl_path is not None:
            jsonl_path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl = jsonl_path.open("w", encoding="utf-8")

    def add(self, frame: int, timestamp: float, tracks: np.ndarray) -> None:
        """``tracks``: tracker output (M, 8) [x1, y1, x2, y2, id, score, cls, det_index]."""
        if len(tracks):
            self._chunks.append(
                np.column_stack([np.full(len(tracks), frame), tracks[:, :7]]).astype(np.float64)
            )
        if self._jsonl is not None:
            record = {
                "camera": self.camera,
                "frame": frame,
                "timestamp": round(timestamp, 4),
                "tracks": [
                    {
                        "id": int(t[4]),
                        "box": [round(float(v), 1) for v in t[:4]],
                        "score": round(float(t[5]), 3),
                        "cls": int(t[6]),
                    }
                    for t in tracks
                ],
            }
            self._jsonl.write(json.dumps(record) + "\n")

    def rows(self) -> TrackRows:
        if not self._chunks:
            return TrackRows.empty()
        table = np.concatenate(self._chunks)
        xywh = np.column_stack([table[:, 1:3], table[:, 3:5] - table[:, 1:3]])
        return TrackRows(
            frame=table[:, 0],
            id=table[:, 5],
            xywh=xywh,
            score=table[:, 6],
            camera=np.full(len(table), self.camera),
        )

    def close(self) -> TrackRows:
        """Finish every file; returns all rows written."""
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        rows = self.rows()
        if self.mot_path is not None:
            write_mot(self.mot_path, rows)
        if self.aicity_path is not None:
            write_aicity(self.aicity_path, rows)
        return rows
