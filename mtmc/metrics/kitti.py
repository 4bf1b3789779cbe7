"""The KITTI 2D tracking protocol: which ground-truth rows are scored, which predictions ignored.

One class is scored (``Car`` by default). As the KITTI devkit and TrackEval's ``Kitti2DBox`` do,
per frame the predictions are first matched one-to-one (Hungarian, IoU >= ``iou``) to the ground
truth of that class and of its neighbouring class (``Van`` for cars, ``Person_sitting`` for
pedestrians); a prediction matched to a neighbour is dropped (a van tracked as a car is neither a
hit nor a false positive). An unmatched prediction more than half inside a ``DontCare`` region
(intersection over the prediction's own area > 0.5) is dropped too: those areas were not annotated.
Everything else is scored as usual (mtmc's CLEAR, IDF1 and HOTA).

``official=True`` adds the rest of the devkit's rule: cars truncated (level > 0) or fully occluded
(level 3) are not scored, a prediction matched to one is dropped, and so is an unmatched prediction
25 pixels tall or less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mtmc.formats.kitti import DONT_CARE, KittiObjects
from mtmc.track.matching import iou_matrix
from mtmc.types import TrackRows

NEIGHBOURS = {"car": ("van",), "pedestrian": ("person_sitting",)}
MAX_TRUNCATION, MAX_OCCLUSION, MIN_HEIGHT = 0, 2, 25.0


@dataclass(frozen=True)
class KittiScored:
    """What is scored: the ground truth of the class, the predictions kept, and how many were dropped."""

    gt: TrackRows
    pred: TrackRows
    dropped_neighbour: int
    dropped_ignored: int


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    return np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def kitti_scored(labels: KittiObjects, pred: TrackRows, class_name: str = "car", iou: float = 0.5, official: bool = False) -> KittiScored:
    """The rows to score for ``class_name`` under the KITTI rule (module docstring)."""
    cls = class_name.lower()
    scored = labels.of(cls)
    if official:
        scored &= (labels.truncated <= MAX_TRUNCATION) & (labels.occluded <= MAX_OCCLUSION)
    relevant = labels.of((cls, *NEIGHBOURS.get(cls, ())))  # what a prediction may be matched to
    dont_care = labels.of(DONT_CARE)
    keep = np.ones(len(pred), bool)
    dropped_neighbour = dropped_ignored = 0
    gt_boxes, pred_boxes = _xyxy(labels.rows.xywh), _xyxy(pred.xywh)
    for frame in np.unique(pred.frame):
        p = np.flatnonzero(pred.frame == frame)
        here = labels.rows.frame == frame
        g = np.flatnonzero(here & relevant)
        unmatched = np.ones(len(p), bool)
        if len(g):
            overlap = iou_matrix(pred_boxes[p], gt_boxes[g])
            rows, cols = linear_sum_assignment(-np.where(overlap >= iou, overlap, 0.0))
            hit = overlap[rows, cols] >= iou
            rows, cols = rows[hit], cols[hit]
            unmatched[rows] = False
            drop = rows[~scored[g[cols]]]  # matched to a neighbour (or, official, an unscored car)
            keep[p[drop]] = False
            dropped_neighbour += len(drop)
        lone = p[unmatched]
        regions = np.flatnonzero(here & dont_care)
        if len(lone) and len(regions):
            inside = _inside_fraction(pred_boxes[lone], gt_boxes[regions]).max(axis=1) > 0.5
            keep[lone[inside]] = False
            dropped_ignored += int(inside.sum())
        if official:
            small = lone[keep[lone] & (pred.xywh[lone, 3] <= MIN_HEIGHT)]
            keep[small] = False
            dropped_ignored += len(small)
    return KittiScored(labels.rows.take(scored), pred.take(keep), dropped_neighbour, dropped_ignored)


def _inside_fraction(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """(B, R) share of each box's area inside each region (TrackEval's ``do_ioa``)."""
    top_left = np.maximum(boxes[:, None, :2], regions[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], regions[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / np.maximum(area, 1e-12)[:, None]
