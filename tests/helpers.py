"""Small builders for hand-made tracking cases."""

import numpy as np

from mtmc.types import TrackRows


def rows(*boxes, camera=None) -> TrackRows:
    """``rows((frame, id, x, y, w, h), ...)``; optional ``camera`` for every row."""
    table = np.array(boxes, dtype=float).reshape(-1, 6)
    cam = None if camera is None else np.full(len(table), camera)
    return TrackRows(frame=table[:, 0], id=table[:, 1], xywh=table[:, 2:6], camera=cam)


def track(track_id, frames, x=0.0, y=0.0, w=10.0, h=10.0, camera=None) -> TrackRows:
    """One track with the same box in each of ``frames``."""
    return rows(*[(f, track_id, x, y, w, h) for f in frames], camera=camera)
