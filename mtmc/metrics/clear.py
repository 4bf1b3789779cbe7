"""CLEAR MOT (MOTA, MOTP, switches, fragmentations, MT/PT/ML), as py-motmetrics defines them.

py-motmetrics walks frames in order: a ground-truth object keeps the hypothesis it was matched
to last time when they still overlap enough, the rest are matched by a min-cost assignment that
first maximises the number of matches. We reproduce that exactly, but only frames where a box
has two or more candidates need the walk; every other match is forced and found in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.metrics.assignment import min_cost_matching
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
    forced_idx, open_idx = np.flatnonzero(forced), np.flatnonzero(~forced)
    # Each contested edge's object: its last forced match before that frame, found in bulk.
    prev_frame, prev_pred = _last_before(
        gt_id[valid.gt[forced_idx]],
        valid.frame[forced_idx],
        pred_id[valid.pred[forced_idx]],
        gt_id[valid.gt[open_idx]],
        valid.frame[open_idx],
    )
    # Matches made in contested frames, newer than any forced one when their frame is later.
    walked: dict[int, tuple[int, int]] = {}
    chosen = [forced_idx]
    for start, stop in zip(*(b.tolist() for b in group_bounds(valid.frame[open_idx]))):
        edges = open_idx[start:stop]
        objects = gt_id[valid.gt[edges]].tolist()
        previous = prev_pred[start:stop].tolist()
        for k, (obj, since) in enumerate(zip(objects, prev_frame[start:stop].tolist())):
            frame_hyp = walked.get(obj)
            if frame_hyp is not None and frame_hyp[0] > since:
                previous[k] = frame_hyp[1]
        picked = _match_frame(valid, edges, dist, pred_id, previous)
        frame = int(valid.frame[edges[0]])
        for obj, hyp in zip(gt_id[valid.gt[picked]].tolist(), pred_id[valid.pred[picked]].tolist()):
            walked[obj] = (frame, hyp)
        chosen.append(picked)
    index = np.sort(np.concatenate(chosen))
    return Matches(valid.gt[index], valid.pred[index], dist[index])


def _last_before(
    obj: np.ndarray, frame: np.ndarray, value: np.ndarray, query_obj: np.ndarray, query_frame: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the frame and value of ``obj``'s latest row before ``query_frame`` (-1 if none)."""
    if len(obj) == 0:
        none = np.full(len(query_obj), -1, np.int64)
        return none, none
    span = int(max(frame.max(), query_frame.max(initial=0))) + 1
    order = np.lexsort((frame, obj))
    obj, frame, value = obj[order], frame[order], value[order]
    at = np.maximum(np.searchsorted(obj * span + frame, query_obj * span + query_frame, "left") - 1, 0)
    found = (obj[at] == query_obj) & (frame[at] < query_frame)
    return np.where(found, frame[at], -1), np.where(found, value[at], -1)


def _match_frame(
    valid: OverlapPairs, edges: np.ndarray, dist: np.ndarray, pred_id: np.ndarray, previous: list[int]
) -> np.ndarray:
    """Match the contested pairs of one frame: keep last partners, then assign the rest.

    ``previous[k]`` is the hypothesis that edge ``k``'s object was last matched to (-1: none).
    """
    g_rows, p_rows = valid.gt[edges].tolist(), valid.pred[edges].tolist()
    hyps = pred_id[valid.pred[edges]].tolist()
    used_g: set[int] = set()
    used_p: set[int] = set()
    kept: list[int] = []
    # Objects in file order, as py-motmetrics visits them; edges of one object are adjacent.
    for k, (g, p) in enumerate(zip(g_rows, p_rows)):
        if g not in used_g and p not in used_p and previous[k] >= 0 and hyps[k] == previous[k]:
            kept.append(k)
            used_g.add(g)
            used_p.add(p)
    rest = np.array(
        [k for k, (g, p) in enumerate(zip(g_rows, p_rows)) if g not in used_g and p not in used_p], np.int64
    )
    if len(rest):
        chosen = min_cost_matching(valid.gt[edges[rest]], valid.pred[edges[rest]], dist[edges[rest]])
        kept.extend(rest[chosen].tolist())
    return edges[np.array(kept, np.int64)]


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
