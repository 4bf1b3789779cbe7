"""An annotated video a person can watch: boxes, ids and short trails, one colour per id."""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path

import numpy as np

from mtmc.errors import MtmcError


def colour_of(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per id (golden-ratio hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class VideoAnnotator:
    def __init__(self, path: Path, fps: float, trail: int = 20, label: str = "") -> None:
        self.path = Path(path)
        self.fps = fps
        self.label = label
        self._trails: dict[int, deque] = defaultdict(lambda: deque(maxlen=trail))
        self._writer = None

    def add(self, image: np.ndarray, tracks: np.ndarray, frame: int) -> np.ndarray:
        """Draw ``tracks`` (M, 8) on a copy of ``image``, append it to the video, return it."""
        import cv2

        canvas = image.copy()
        for x1, y1, x2, y2, track_id, _, _, _ in tracks:
            tid = int(track_id)
            colour = colour_of(tid)
            self._trails[tid].append((int((x1 + x2) / 2), int(y2)))
            points = np.array(self._trails[tid], np.int32)
            if len(points) > 1:
                cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
            cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), colour, 2)
            text = str(tid)
            (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(canvas, (int(x1), int(y1) - h - 6), (int(x1) + w + 4, int(y1)), colour, -1)
            cv2.putText(
                canvas,
                text,
                (int(x1) + 2, int(y1) - 4),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        cv2.putText(
            canvas,
            f"{self.label} frame {frame}",
            (8, 20),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.55,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )
        self._write(canvas)
        return canvas

    def _write(self, canvas: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = canvas.shape[:2]
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height)
            )
            if not self._writer.isOpened():
                raise MtmcError(
                    f"cannot write video {self.path} (is the folder writable and the suffix .mp4?)"
                )
        self._writer.write(canvas)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
