"""Score one sequence (or one multi-camera scenario turned into a sequence) in one pass.

Overlap pairs are found once; CLEAR MOT, identity (IDF1) and HOTA all read them. Counts are kept
(not ratios) so that sequences combine by addition, as py-motmetrics and TrackEval combine them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from mtmc.metrics.assignment import max_weight_total
from mtmc.metrics.clear import ClearCounts, clear_counts, clear_matches
from mtmc.metrics.hota import HotaCounts, hota_counts
from mtmc.metrics.pairs import OverlapPairs, overlap_pairs
from mtmc.types import TrackRows

#: Keys every result has, in the order the table shows them.
SUMMARY_KEYS = (
    "idf1", "idp", "idr", "mota", "motp", "recall", "precision",
    "num_false_positives", "num_misses", "num_switches", "hota",
)  # fmt: skip


@dataclass(frozen=True)
class SequenceCounts:
    num_frames: int
    num_objects: int
    num_predictions: int
    num_unique_objects: int
    num_unique_predictions: int
    idtp: float
    clear: ClearCounts
    hota: HotaCounts

    def __add__(self, other: SequenceCounts) -> SequenceCounts:
        clear = ClearCounts(
            *(getattr(self.clear, f.name) + getattr(other.clear, f.name) for f in fields(ClearCounts))
        )
        plain = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("clear", "hota")
        }
        return SequenceCounts(**plain, clear=clear, hota=self.hota + other.hota)

    def metrics(self) -> dict[str, float]:
        """All metrics; ``motp`` is py-motmetrics' mean of 1 - IoU over matches."""
        c = self.clear
        n_gt, n_pred, tp = self.num_objects, self.num_predictions, c.num_matches
        fp, fn = n_pred - tp, n_gt - tp
        out = {
            "idf1": _ratio(2 * self.idtp, n_gt + n_pred),
            "idp": _ratio(self.idtp, n_pred),
            "idr": _ratio(self.idtp, n_gt),
            "mota": 1.0 - _ratio(fn + fp + c.num_switches, n_gt) if n_gt else float("nan"),
            "motp": _ratio(c.sum_dist, tp),
            "recall": _ratio(tp, n_gt),
            "precision": _ratio(tp, n_pred),
            "num_false_positives": fp,
            "num_misses": fn,
            "num_switches": c.num_switches,
            **self.hota.summary(),
            "num_fragmentations": c.num_fragmentations,
            "mostly_tracked": c.mostly_tracked,
            "partially_tracked": c.partially_tracked,
            "mostly_lost": c.mostly_lost,
            "num_matches": tp,
            "num_objects": n_gt,
            "num_predictions": n_pred,
            "num_unique_objects": self.num_unique_objects,
            "num_unique_predictions": self.num_unique_predictions,
            "num_frames": self.num_frames,
            "idtp": self.idtp,
            "idfp": n_pred - self.idtp,
            "idfn": n_gt - self.idtp,
        }
        return out


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else float("nan")


def evaluate_sequence(
    gt: TrackRows, pred: TrackRows, min_iou: float = 0.5, pairs: OverlapPairs | None = None
) -> SequenceCounts:
    """Counts of one sequence; boxes match when 1 - IoU <= 1 - ``min_iou`` (py-motmetrics' test).

    ``pairs`` may pass the overlaps of ``gt`` and ``pred`` when the caller already has them.
    """
    if not 0.0 < min_iou <= 1.0:
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou}")
    _, gt_id = np.unique(gt.id, return_inverse=True)
    _, pred_id = np.unique(pred.id, return_inverse=True)
    gt_id, pred_id = gt_id.reshape(-1), pred_id.reshape(-1)
    if pairs is None:
        pairs = overlap_pairs(gt.frame, gt.xywh, pred.frame, pred.xywh)
    valid = pairs.take(np.flatnonzero(1.0 - pairs.iou <= 1.0 - min_iou))
    matches = clear_matches(valid, gt_id, pred_id)
    clear = clear_counts(matches, gt.frame, gt_id, pred_id)
    n_pred_ids = int(pred_id.max(initial=-1)) + 1
    id_pairs, together = np.unique(gt_id[valid.gt] * n_pred_ids + pred_id[valid.pred], return_counts=True)
    idtp = max_weight_total(
        id_pairs // max(n_pred_ids, 1), id_pairs % max(n_pred_ids, 1), together.astype(float)
    )
    return SequenceCounts(
        num_frames=len(np.union1d(gt.frame, pred.frame)),
        num_objects=len(gt),
        num_predictions=len(pred),
        num_unique_objects=int(gt_id.max(initial=-1)) + 1,
        num_unique_predictions=n_pred_ids,
        idtp=idtp,
        clear=clear,
        hota=hota_counts(pairs, gt_id, pred_id),
    )
