"""Detections computed beforehand, read from a file instead of running a network (``name: file``).

Reads MOTChallenge ``SEQ/det/det.txt`` and the AI City Challenge's ``cXXX/det/det_*.txt``
(``det_mask_rcnn.txt``, ``det_ssd512.txt``, ``det_yolo3.txt``): both one box a line,
``frame,id,left,top,width,height,score[,x,y,z]``, comma-separated, 1-based frame numbers, id -1
(any number is accepted and ignored), the box's top-left corner and size in pixels. MOT17's DPM
scores are not probabilities (some are negative): every box is kept unless ``score_threshold`` is
given. Such files have no class column: every box gets one COCO class, ``class_name`` (default
``car``, or the one class of ``classes``, which ``mtmc track --classes`` sets).

Also reads KITTI detection files as AB3DMOT publishes them (``format: kitti``, or sniffed: 15
comma-separated numbers a line, the second a type), ``frame,type,left,top,right,bottom,score,...``
with frames from 0 (frame 0 becomes mtmc's frame 1) and corner boxes; a box clipped to zero
width or height at the image border (one in 0000-0010) is left out. Their scores are raw logits
(PointRCNN's run from about -1 to 16), while the trackers' thresholds are probabilities:
``score_map: sigmoid`` turns each score s into 1 / (1 + exp(-s)) first. ``score_threshold``
compares the score after the mapping.

The file is read once, when the detector is built; ``detect_frame(index, image)`` returns frame
``index``'s boxes as every detector returns its own: (N, 6) float32 [x1, y1, x2, y2, score, class],
best score first, boxes as in the file (not clipped to the image).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.detect.base import DETECTORS, Detector
from mtmc.detect.coco import class_ids
from mtmc.errors import InputFormatError, MtmcError
from mtmc.formats.kitti import looks_like_kitti_detections, read_kitti_detections

if TYPE_CHECKING:
    from mtmc.sources import Source

LAYOUT = "frame,-1,left,top,width,height,score[,x,y,z]"
OPTIONS = ("path", "class_name", "classes", "score_threshold", "format", "score_map")
FORMATS = ("auto", "mot", "kitti")
SCORE_MAPS = (None, "sigmoid")


@DETECTORS.register("file")
class FileDetector(Detector):
    def __init__(
        self,
        path: str | Path | None = None,
        class_name: str | None = None,
        classes: list[str] | tuple[str, ...] | None = None,
        score_threshold: float | None = None,
        format: str = "auto",
        score_map: str | None = None,
        threads: int = 1,  # given to every detector; nothing to run here
        **unknown: Any,
    ) -> None:
        if unknown:
            raise MtmcError(
                f"file detector: unknown option {', '.join(sorted(unknown))}: valid options are {', '.join(OPTIONS)}"
            )
        if path is None:
            raise MtmcError("file detector: give path: the detections file (e.g. SEQ/det/det.txt)")
        if score_threshold is not None and (
            isinstance(score_threshold, bool)
            or not isinstance(score_threshold, (int, float))
            or not math.isfinite(score_threshold)
        ):
            raise MtmcError(f"file detector: option score_threshold must be a number or null, got {score_threshold!r}")
        if format not in FORMATS:
            raise MtmcError(f"file detector: option format must be one of {', '.join(FORMATS)}, got {format!r}")
        if score_map not in SCORE_MAPS:
            raise MtmcError(f"file detector: option score_map must be null or sigmoid, got {score_map!r}")
        self.path = Path(path)
        self.class_name = _one_class(class_name, classes)
        self.class_id = class_ids([self.class_name])[0]
        self.score_threshold = score_threshold
        if format == "kitti" or (format == "auto" and _sniff_kitti(self.path)):
            frames, boxes, lines = read_kitti_detections(self.path)
            flat = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])  # clipped to nothing at a border
            frames, boxes, lines = frames[~flat], boxes[~flat], lines[~flat]
        else:
            frames, boxes, lines = read_detections(self.path)
        if score_map == "sigmoid":
            boxes[:, 4] = 1.0 / (1.0 + np.exp(-boxes[:, 4].astype(np.float64)))
        self.last_frame, self.last_line = (int(frames.max()), int(lines[frames.argmax()])) if len(frames) else (0, 0)
        if score_threshold is not None:
            keep = boxes[:, 4] >= score_threshold
            frames, boxes = frames[keep], boxes[keep]
        order = np.lexsort((-boxes[:, 4], frames))  # by frame, best score first, file order among equals
        frames, boxes = frames[order], boxes[order]
        boxes[:, 5] = self.class_id
        self.boxes = boxes
        numbers, starts, counts = np.unique(frames, return_index=True, return_counts=True)
        self.spans = {int(f): (int(s), int(s + c)) for f, s, c in zip(numbers, starts, counts)}

    def detect_frame(self, index: int, image: np.ndarray) -> np.ndarray:
        start, end = self.spans.get(int(index), (0, 0))
        return self.boxes[start:end].copy()

    def detect(self, image: np.ndarray) -> np.ndarray:
        raise MtmcError(
            "detector 'file' gives the boxes of a frame number, and this step has images without one: "
            "use an image detector here (onnx-yolox, openvino)"
        )

    def check_source(self, source: Source) -> None:
        """Frames in the file past the source's last frame mean the file belongs to another sequence."""
        last = _last_index(source)
        if last is not None and self.last_frame > last:
            raise MtmcError(
                f"{self.path}:{self.last_line}: frame {self.last_frame} is beyond the last frame of "
                f"{source.name} ({last}): are these the detections of another sequence?"
            )


