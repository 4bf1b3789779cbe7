"""A sighting's frame and short clip, cut on request from the run's videos.

After a run, ``OUT/videos/<camera>.mp4`` (boxes and global ids drawn by ``mtmc run``) is cut as it
is; otherwise, and while the run goes, the camera's source video, with the sighting's box drawn in
its identity's colour (interpolated between the first, middle and last boxes the store keeps).
Videos are cut by frame number (the store's, 1-based at the camera's own rate), not by data time,
which carries the camera's start offset. A live stream has nothing to replay. Clips are VP8 in WebM, the one browser-playable codec
OpenCV's writer has here (its MPEG-4 part 2 does not play in Chromium; H.264 has no encoder),
at most :data:`MAX_CLIP_S` long, :data:`CLIP_WIDTH` pixels wide and :data:`CLIP_FPS` frames a
second; made one at a time (they cost the CPU the matcher uses) and kept in a cache of at most
:data:`CACHE_BYTES`.

Which file is read never comes from a request: a request names a sighting by numbers, the store
names its camera, and only the cameras given at start (the config's, or ``OUT/cameras.csv``) map
to a file.
"""

from __future__ import annotations

import csv
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mtmc.dashboard.images import bgr, draw_label, encode_jpeg
from mtmc.dashboard.state import id_color, ink

MAX_CLIP_S = 8.0  # a clip is at most this long ...
CLIP_MARGIN_S = 1.0  # ... from this long before the sighting to this long after it
CLIP_FPS = 12.0  # frames a second kept in a clip, at most
CLIP_WIDTH = 640  # pixels, at most
MAX_CLIP_BYTES = 8 * 2**20  # a clip over this is refused (the caps above keep one near 2 MB)
CACHE_BYTES = 48 * 2**20  # clips kept, least recently served dropped first
MAKE_WAIT_S = 15.0  # a request waits this long for another clip being made, then is answered busy


class ClipBusy(Exception):
    """Other clips are being made: one line for a 503 (a request thread is not held for long)."""


def _is_file_source(source: str) -> bool:
    from mtmc.sources.stream import is_stream_url

    return not is_stream_url(source) and "://" not in source and not source.isdigit()


def sources_from_csv(out_dir: Path) -> dict[str, str]:
    """Camera name -> source as ``OUT/cameras.csv`` lists them (nothing if there is none); a
    relative source is taken from the current folder, else from the folder above ``OUT``."""
    table = out_dir / "cameras.csv"
    if not table.is_file():
        return {}
    sources = {}
    with table.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            name, source = row.get("name") or "", row.get("source") or ""
            if not name or not source:
                continue
            if _is_file_source(source) and not Path(source).is_absolute() and not Path(source).exists():
                source = str(out_dir.parent / source)
            sources[name] = source
    return sources


