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

    def max_gap(self) -> int:
        """Consecutive unreadable frames after which reading gives up (one minute of video, at
        least 250 frames): bounds the loop on a file whose frame count is wrong or missing."""
        return max(250, int(60 * self.fps))

    def _frames(self) -> Iterator[Frame]:
        """Every decodable frame at its native index. A corrupt stretch makes ``read()`` fail (one
        failure per damaged packet with OpenCV's FFmpeg backend) and the decoder resumes at the next
        good frame, sometimes after silently dropping a few more (H.264 waits for a reference frame):
        the index after a stretch comes from the container timestamp where it is plausible, else from
        the failure count. The skipped indices go to ``lost_frames`` with one warning per stretch."""
        import cv2

        self.lost_frames = []
        capture = cv2.VideoCapture(str(self.path))
        limit, total = self.max_gap(), self.frame_count
        index = 0  # native index of the last frame yielded
        clock = None  # the container timestamp of that frame, in frames (1-based)
        yielded = failures = 0
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    failures += 1
                    if (total and index + failures > total + END_SLACK) or failures >= limit:
                        break
                    continue
                now = capture.get(cv2.CAP_PROP_POS_MSEC) * self.fps / 1000 + 1
                at = index + 1
                if failures:
                    at = self._resume_at(index, failures, now, clock, limit)
                    self._lose(range(index + 1, at), at)
                    failures = 0
                index, clock = at, now
                yielded += 1
                yield Frame(index, (index - 1) / self.fps, image)
        finally:
            capture.release()
        if yielded == 0:
            raise MtmcError(
                f"no frame could be read from {self.path}: the file is corrupt or its codec unsupported"
            )
        # The run of failures that ended reading: lost as far as the container's frame count goes.
        # One frame short is the count's rounding (estimated from the duration in some containers).
        last = min(total, index + failures)
        if total and last - index > 1:
            self._lose(range(index + 1, last + 1), None)
        if total and index + failures < total:
            log.warning(
                "%s: gave up after %d unreadable frames in a row at frame %d of %d (the rest is unknown)",
                self.path,
                failures,
                index + failures,
                total,
            )

    def _resume_at(self, index: int, failures: int, now: float, clock: float | None, limit: int) -> int:
        """The native index of the first good frame after ``failures`` failed reads past ``index``."""
        counted = index + failures + 1
        guess = round(now) if clock is None else index + round(now - clock)
        return guess if index < guess <= counted + limit else counted

    def _lose(self, indices: range, resumed_at: int | None) -> None:
        if not indices:
            return
        self.lost_frames.extend(indices)
        stretch = f"frame {indices[0]}" if len(indices) == 1 else f"frames {indices[0]}-{indices[-1]}"
        if resumed_at is None:
            log.warning(
                "%s: %s of %d unreadable (corrupt end of the file)", self.path, stretch, self.frame_count
            )
        else:
            log.warning(
                "%s: %s unreadable (corrupt stretch), skipped; reading on from frame %d",
                self.path,
                stretch,
                resumed_at,
            )


# Failed reads past the container's frame count before reading stops (the count can be a frame short).
END_SLACK = 2