def _sniff_kitti(path: Path) -> bool:
    """Whether the first line with data is an AB3DMOT/KITTI detection line."""
    if not path.is_file():
        return False  # read_detections names the problem
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        return next((looks_like_kitti_detections(line) for line in handle if line.strip()), False)


def _one_class(class_name: str | None, classes: list[str] | tuple[str, ...] | None) -> str:
    if class_name is not None:
        if not isinstance(class_name, str):
            raise MtmcError(f"file detector: option class_name must be a COCO class name, got {class_name!r}")
        return class_name
    if classes is None:
        return "car"
    names = [classes] if isinstance(classes, str) else list(classes)
    if len(names) != 1:
        raise MtmcError(
            f"file detector: a detections file has no class column, so give one class "
            f"(--classes person, or class_name: person), got {', '.join(map(str, names)) or 'none'}"
        )
    return str(names[0])


def read_detections(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (M,) int64, boxes (M, 6) float32 [x1, y1, x2, y2, score, 0] and line numbers (M,)
    of a MOTChallenge / AI City detections file; a bad line is one error naming file:line."""
    if not path.exists():
        raise MtmcError(f"detections file not found: {path} (check the path)")
    if path.is_dir():
        raise MtmcError(f"detections file {path} is a folder: give the file, e.g. {path / 'det' / 'det.txt'}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MtmcError(f"{path}: not a text file (expected {LAYOUT} lines)") from None
    except OSError as exc:
        raise MtmcError(f"cannot read detections file {path}: {exc.strerror or exc}") from None
    frames: list[int] = []
    rows: list[list[float]] = []
    lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        if not 7 <= len(fields) <= 10:
            raise InputFormatError(path, f"expected {LAYOUT} (7 to 10 numbers), got {len(fields)}: {line!r}", number)
        values = []
        for column, field in enumerate(fields[:7], 1):
            try:
                value = float(field)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise InputFormatError(
                    path, f"value {column} {field!r} is not a number (expected {LAYOUT}): {line!r}", number
                )
            values.append(value)
        frame, _, left, top, width, height, score = values
        if frame < 1 or not frame.is_integer():
            raise InputFormatError(path, f"frame {fields[0]!r} is not a frame number (an integer >= 1): {line!r}", number)
        if width <= 0 or height <= 0:
            raise InputFormatError(path, f"width and height must be > 0 (expected {LAYOUT}): {line!r}", number)
        frames.append(int(frame))
        rows.append([left, top, left + width, top + height, score, 0.0])
        lines.append(number)
    return (
        np.asarray(frames, np.int64),
        np.asarray(rows, np.float32).reshape(-1, 6),
        np.asarray(lines, np.int64),
    )


def _last_index(source: Source) -> int | None:
    """The largest frame number ``source`` can yield, when it is known (files and folders)."""
    from mtmc.sources.folder import ImageFolderSource
    from mtmc.sources.video import END_SLACK, VideoFileSource

    if isinstance(source, ImageFolderSource):  # frames are numbered by their file names
        return max(int(f.stem) if f.stem.isdigit() else i + 1 for i, f in enumerate(source.files))
    native = source.native_frames()
    if native is None:
        return None
    return native + END_SLACK if isinstance(source, VideoFileSource) else native  # the count can be a frame short
