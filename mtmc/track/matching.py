"""Assignment steps of Deep SORT: thresholded min-cost matching and the matching cascade."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Cost of a forbidden pair (gated out or too old): larger than any threshold, finite for the solver.
INFEASIBLE = 1e5

CostFunction = Callable[[Sequence[int], Sequence[int]], np.ndarray]


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU of every ``x1, y1, x2, y2`` box in ``boxes_a (A, 4)`` with every one in ``boxes_b (B, 4)``."""
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    overlap = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - overlap
    return np.where(union > 0, overlap / np.maximum(union, 1e-12), 0.0)


def min_cost_matching(
    cost_of: CostFunction, max_cost: float, tracks: Sequence[int], detections: Sequence[int]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal pairs of ``tracks`` and ``detections`` whose cost is at most ``max_cost``.

    Returns ``(matches as (track, detection), unmatched tracks, unmatched detections)``.
    """
    if not tracks or not detections:
        return [], list(tracks), list(detections)
    cost = cost_of(tracks, detections)
    rows, cols = linear_sum_assignment(np.minimum(cost, max_cost + 1e-5))
    keep = cost[rows, cols] <= max_cost
    matches = [(tracks[r], detections[c]) for r, c in zip(rows[keep], cols[keep])]
    matched_tracks = {t for t, _ in matches}
    matched_detections = {d for _, d in matches}
    return (
        matches,
        [t for t in tracks if t not in matched_tracks],
        [d for d in detections if d not in matched_detections],
    )


def matching_cascade(
    cost_of: CostFunction,
    max_cost: float,
    tracks: Sequence[int],
    detections: Sequence[int],
    time_since_update: Sequence[int],
    depth: int,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Min-cost matching by age: tracks seen 1 frame ago pick first, then 2 frames ago, ...

    A track's prediction grows less certain the longer it goes unseen, which widens its gate and
    lets it steal detections from recently seen tracks; matching by age prevents that (Deep SORT).
    ``time_since_update[k]`` is track ``k``'s age in frames, indexed like ``tracks``' values.
    """
    matches: list[tuple[int, int]] = []
    remaining = list(detections)
    for level in sorted({time_since_update[k] for k in tracks if time_since_update[k] <= depth}):
        if not remaining:
            break
        at_level = [k for k in tracks if time_since_update[k] == level]
        level_matches, _, remaining = min_cost_matching(cost_of, max_cost, at_level, remaining)
        matches.extend(level_matches)
    matched = {t for t, _ in matches}
    return matches, [k for k in tracks if k not in matched], remaining
