"""mAP and CMC by the VeRi-776 protocol (Liu et al. 2016, as Market-1501; 000 Fig. 6: "images of the
same ID from same camera are removed from gallery set").

For each query the gallery is sorted by distance (ties in gallery order); gallery items of the query's
identity seen by the query's camera are junk and dropped from its ranking; a query left with no
correct match is skipped (it counts in neither mAP nor CMC; ``num_valid_queries`` says how many
counted). AP is the mean of the precision at each correct match (non-interpolated, as
fast-reid / torchreid; Market-1501's MATLAB code averages neighbouring precisions instead).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_precision(matches: np.ndarray) -> float:
    """AP of one ranking: ``matches`` is the relevance (bool) of the ranked list, junk removed."""
    matches = np.asarray(matches, bool)
    hits = np.flatnonzero(matches)
    if len(hits) == 0:
        raise ValueError("average precision needs at least one correct match")
    return float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


def retrieval_metrics(
    dist: np.ndarray,
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_camids: np.ndarray,
    ranks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """mAP and CMC rank-k (fractions in [0, 1]) of the (Q, G) distance ``dist``, with
    ``num_queries`` and ``num_valid_queries`` (those with a correct match from another camera)."""
    dist = np.asarray(dist, np.float64)
    query_pids, gallery_pids = np.asarray(query_pids), np.asarray(gallery_pids)
    query_camids, gallery_camids = np.asarray(query_camids), np.asarray(gallery_camids)
    if dist.shape != (len(query_pids), len(gallery_pids)):
        raise ValueError(
            f"dist must be (num_query, num_gallery) = {(len(query_pids), len(gallery_pids))}, got {dist.shape}"
        )
    if query_camids.shape != query_pids.shape or gallery_camids.shape != gallery_pids.shape:
        raise ValueError("each image needs one pid and one camid: pids and camids must have the same length")
    if any(k < 1 for k in ranks):
        raise ValueError(f"ranks must be >= 1, got {list(ranks)}")
    order = np.argsort(dist, axis=1, kind="stable")
    matches = gallery_pids[order] == query_pids[:, None]
    junk = matches & (gallery_camids[order] == query_camids[:, None])
    aps, first_hits = [], []
    for q in range(len(query_pids)):
        kept = matches[q][~junk[q]]
        if not kept.any():
            continue
        aps.append(average_precision(kept))
        first_hits.append(int(np.argmax(kept)))
    if not aps:
        raise ValueError(
            "no query has a correct match in the gallery from another camera: check the pids and camids"
        )
    first = np.asarray(first_hits)
    out: dict[str, float] = {"mAP": float(np.mean(aps))}
    out.update({f"rank{k}": float(np.mean(first < k)) for k in ranks})
    out.update(num_queries=len(query_pids), num_valid_queries=len(aps))
    return out
