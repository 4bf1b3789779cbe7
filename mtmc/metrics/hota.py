"""HOTA (Luiten et al., IJCV 2020), computed as TrackEval computes it, on sparse overlap pairs.

For each localisation threshold alpha in 0.05..0.95: detections are matched per frame by a
max-score assignment where score = global alignment of the two identities x IoU; HOTA(alpha) =
sqrt(DetA x AssA). Reported HOTA, DetA, AssA and LocA are means over the 19 thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtmc.metrics.assignment import max_weight_assignment
from mtmc.metrics.pairs import OverlapPairs

ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class HotaCounts:
    """Per-alpha sums that combine across sequences by addition (TrackEval's combine rule)."""

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    assa_x_tp: np.ndarray
    assre_x_tp: np.ndarray
    asspr_x_tp: np.ndarray
    loca_x_tp: np.ndarray

    def __add__(self, other: HotaCounts) -> HotaCounts:
        return HotaCounts(*(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__))

    @classmethod
    def zeros(cls) -> HotaCounts:
        return cls(*(np.zeros(len(ALPHAS)) for _ in range(7)))

    def summary(self) -> dict[str, float]:
        det_a = self.tp / np.maximum(1, self.tp + self.fn + self.fp)
        ass_a = self.assa_x_tp / np.maximum(1, self.tp)
        loc_a = np.maximum(1e-10, self.loca_x_tp) / np.maximum(1e-10, self.tp)
        return {
            "hota": float(np.sqrt(det_a * ass_a).mean()),
            "deta": float(det_a.mean()),
            "assa": float(ass_a.mean()),
            "loca": float(loc_a.mean()),
            "detre": float((self.tp / np.maximum(1, self.tp + self.fn)).mean()),
            "detpr": float((self.tp / np.maximum(1, self.tp + self.fp)).mean()),
            "assre": float((self.assre_x_tp / np.maximum(1, self.tp)).mean()),
            "asspr": float((self.asspr_x_tp / np.maximum(1, self.tp)).mean()),
        }


def hota_counts(pairs: OverlapPairs, gt_id: np.ndarray, pred_id: np.ndarray) -> HotaCounts:
    """HOTA sums of one sequence. ``gt_id``/``pred_id`` are per-row identities mapped to 0..K-1."""
    n_gt, n_pred = len(gt_id), len(pred_id)
    a = len(ALPHAS)
    if n_gt == 0 or n_pred == 0:
        zero = np.zeros(a)
        return HotaCounts(zero, np.full(a, float(n_gt)), np.full(a, float(n_pred)), zero, zero, zero, zero)
    sim = pairs.iou
    # Soft overlap of each pair, normalised within its frame, summed per identity pair.
    row_sum = np.bincount(pairs.gt, weights=sim, minlength=n_gt)
    col_sum = np.bincount(pairs.pred, weights=sim, minlength=n_pred)
    denom = row_sum[pairs.gt] + col_sum[pairs.pred] - sim
    sim_iou = np.zeros(len(sim))
    np.divide(sim, denom, out=sim_iou, where=denom > _EPS)
    n_pred_ids = int(pred_id.max()) + 1
    key = gt_id[pairs.gt] * n_pred_ids + pred_id[pairs.pred]
    id_pairs, pair_of = np.unique(key, return_inverse=True)
    gt_count = np.bincount(gt_id).astype(float)
    pred_count = np.bincount(pred_id).astype(float)
    g_of, p_of = id_pairs // n_pred_ids, id_pairs % n_pred_ids
    id_union = gt_count[g_of] + pred_count[p_of]
    potential = np.bincount(pair_of, weights=sim_iou, minlength=len(id_pairs))
    alignment = potential / (id_union - potential)
    # Per frame, the assignment that maximises alignment x IoU (rows never span two frames).
    matched = max_weight_assignment(pairs.gt, pairs.pred, alignment[pair_of] * sim)
    m_sim, m_pair = sim[matched], pair_of[matched]
    tp, loc = np.zeros(a), np.zeros(a)
    counts = np.zeros((a, len(id_pairs)))
    for k, alpha in enumerate(ALPHAS):
        passes = m_sim >= alpha - _EPS
        tp[k] = np.count_nonzero(passes)
        loc[k] = m_sim[passes].sum()
        counts[k] = np.bincount(m_pair[passes], minlength=len(id_pairs))
    assa = (counts * counts / np.maximum(1, id_union - counts)).sum(axis=1)
    assre = (counts * counts / np.maximum(1, gt_count[g_of])).sum(axis=1)
    asspr = (counts * counts / np.maximum(1, pred_count[p_of])).sum(axis=1)
    # TrackEval stores per-sequence averages and re-weights them by TP when combining.
    per_tp = np.maximum(1, tp)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    return HotaCounts(
        tp=tp,
        fn=n_gt - tp,
        fp=n_pred - tp,
        assa_x_tp=assa / per_tp * tp,
        assre_x_tp=assre / per_tp * tp,
        asspr_x_tp=asspr / per_tp * tp,
        loca_x_tp=loca * tp,
    )
