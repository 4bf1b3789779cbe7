"""KITTI tracking files: labels and results (``label_02/SEQ.txt``) and AB3DMOT's detection files.

Labels and tracking results are one object a line, space-separated, frames from 0:
``frame track_id type truncated occluded alpha left top right bottom h w l x y z rotation_y [score]``
(``type`` Car, Van, Truck, Pedestrian, Person_sitting, Cyclist, Tram, Misc or DontCare; DontCare
regions have id -1). Detections as AB3DMOT publishes them (e.g. PointRCNN's) are comma-separated
``frame,type,left,top,right,bottom,score,h,w,l,x,y,z,rotation_y,alpha``, frames from 0, corner
boxes, and a raw score (a logit: negative or above 1 is normal). Everything read here is turned
into mtmc's conventions, frames from 1 and boxes as top-left corner and size, so a KITTI sequence
tracked by ``mtmc track`` (MOTChallenge rows) and its labels line up frame for frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError
from mtmc.formats.table import read_text
from mtmc.types import TrackRows

LABEL_LAYOUT = "frame track_id type truncated occluded alpha left top right bottom h w l x y z rotation_y [score]"
DETECTION_LAYOUT = "frame,type,left,top,right,bottom,score,h,w,l,x,y,z,rotation_y,alpha"
DONT_CARE = "dontcare"


@dataclass(frozen=True)
class KittiObjects:
    """The rows of a KITTI label or result file; ``rows`` in mtmc's conventions (frames from 1).

    ``kind`` is the lower-cased type, ``truncated`` (0, 1, 2) and ``occluded`` (0-3) KITTI's levels.
    """

    rows: TrackRows
    kind: np.ndarray
    truncated: np.ndarray
    occluded: np.ndarray

    def of(self, kinds: tuple[str, ...] | str) -> np.ndarray:
        """Boolean mask of the rows whose type is one of ``kinds`` (any case)."""
        kinds = (kinds,) if isinstance(kinds, str) else kinds
        return np.isin(self.kind, [k.lower() for k in kinds])


def looks_like_kitti(line: str) -> bool:
    """A KITTI label/result line: 17 or 18 space-separated fields whose third is a type name."""
    fields = line.split()
    return len(fields) in (17, 18) and fields[2].replace("_", "").isalpha()


def read_kitti_objects(path: str | Path, what: str = "KITTI tracking file") -> KittiObjects:
    """Every row of a KITTI tracking label or result file; a bad line is one error naming file:line."""
    frames, ids, kinds, truncated, occluded, boxes, scores = [], [], [], [], [], [], []
    for number, raw in enumerate(read_text(path, what).splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) not in (17, 18):
            raise InputFormatError(path, f"expected {LABEL_LAYOUT} (17 or 18 fields), got {len(fields)}", number)
        try:
            values = [float(v) for v in fields[:2] + fields[3:]]
        except ValueError:
            raise InputFormatError(path, f"a value other than type is not a number (expected {LABEL_LAYOUT})", number) from None
        if not all(map(math.isfinite, values)) or not values[0].is_integer() or values[0] < 0 or not values[1].is_integer():
            raise InputFormatError(path, f"frame must be a whole number >= 0 and track_id a whole number: {raw.strip()[:80]!r}", number)
        left, top, right, bottom = values[5:9]
        if right < left or bottom < top:
            raise InputFormatError(path, f"box right < left or bottom < top (KITTI boxes are corners): {raw.strip()[:80]!r}", number)
        frames.append(int(values[0]) + 1)
        ids.append(int(values[1]))
        kinds.append(fields[2].lower())
        truncated.append(values[2])
        occluded.append(values[3])
        boxes.append([left, top, right - left, bottom - top])
        scores.append(values[16] if len(values) == 17 else 1.0)
    rows = TrackRows(frame=np.asarray(frames, np.int64), id=np.asarray(ids, np.int64), xywh=np.asarray(boxes).reshape(-1, 4), score=np.asarray(scores))
    return KittiObjects(rows, np.asarray(kinds, dtype=str), np.asarray(truncated), np.asarray(occluded))


def read_kitti(path: str | Path, what: str = "KITTI tracking file", class_name: str = "car") -> TrackRows:
    """The tracks of one class (default Car) of a KITTI label or result file, frames from 1."""
    objects = read_kitti_objects(path, what)
    return objects.rows.take(objects.of(class_name))


def kitti_lines(rows: TrackRows, class_name: str = "Car") -> str:
    """KITTI tracking result lines (frames from 0, corner boxes, unknown 3D values as the devkit's
    -1/-10/-1000 placeholders, the score last), in the rows' order."""
    return "".join(
        f"{f - 1} {i} {class_name} -1 -1 -10 {x:.2f} {y:.2f} {x + w:.2f} {y + h:.2f} -1 -1 -1 -1000 -1000 -1000 -10 {s:.4f}\n"
        for f, i, (x, y, w, h), s in zip(rows.frame.tolist(), rows.id.tolist(), rows.xywh.tolist(), rows.score.tolist())
    )


def write_kitti(path: str | Path, rows: TrackRows, class_name: str = "Car") -> None:
    """Write tracks as a KITTI tracking result file, sorted by frame then id."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(kitti_lines(rows.take(np.lexsort((rows.id, rows.frame))), class_name))


def looks_like_kitti_detections(line: str) -> bool:
    """An AB3DMOT detection line: 15 comma-separated numbers, the second a type (not MOT's -1)."""
    fields = line.split(",")
    return len(fields) == 15 and fields[1].strip() not in ("-1", "-1.0")


def read_kitti_detections(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (M,) int64 from 1, boxes (M, 6) float32 [x1, y1, x2, y2, raw score, 0] and line
    numbers (M,) of an AB3DMOT/KITTI detection file; a bad line is one error naming file:line."""
    frames, rows, lines = [], [], []
    for number, raw in enumerate(read_text(path, "detections file").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != 15:
            raise InputFormatError(path, f"expected {DETECTION_LAYOUT} (15 numbers), got {len(fields)}: {line[:80]!r}", number)
        try:
            frame, _, left, top, right, bottom, score = (float(v) for v in fields[:7])
        except ValueError:
            raise InputFormatError(path, f"a value is not a number (expected {DETECTION_LAYOUT}): {line[:80]!r}", number) from None
        if not all(map(math.isfinite, (frame, left, top, right, bottom, score))):
            raise InputFormatError(path, f"a value is not finite: {line[:80]!r}", number)
        if frame < 0 or not frame.is_integer():
            raise InputFormatError(path, f"frame {fields[0]!r} is not a frame number (an integer >= 0): {line[:80]!r}", number)
        if right < left or bottom < top:  # equal happens: a box clipped at the image border
            raise InputFormatError(path, f"box must have right >= left and bottom >= top (corners): {line[:80]!r}", number)
        frames.append(int(frame) + 1)
        rows.append([left, top, right, bottom, score, 0.0])
        lines.append(number)
    return np.asarray(frames, np.int64), np.asarray(rows, np.float32).reshape(-1, 6), np.asarray(lines, np.int64)
