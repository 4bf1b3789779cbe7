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


def aicity_lines(rows: TrackRows, world: np.ndarray | None = None) -> str:
    """One line per row, in the rows' order; ``world`` (N, 2) ground x, y, else ``-1 -1``."""
    xywh = np.rint(rows.xywh).astype(np.int64).tolist()
    where = ["-1 -1"] * len(rows) if world is None else [f"{wx:.3f} {wy:.3f}" for wx, wy in world.tolist()]
    return "".join(
        f"{c} {i} {f} {x} {y} {w} {h} {p}\n"
        for c, i, f, (x, y, w, h), p in zip(rows.camera.tolist(), rows.id.tolist(), rows.frame.tolist(), xywh, where)
    )


def write_aicity(path: str | Path, rows: TrackRows, world: np.ndarray | None = None) -> None:
    """Write one line per box, sorted by camera, frame and id; world coordinates as given, else -1."""
    order = np.lexsort((rows.id, rows.frame, rows.camera))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(aicity_lines(rows.take(order), None if world is None else world[order]))