class Footage:
    """The videos a dashboard may cut sightings from: ``sources`` (camera name -> the source it
    was tracked from) and ``videos`` (the folder of annotated videos, ``OUT/videos``; None: none)."""

    def __init__(self, sources: Mapping[str, str], videos: Path | None = None) -> None:
        self.sources = {str(k): str(v) for k, v in sources.items() if Path(str(k)).name == str(k) and str(k) not in (".", "..")}
        self.videos = videos
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._making = threading.Lock()  # one clip made at a time

    def video_of(self, camera: str) -> tuple[str, Path] | None:
        """``("annotated", OUT/videos/<camera>.mp4)`` when it exists, else ``("source", file)`` when
        the camera's source is a readable video file; None otherwise (a stream, an image folder)."""
        if camera not in self.sources:
            return None
        if self.videos is not None:
            annotated = self.videos / f"{camera}.mp4"
            if annotated.is_file():
                return "annotated", annotated
        source = self.sources[camera]
        if _is_file_source(source) and Path(source).is_file():
            return "source", Path(source)
        return None

    # ---- reading ------------------------------------------------------------------------------

    def native_fps(self, camera: str) -> float:
        """The camera's own frame rate (its source file's; else the annotated video's; else 25):
        the store numbers frames at it (1-based), and data times carry the camera's start offset,
        so videos are cut by frame number, not by time."""
        candidates = [self.sources.get(camera, "")]
        if self.videos is not None:
            candidates.append(str(self.videos / f"{camera}.mp4"))
        for path in candidates:
            if path and _is_file_source(path) and Path(path).is_file():
                capture = cv2.VideoCapture(path)
                fps = capture.get(cv2.CAP_PROP_FPS)
                capture.release()
                if fps and fps > 0:
                    return float(fps)
        return 25.0

    @staticmethod
    def _frames(path: Path, first: int, last: int, native_fps: float, step_fps: float) -> Iterator[tuple[int, np.ndarray, float]]:
        """(frame number, image, output fps) of the camera's frames ``first`` to ``last`` (1-based,
        at ``native_fps``) as the file at ``path`` holds them, at most ``step_fps`` a second."""
        capture = cv2.VideoCapture(str(path))
        try:
            fps = capture.get(cv2.CAP_PROP_FPS) or native_fps
            ratio = fps / native_fps  # 1 unless the file was written subsampled
            position = max(0, round((first - 1) * ratio))
            if position:
                capture.set(cv2.CAP_PROP_POS_FRAMES, position)
            step = max(1, round(fps / step_fps))
            start = position
            while True:
                frame = 1 + round(position / ratio)
                if frame > last:
                    break
                ok, image = capture.read()
                if not ok:
                    break
                if (position - start) % step == 0:
                    yield frame, image, fps / step
                position += 1
        finally:
            capture.release()

    @staticmethod
    def box_at(sighting: Any, frame: int) -> tuple[float, float, float, float] | None:
        """The sighting's box on ``frame`` (x, y, w, h), interpolated between its key boxes; None outside its span."""
        keys = sorted(sighting.boxes, key=lambda b: b[0])
        if not keys or not keys[0][0] <= frame <= keys[-1][0]:
            return None
        frames = [k[0] for k in keys]
        return tuple(float(np.interp(frame, frames, [k[2 + i] for k in keys])) for i in range(4))  # type: ignore[return-value]

    @staticmethod
    def _draw(image: np.ndarray, box: tuple[float, float, float, float] | None, global_id: int | None, scale: float) -> None:
        if box is None or global_id is None:
            return
        x, y, w, h = (round(v * scale) for v in box)
        color = id_color(global_id)
        thick = max(2, round(image.shape[0] / 180))
        cv2.rectangle(image, (x, y), (x + w, y + h), bgr(color), thick, cv2.LINE_AA)
        draw_label(image, x, y, h, f"#{global_id}", color, ink(color), 0.6)

    def _prepared(self, image: np.ndarray, kind: str, sighting: Any, frame: int) -> np.ndarray:
        """``image`` at most :data:`CLIP_WIDTH` wide, the sighting's box drawn on a source frame."""
        scale = min(1.0, CLIP_WIDTH / image.shape[1])
        if scale < 1.0:
            image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        if kind == "source":
            self._draw(image, self.box_at(sighting, frame), sighting.global_id, scale)
        return image

    @staticmethod
    def middle(sighting: Any) -> int:
        """The frame of the sighting's middle key box (its frame on the page)."""
        keys = sorted(sighting.boxes, key=lambda b: b[0])
        return int(keys[len(keys) // 2][0]) if keys else (sighting.first_frame + sighting.last_frame) // 2

    @staticmethod
    def window(sighting: Any, fps: float) -> tuple[int, int]:
        """The clip's first and last frame: the sighting and :data:`CLIP_MARGIN_S` either side, at
        most :data:`MAX_CLIP_S` (a longer sighting: around its middle)."""
        margin, most = round(CLIP_MARGIN_S * fps), max(1, round(MAX_CLIP_S * fps))
        first, last = max(1, sighting.first_frame - margin), sighting.last_frame + margin
        if last - first + 1 > most:
            first = max(1, Footage.middle(sighting) - most // 2)
            last = first + most - 1
        return first, last

    # ---- what the dashboard serves --------------------------------------------------------------

    def frame(self, sighting: Any) -> bytes | None:
        """The sighting's middle frame as a JPEG (None: no video to cut it from)."""
        found = self.video_of(sighting.camera_name)
        if found is None:
            return None
        kind, path = found
        at = self.middle(sighting)
        for frame, image, _ in self._frames(path, at, at, self.native_fps(sighting.camera_name), 1e9):
            return encode_jpeg(self._prepared(image, kind, sighting, frame))
        return None

    def clip(self, sighting: Any) -> bytes | None:
        """The sighting's clip as WebM (VP8) bytes, made on first request and cached (None: no
        video to cut it from, or nothing read from it); :class:`ClipBusy` when others are being
        made for longer than :data:`MAKE_WAIT_S`."""
        found = self.video_of(sighting.camera_name)
        if found is None:
            return None
        kind, path = found
        key = (sighting.camera, sighting.track, sighting.global_id, kind, str(path))
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if not self._making.acquire(timeout=MAKE_WAIT_S):
            raise ClipBusy(f"busy making other clips for {MAKE_WAIT_S:.0f} s: try again in a moment")
        try:
            with self._cache_lock:
                if key in self._cache:  # made while this request waited
                    return self._cache[key]
            data = self._encode(path, kind, sighting)
        finally:
            self._making.release()
        if data is None or len(data) > MAX_CLIP_BYTES:
            return None
        with self._cache_lock:
            self._cache[key] = data
            while sum(len(v) for v in self._cache.values()) > CACHE_BYTES:
                self._cache.popitem(last=False)
        return data

    def _encode(self, path: Path, kind: str, sighting: Any) -> bytes | None:
        fps = self.native_fps(sighting.camera_name)
        first, last = self.window(sighting, fps)
        with tempfile.TemporaryDirectory(prefix="mtmc-clip-") as folder:
            out = Path(folder) / "clip.webm"
            writer = None
            try:
                for frame, image, out_fps in self._frames(path, first, last, fps, CLIP_FPS):
                    image = self._prepared(image, kind, sighting, frame)
                    if writer is None:
                        size = (image.shape[1], image.shape[0])
                        writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"VP80"), out_fps, size)
                        if not writer.isOpened():
                            return None
                    writer.write(image)
            finally:
                if writer is not None:
                    writer.release()
            return out.read_bytes() if writer is not None and out.is_file() and out.stat().st_size else None
