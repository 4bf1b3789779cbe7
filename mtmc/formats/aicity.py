"""AI City Challenge MTMC submissions: ``camera id frame x y w h xworld yworld`` per line.

Space, tab or comma separated; camera as an integer (c006 -> 6); frames from 1. The world
coordinates are optional and not scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.formats.table import read_numeric_table, whole_numbers
from mtmc.types import TrackRows

COLUMNS = "camera, id, frame, x, y, width, height"


def read_aicity(path: str | Path, what: str = "AI City file") -> TrackRows:
    table = read_numeric_table(path, 7, what, COLUMNS)
    if len(table) == 0:
        return TrackRows.empty()
    return TrackRows(
        camera=whole_numbers(table, 0, path, "camera"),
        id=whole_numbers(table, 1, path, "id"),
        frame=whole_numbers(table, 2, path, "frame"),
        xywh=table[:, 3:7],
    )


def write_aicity(path: str | Path, rows: TrackRows) -> None:
    """Write one line per box, sorted by camera, frame and id; world coordinates as -1."""
    r = rows.take(np.lexsort((rows.id, rows.frame, rows.camera)))
    xywh = np.rint(r.xywh).astype(np.int64).tolist()
    lines = [
        f"{c} {i} {f} {x} {y} {w} {h} -1 -1\n"
        for c, i, f, (x, y, w, h) in zip(r.camera.tolist(), r.id.tolist(), r.frame.tolist(), xywh)
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(lines))
