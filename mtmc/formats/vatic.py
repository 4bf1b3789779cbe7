"""VATIC annotation files (EPFL / CAMPUS multi-camera ground truth).

Each line: ``id xmin ymin xmax ymax frame lost occluded generated "label"``. Frames are 0-based
in VATIC; they are returned 1-based like every other reader. Rows with ``lost=1`` (the object
is not visible in this camera) are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.formats.table import read_numeric_table, whole_numbers
from mtmc.types import TrackRows

COLUMNS = "id, xmin, ymin, xmax, ymax, frame, lost, occluded, generated"


def read_vatic(path: str | Path, what: str = "VATIC file", camera: int = 0) -> TrackRows:
    table = read_numeric_table(path, 9, what, COLUMNS, quoted_tail=True)
    if len(table) == 0:
        return TrackRows.empty()
    visible = table[:, 6] == 0
    ids = whole_numbers(table, 0, path, "id", quoted_tail=True)
    frames = whole_numbers(table, 5, path, "frame", quoted_tail=True)
    x1, y1, x2, y2 = table[:, 1], table[:, 2], table[:, 3], table[:, 4]
    rows = TrackRows(
        frame=frames + 1,
        id=ids,
        xywh=np.column_stack([x1, y1, x2 - x1, y2 - y1]),
        camera=np.full(len(table), camera),
    )
    return rows.take(visible)
