"""Every ground-truth / prediction pair that overlaps in the same frame, found without a frame loop.

All metrics start here: rows of both files are grouped by frame with a sort, the pairs of each
frame are enumerated with index arithmetic in bounded chunks, and only overlapping pairs are kept.
The result is sparse: its size is the number of overlaps, not frames x boxes x boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.metrics.boxes import iou_xywh


@dataclass(frozen=True)
class OverlapPairs:
    """Row indices into ground truth and prediction, their frame and IoU (> 0).

    Sorted by frame, then by ground-truth row, then by prediction row.
    """

    gt: np.ndarray
    pred: np.ndarray
    frame: np.ndarray
    iou: np.ndarray

    def take(self, index: np.ndarray) -> OverlapPairs:
        return OverlapPairs(self.gt[index], self.pred[index], self.frame[index], self.iou[index])

    def __len__(self) -> int:
        return len(self.gt)


def overlap_pairs(
    gt_frame: np.ndarray,
    gt_xywh: np.ndarray,
    pred_frame: np.ndarray,
    pred_xywh: np.ndarray,
    chunk: int = 1 << 18,
) -> OverlapPairs:
    """All (gt row, pred row) pairs of one frame whose boxes overlap (IoU > 0)."""
    g_order = np.argsort(gt_frame, kind="stable")
    p_order = np.argsort(pred_frame, kind="stable")
    g_sorted, p_sorted = gt_frame[g_order], pred_frame[p_order]
    # Horizontal extents in sorted order: a cheap first test that rejects most pairs.
    g_x1, p_x1 = gt_xywh[g_order, 0], pred_xywh[p_order, 0]
    g_x2, p_x2 = g_x1 + gt_xywh[g_order, 2], p_x1 + pred_xywh[p_order, 2]
    frames = np.intersect1d(g_sorted, p_sorted, assume_unique=False)
    g_lo = np.searchsorted(g_sorted, frames, "left")
    g_n = np.searchsorted(g_sorted, frames, "right") - g_lo
    p_lo = np.searchsorted(p_sorted, frames, "left")
    p_n = np.searchsorted(p_sorted, frames, "right") - p_lo
    per_frame = g_n * p_n
    cumulative = np.cumsum(per_frame)
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    while start < len(frames):
        base = cumulative[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cumulative, base + chunk, "right")))
        counts = per_frame[start:stop]
        frame_of = np.repeat(np.arange(start, stop), counts)
        offset = np.arange(int(counts.sum())) - np.repeat(cumulative[start:stop] - counts - base, counts)
        g_step, p_step = np.divmod(offset, p_n[frame_of])
        gi, pj = g_lo[frame_of] + g_step, p_lo[frame_of] + p_step
        across = np.flatnonzero(np.minimum(g_x2[gi], p_x2[pj]) > np.maximum(g_x1[gi], p_x1[pj]))
        g_rows, p_rows, frame_of = g_order[gi[across]], p_order[pj[across]], frame_of[across]
        iou = iou_xywh(gt_xywh[g_rows], pred_xywh[p_rows])
        keep = iou > 0
        parts.append((g_rows[keep], p_rows[keep], frames[frame_of[keep]], iou[keep]))
        start = stop
    if not parts:
        empty = np.zeros(0, np.int64)
        return OverlapPairs(empty, empty, empty, np.zeros(0))
    return OverlapPairs(*(np.concatenate(column) for column in zip(*parts)))


def restrict_pairs(pairs: OverlapPairs, gt_keep: np.ndarray, pred_keep: np.ndarray) -> OverlapPairs:
    """The pairs among kept rows (boolean masks), renumbered to index the kept rows only."""
    gt_new = np.cumsum(gt_keep) - 1
    pred_new = np.cumsum(pred_keep) - 1
    sel = np.flatnonzero(gt_keep[pairs.gt] & pred_keep[pairs.pred])
    return OverlapPairs(gt_new[pairs.gt[sel]], pred_new[pairs.pred[sel]], pairs.frame[sel], pairs.iou[sel])


def unshared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of pairs whose ``a`` and ``b`` each occur in no other pair: their matching is forced."""
    if len(a) == 0:
        return np.zeros(0, bool)
    count_a = np.bincount(a)
    count_b = np.bincount(b)
    return (count_a[a] == 1) & (count_b[b] == 1)


def group_bounds(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop index of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    stops = np.r_[starts[1:], len(sorted_keys)]
    return starts, stops
