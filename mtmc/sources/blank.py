"""Frames without pixels, for tracking boxes from a file when there are no images (KITTI, issue 35).

Yields frames 1..``count`` at ``fps`` whose image is one shared read-only black image of the
sequence's size: the boxes come from the detections file by frame number, and a motion-only tracker
never looks at pixels. An embedder would (its crops would all be black), so ``mtmc track`` refuses one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from mtmc.sources.base import Frame, Source


class BlankSource(Source):
    def __init__(self, name: str, width: int, height: int, count: int, fps: float, target_fps: float | None = None) -> None:
        super().__init__(name, fps, target_fps)
        self.width, self.height, self.count = width, height, count
        self.image = np.zeros((height, width, 3), np.uint8)
        self.image.flags.writeable = False  # one image for every frame: nobody may draw on it

    def native_frames(self) -> int | None:
        return self.count

    def _frames(self) -> Iterator[Frame]:
        for index in range(1, self.count + 1):
            yield Frame(index, (index - 1) / self.fps, self.image)
