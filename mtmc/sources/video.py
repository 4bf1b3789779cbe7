"""Video files through OpenCV."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.sources.base import Frame, Source

log = logging.getLogger(__name__)


class VideoFileSource(Source):
    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise MtmcError(f"video not found: {self.path} (check the path)")
        capture = cv2.VideoCapture(str(self.path))
        opened = capture.isOpened()
        native = capture.get(cv2.CAP_PROP_FPS) if opened else 0.0
        self.frame_count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if opened else 0
        capture.release()
        if not opened:
            raise MtmcError(f"cannot open video {self.path}: not a video, or a codec OpenCV lacks")
        super().__init__(self.path.stem, native if native > 0 else 25.0, fps)

    def native_frames(self) -> int | None:
        return self.frame_count or None

    def _frames(self) -> Iterator[Frame]:
        import cv2

        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                index += 1
                yield Frame(index, (index - 1) / self.fps, image)
        finally:
            capture.release()
        if index == 0:
            raise MtmcError(
                f"no frame could be read from {self.path}: the file is corrupt or its codec unsupported"
            )
        if self.frame_count and index < self.frame_count - 1:
            log.warning(
                "%s: stopped after frame %d of %d (the rest is unreadable)",
                self.path,
                index,
                self.frame_count,
            )
