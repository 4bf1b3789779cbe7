"""Offline gap filling of finished tracks: linear interpolation over short gaps (StrongSORT's
"linear interpolation" baseline to its GSI, Du et al. 2023; the usual post-processing of MOT
benchmarks). A track missed for a few frames (an occlusion, a missed detection) and found again
gets boxes on the straight line between its two detections. It needs the frame after the gap,
so it runs on a whole output (``mtmc track --interpolate``, benchmarks), never in a live worker.
"""

from __future__ import annotations

import numpy as np

from mtmc.types import TrackRows


def interpolate_gaps(rows: TrackRows, max_gap: int) -> TrackRows:
    """``rows`` plus, for every track and every gap of 1..``max_gap`` missing frames between two of
    its rows, one linearly interpolated box per missing frame (score: the lower of the two ends).
    Rows come back sorted by track then frame."""
    if max_gap < 1 or len(rows) == 0:
        return rows
    rows = rows.take(np.lexsort((rows.frame, rows.id)))
    same = rows.id[1:] == rows.id[:-1]
    gaps = rows.frame[1:] - rows.frame[:-1] - 1
    starts = np.flatnonzero(same & (gaps >= 1) & (gaps <= max_gap))
    if not len(starts):
        return rows
    counts = gaps[starts]
    before = np.repeat(starts, counts)
    step = np.concatenate([np.arange(1, n + 1) for n in counts])
    share = (step / np.repeat(counts + 1, counts))[:, None]
    filled = TrackRows(
        frame=rows.frame[before] + step,
        id=rows.id[before],
        xywh=rows.xywh[before] * (1 - share) + rows.xywh[before + 1] * share,
        score=np.minimum(rows.score[before], rows.score[before + 1]),
        camera=rows.camera[before],
    )
    both = TrackRows.concat([rows, filled])
    return both.take(np.lexsort((both.frame, both.id)))
