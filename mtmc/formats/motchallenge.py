"""MOTChallenge text files: ``frame,id,x,y,w,h,conf[,...]`` one box per line, frames from 1."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.formats.table import read_numeric_table, whole_numbers
from mtmc.types import TrackRows

COLUMNS = "frame, id, x, y, width, height"


def read_mot(path: str | Path, what: str = "MOTChallenge file", drop_zero_conf: bool = False) -> TrackRows:
    """Read a MOTChallenge file. ``drop_zero_conf`` drops ground-truth rows marked 0 (ignore)."""
    table = read_numeric_table(path, 6, what, COLUMNS, optional=1)
    if len(table) == 0:
        return TrackRows.empty()
    rows = TrackRows(
        frame=whole_numbers(table, 0, path, "frame"),
        id=whole_numbers(table, 1, path, "id"),
        xywh=table[:, 2:6],
        score=np.nan_to_num(table[:, 6], nan=1.0),
    )
    if drop_zero_conf:
        rows = rows.take(rows.score != 0)
    return rows


def mot_lines(rows: TrackRows) -> str:
    """MOTChallenge lines ``frame,id,x,y,w,h,conf,-1,-1,-1``, in the rows' order."""
    return "".join(
        f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4g},-1,-1,-1\n"
        for f, i, (x, y, w, h), s in zip(rows.frame.tolist(), rows.id.tolist(), rows.xywh.tolist(), rows.score.tolist())
    )


def write_mot(path: str | Path, rows: TrackRows) -> None:
    """Write MOTChallenge rows ``frame,id,x,y,w,h,conf,-1,-1,-1`` sorted by frame then id."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(mot_lines(rows.take(np.lexsort((rows.id, rows.frame)))))
