"""Where frames come from: video files, image folders (MOTChallenge ``img1/``), RTSP/HTTP streams.

Every source yields ``Frame(index, timestamp, image)``: 1-based frame numbers (as the output
formats count), seconds since the start, and a BGR uint8 image.
"""

from __future__ import annotations

from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.sources.base import Frame, Source
from mtmc.sources.folder import ImageFolderSource
from mtmc.sources.stream import StreamSource, is_stream_url
from mtmc.sources.video import VideoFileSource


def open_source(uri: str | Path, fps: float | None = None, give_up_s: float = 60.0) -> Source:
    """The right source for ``uri`` (URL, folder or video file); ``fps`` subsamples to that rate;
    a stream ends with an error after ``give_up_s`` seconds without frames."""
    text = str(uri)
    if is_stream_url(text):
        return StreamSource(text, fps=fps, give_up_s=give_up_s)
    path = Path(uri)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps)
    if path.is_file():
        return VideoFileSource(path, fps=fps)
    raise MtmcError(f"source not found: {uri} (a video file, an image folder, or an rtsp:// / http:// URL)")


__all__ = ["Frame", "ImageFolderSource", "Source", "StreamSource", "VideoFileSource", "open_source"]
