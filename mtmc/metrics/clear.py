"""CLEAR MOT (MOTA, MOTP, switches, fragmentations, MT/PT/ML), as py-motmetrics defines them.

py-motmetrics walks frames in order: a ground-truth object keeps the hypothesis it was matched
to last time when they still overlap enough, the rest are matched by a min-cost assignment that
first maximises the number of matches. We reproduce that exactly, but only frames where a box
has two or more candidates need the walk; every other match is forced and found in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.metrics.assignment import solve_dense
from mtmc.metrics.pairs import OverlapPairs, group_bounds, unshared


@dataclass(frozen=True)
class Matches:
    """Matched (gt row, pred row) pairs and their distance 1 - IoU."""

    gt: np.ndarray
    pred: np.ndarray
    dist: np.ndarray


def clear_matches(valid: OverlapPairs, gt_id: np.ndarray, pred_id: np.ndarray) -> Matches:
    """Frame-by-frame CLEAR matching among ``valid`` pairs (those close enough to match).

    ``gt_id``/``pred_id`` are per-row identities mapped to 0..K-1.
    """
    dist = 1.0 - valid.iou
    forced = unshared(valid.gt, valid.pred)
    forced_idx = np.flatnonzero(forced)
    open_idx = np.flatnonzero(~forced)
    chosen = [forced_idx]
    # Last hypothesis each object was matched to; filled lazily from the forced matches.
    last_pred = np.full(int(gt_id.max(initial=-1)) + 1, -1, np.int64)
    forced_frames = valid.frame[forced_idx]
    applied = 0
    starts, stops = group_bounds(valid.frame[open_idx])
    for start, stop in zip(starts.tolist(), stops.tolist()):
        edges = open_idx[start:stop]
        frame = valid.frame[edges[0]]
        upto = int(np.searchsorted(forced_frames, frame, "left"))
        if upto > applied:
            newly = forced_idx[applied:upto]
            _remember(last_pred, gt_id[valid.gt[newly]], pred_id[valid.pred[newly]])
            applied = upto
        picked = _match_frame(valid, edges, dist, gt_id, pred_id, last_pred)
        _remember(last_pred, gt_id[valid.gt[picked]], pred_id[valid.pred[picked]])
        chosen.append(picked)
    index = np.sort(np.concatenate(chosen))
    return Matches(valid.gt[index], valid.pred[index], dist[index])


def _remember(last_pred: np.ndarray, objects: np.ndarray, hypotheses: np.ndarray) -> None:
    """Record ``hypotheses`` as the latest match of ``objects`` (given in time order)."""
    if len(objects) == 0:
        return
    # The last occurrence of each object wins: take first occurrences of the reversed arrays.
    objects_rev, hyps_rev = objects[::-1], hypotheses[::-1]
    unique_objects, first = np.unique(objects_rev, return_index=True)
    last_pred[unique_objects] = hyps_rev[first]


def _match_frame(
    valid: OverlapPairs,
    edges: np.ndarray,
    dist: np.ndarray,
    gt_id: np.ndarray,
    pred_id: np.ndarray,
    last_pred: np.ndarray,
) -> np.ndarray:
    """Match the entangled pairs of one frame: keep last frame's partners, then assign the rest."""
    g_rows, p_rows = valid.gt[edges], valid.pred[edges]
    kept: list[int] = []
    used_g: set[int] = set()
    used_p: set[int] = set()
    for g in np.unique(g_rows).tolist():  # objects in file order, as py-motmetrics visits them
        previous = last_pred[gt_id[g]]
        if previous < 0:
            continue
        for e in np.flatnonzero((g_rows == g) & (pred_id[p_rows] == previous)).tolist():
            if p_rows[e] not in used_p:
                kept.append(e)
                used_g.add(g)
                used_p.add(int(p_rows[e]))
                break
    rest = np.array(
        [e for e in range(len(edges)) if int(g_rows[e]) not in used_g and int(p_rows[e]) not in used_p],
        np.int64,
    )
    picked = list(kept)
    if len(rest):
        picked.extend(
            rest[solve_dense(g_rows[rest], p_rows[rest], dist[edges[rest]], maximize=False)].tolist()
        )
    return edges[np.array(picked, np.int64)]


@dataclass(frozen=True)
class ClearCounts:
    num_matches: int
    num_switches: int
    num_fragmentations: int
    sum_dist: float
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int


def clear_counts(
    matches: Matches, gt_frame: np.ndarray, gt_id: np.ndarray, pred_id: np.ndarray
) -> ClearCounts:
    """Switches, fragmentations and MT/PT/ML from the matches (``gt_id`` mapped to 0..K-1)."""
    n_objects = int(gt_id.max(initial=-1)) + 1
    # Switch: an object matched to a different hypothesis than at its previous match.
    order = np.lexsort((gt_frame[matches.gt], gt_id[matches.gt]))
    obj = gt_id[matches.gt[order]]
    hyp = pred_id[matches.pred[order]]
    switches = int(np.count_nonzero((obj[1:] == obj[:-1]) & (hyp[1:] != hyp[:-1])))
    # Fragmentation: tracked -> missed, between an object's first and last tracked frame.
    tracked = np.zeros(len(gt_frame), bool)
    tracked[matches.gt] = True
    by_object = np.lexsort((gt_frame, gt_id))
    obj_rows, tracked_rows = gt_id[by_object], tracked[by_object]
    position = np.arange(len(by_object))
    last_tracked = np.full(n_objects, -1)
    np.maximum.at(last_tracked, obj_rows[tracked_rows], position[tracked_rows])
    lost = np.r_[False, (obj_rows[1:] == obj_rows[:-1]) & tracked_rows[:-1] & ~tracked_rows[1:]]
    fragmentations = int(np.count_nonzero(lost & (position < last_tracked[obj_rows])))
    ratio = np.bincount(obj_rows[tracked_rows], minlength=n_objects) / np.maximum(
        np.bincount(obj_rows, minlength=n_objects), 1
    )
    return ClearCounts(
        num_matches=len(matches.gt),
        num_switches=switches,
        num_fragmentations=fragmentations,
        sum_dist=float(matches.dist.sum()),
        mostly_tracked=int(np.count_nonzero(ratio >= 0.8)),
        partially_tracked=int(np.count_nonzero((ratio >= 0.2) & (ratio < 0.8))),
        mostly_lost=int(np.count_nonzero(ratio < 0.2)),
    )
