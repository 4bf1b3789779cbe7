"""Live RTSP/HTTP streams: reopened with exponential backoff when they drop.

A stream that stops delivering frames is reopened after 0.5 s, 1 s, 2 s ... (capped), with a log
line per attempt. When no frame has arrived for ``give_up_s`` seconds the camera ends with a
clear error; the frames delivered before that have already been handed on.

OpenCV's FFmpeg capture waits 30 s by default when a server accepts but sends nothing (a hung
camera, a dead link): both opening and each read are bounded here by ``io_timeout_s`` (capped at
``give_up_s``), so a stalled stream is noticed and reopened in seconds. The RTSP transport is
FFmpeg's default (UDP, falling back to TCP); to force TCP set
``OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp`` in the environment.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from mtmc.errors import MtmcError
from mtmc.sources.base import Frame, Source

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://")


def is_stream_url(text: str) -> bool:
    return text.lower().startswith(STREAM_SCHEMES)


def _open_with_opencv(url: str, timeout_s: float = 10.0) -> Any:
    import cv2

    ms = max(1, int(timeout_s * 1000))
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


class StreamSource(Source):
    def __init__(
        self,
        url: str,
        fps: float | None = None,
        give_up_s: float = 60.0,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        opener: Callable[[str], Any] | None = None,
        io_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if give_up_s <= 0 or first_backoff_s <= 0 or max_backoff_s < first_backoff_s or io_timeout_s <= 0:
            raise ValueError("need give_up_s > 0, io_timeout_s > 0 and 0 < first_backoff_s <= max_backoff_s")
        if opener is None:  # a stalled open or read must not outlast the give-up time
            timeout_s = min(io_timeout_s, give_up_s)
            opener = functools.partial(_open_with_opencv, timeout_s=timeout_s)
        self.url = url
        self.give_up_s = give_up_s
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self._opener, self._clock, self._sleep = opener, clock, sleep
        super().__init__(url.rsplit("/", 1)[-1] or url, 25.0, fps)

    def _frames(self) -> Iterator[Frame]:
        start = self._clock()
        last_frame_at = start
        index = 0
        attempt = 0
        capture = self._opener(self.url)
        try:
            while True:
                ok, image = capture.read() if capture is not None and capture.isOpened() else (False, None)
                if ok:
                    if attempt:
                        log.info("%s: stream back after %d reconnect attempt(s)", self.url, attempt)
                    attempt = 0
                    index += 1
                    last_frame_at = self._clock()
                    yield Frame(index, last_frame_at - start, image)
                    continue
                silent = self._clock() - last_frame_at
                if silent >= self.give_up_s:
                    raise MtmcError(
                        f"stream {self.url} unreachable: no frame for {silent:.0f} s after {attempt} reconnect "
                        f"attempt(s) (check the URL and the network; give-up time {self.give_up_s:g} s)"
                    )
                wait = min(self.first_backoff_s * 2**attempt, self.max_backoff_s, self.give_up_s - silent)
                attempt += 1
                log.warning("%s: no frame; reconnect attempt %d in %.1f s", self.url, attempt, wait)
                self._sleep(wait)
                if capture is not None:
                    capture.release()
                capture = self._opener(self.url)
        finally:
            if capture is not None:
                capture.release()
