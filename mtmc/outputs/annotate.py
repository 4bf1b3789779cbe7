"""An annotated video a person can watch: boxes, ids and short trails, one colour per id."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mtmc.errors import MtmcError


def colour_of(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per id (golden-ratio hues)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618033988749895) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def trail_pieces(points: Iterable[tuple[int, float, float, float]]) -> list[list[tuple[int, int]]]:
    """A trail's (drawn frame, x, y, box size) points as the polylines to draw: broken where the
    track was missing from a drawn frame, or moved further than its box is large between two (a
    jump of one id across the frame is not a path the vehicle drove)."""
    pieces: list[list[tuple[int, int]]] = []
    last = None
    for point in points:
        at, x, y, size = point
        if last is None or at - last[0] > 1 or np.hypot(x - last[1], y - last[2]) > max(size, last[3]):
            pieces.append([])
        pieces[-1].append((int(x), int(y)))
        last = point
    return pieces


def title_band(canvas: np.ndarray, text: str) -> None:
    """``text`` in white on a darkened band at the top left of ``canvas``, readable on any picture."""
    import cv2

    (w, h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2)
    band = canvas[: h + baseline + 12, : w + 16]
    band[:] = band // 4  # dark, with the picture faintly behind
    cv2.putText(canvas, text, (8, h + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)


class VideoAnnotator:
    """Draws each frame's boxes, ids and trails, and a title on a dark band (white text alone
    vanished against a bright sky)."""

    def __init__(self, path: Path, fps: float, trail: int = 20, label: str = "") -> None:
        self.path = Path(path)
        self.fps = fps
        self.label = label
        self._trails: dict[int, deque] = defaultdict(
            lambda: deque(maxlen=trail)
        )  # (drawn frame, x, y, box size)
        self._added = 0  # frames drawn so far: a trail point's clock, whatever the stream's frame numbers
        self._writer = None

    def add(self, image: np.ndarray, tracks: np.ndarray, frame: int) -> np.ndarray:
        """Draw ``tracks`` (M, 8) on a copy of ``image``, append it to the video, return it."""
        import cv2

        self._added += 1
        canvas = image.copy()
        for x1, y1, x2, y2, track_id, _, _, _ in tracks:
            tid = int(track_id)
            colour = colour_of(tid)
            self._trails[tid].append((self._added, (x1 + x2) / 2, y2, max(x2 - x1, y2 - y1)))
            pieces = [
                np.array(piece, np.int32) for piece in trail_pieces(self._trails[tid]) if len(piece) > 1
            ]
            if pieces:
                cv2.polylines(canvas, pieces, False, colour, 2, cv2.LINE_AA)
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
        title_band(canvas, f"{self.label} frame {frame}")
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
