"""Which pairs of tracklets may be one identity, from time alone.

``cannot_link``: two tracklets of one camera that overlap in time are two objects (a hard
constraint), and so are tracklets of different cameras that overlap in time when the topology
says their views do not overlap (``exclusive_views``, less the pairs in ``overlaps``).

``time_gates``: which cross-camera pairs are direct evidence at all. With a topology, a pair of
non-overlapping tracklets is gated by the link between their cameras: the later one's middle
time minus the earlier one's must lie in the link's [min_s, max_s] (SynthCity's topology gives
view-centre to view-centre travel times). A pair that fails its gate is not forbidden (the object
may have passed other cameras in between); its distances are just not used. A topology that is
not ``complete`` (one learnt from confident matches) gates only the pairs it has links for; the
others are gated as without a topology.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtmc.match.config import TopologyConfig
from mtmc.types import Tracklet


def _intervals(tracklets: Sequence[Tracklet]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts = np.array([t.start for t in tracklets], np.float64)
    ends = np.array([t.end for t in tracklets], np.float64)
    cameras = np.array([t.camera for t in tracklets], np.int64)
    return starts, ends, cameras


def time_overlap(tracklets: Sequence[Tracklet]) -> np.ndarray:
    """(N, N) True where the tracklets' [start, end] intervals intersect."""
    starts, ends, _ = _intervals(tracklets)
    return (starts[:, None] <= ends[None, :]) & (starts[None, :] <= ends[:, None])


def cannot_link(tracklets: Sequence[Tracklet], topology: TopologyConfig | None = None) -> np.ndarray:
    """(N, N) True where two tracklets can never be one identity (diagonal False)."""
    _, _, cameras = _intervals(tracklets)
    overlap = time_overlap(tracklets)
    same_camera = cameras[:, None] == cameras[None, :]
    forbidden = overlap & same_camera
    if topology is not None and topology.exclusive_views:
        forbidden |= overlap & ~same_camera & ~topology.overlap_allowed(cameras[:, None], cameras[None, :])
    np.fill_diagonal(forbidden, False)
    return forbidden


def time_gates(
    tracklets: Sequence[Tracklet], topology: TopologyConfig | None = None, max_gap_s: float = np.inf
) -> np.ndarray:
    """(N, N) True where a cross-camera pair is direct evidence (same-camera pairs: True)."""
    starts, ends, cameras = _intervals(tracklets)
    n = len(tracklets)
    overlap = time_overlap(tracklets)
    same_camera = cameras[:, None] == cameras[None, :]
    if topology is None:
        gap = np.maximum(starts[None, :] - ends[:, None], starts[:, None] - ends[None, :])
        return same_camera | overlap | (gap <= max_gap_s)
    middle = (starts + ends) / 2
    allowed = same_camera | (overlap & topology.overlap_allowed(cameras[:, None], cameras[None, :]))
    numbers = {int(c) for c in cameras.tolist()}
    linked = np.zeros((n, n), bool)  # filled only for a partial topology, the only user
    for link in topology.links:
        a, b = int(link.from_[1:]), int(link.to[1:])
        if a not in numbers or b not in numbers:
            continue
        rows, cols = np.nonzero(cameras == a)[0], np.nonzero(cameras == b)[0]
        if not topology.complete:
            linked[np.ix_(rows, cols)] = linked[np.ix_(cols, rows)] = True
        travel = middle[cols][None, :] - middle[rows][:, None]  # from a's tracklet to b's
        ok = (travel >= link.min_s) & (travel <= link.max_s) & ~overlap[np.ix_(rows, cols)]
        block = allowed[np.ix_(rows, cols)] | ok
        allowed[np.ix_(rows, cols)] = block
        allowed[np.ix_(cols, rows)] = block.T | allowed[np.ix_(cols, rows)]
    if not topology.complete:
        gap = np.maximum(starts[None, :] - ends[:, None], starts[:, None] - ends[None, :])
        allowed |= ~linked & ~overlap & (gap <= max_gap_s)
    assert allowed.shape == (n, n)
    return allowed
