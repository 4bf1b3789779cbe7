"""Re-id evaluation of features end to end, in 001's order (Fig. 1, Sec. 3.3-3.4): distance per model
-> ensemble (mean of the models' distances) -> + metadata distances (Eq. 5) -> k-reciprocal
re-ranking (Eq. 6-7) -> distance averaging by track (Sec. 3.4.2) -> mAP / CMC (VeRi-776 protocol)
and, with gallery tracks, image-to-track mAP.

    results = evaluate(qf, gf, q_pids, g_pids, q_cams, g_cams, rerank=RerankConfig())
    results["mAP"], results["rank1"]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtmc.reid.evaluation.distances import ensemble, l2_normalize, pairwise_distance
from mtmc.reid.evaluation.metrics import retrieval_metrics
from mtmc.reid.evaluation.rerank import Metadata, RerankConfig, k_reciprocal_rerank, metadata_distance
from mtmc.reid.evaluation.tracks import average_by_track, image_to_track

Features = np.ndarray | Sequence[np.ndarray]


def per_model(features: Features) -> list[np.ndarray]:
    """An (N, D) array is one model's features; a list of them is an ensemble, one per model."""
    if isinstance(features, np.ndarray):
        return [features]
    return [np.asarray(f) for f in features]


def query_gallery_distance(
    query_features: Features,
    gallery_features: Features,
    *,
    metric: str = "cosine",
    ensemble_weights: Sequence[float] | None = None,
    metadata: Sequence[Metadata] | None = None,
    rerank: RerankConfig | None = None,
) -> np.ndarray:
    """(Q, G) distance of L2-normalised features by ``metric`` ("cosine" or "euclidean"), averaged
    over models, plus the metadata distances, re-ranked when ``rerank`` is given. On unit features
    the reference re-ranking's squared Euclidean distance is 2 x cosine, and its column scaling makes
    the two identical: ``metric="cosine"`` reproduces it."""
    queries, galleries = per_model(query_features), per_model(gallery_features)
    if len(queries) != len(galleries) or not queries:
        raise ValueError(
            f"need the same models' features for query and gallery, got {len(queries)} and {len(galleries)}"
        )
    num_query, num_gallery = len(queries[0]), len(galleries[0])
    if any(len(q) != num_query for q in queries) or any(len(g) != num_gallery for g in galleries):
        raise ValueError("every model must give one feature per query image and one per gallery image")
    metadata = list(metadata or [])
    for item in metadata:
        if (len(item.query), len(item.gallery)) != (num_query, num_gallery):
            raise ValueError(
                f"metadata {item.name!r} must hold {num_query} query and {num_gallery} gallery embeddings, got {len(item.query)} and {len(item.gallery)}"
            )
    if rerank is None:
        dist = ensemble(
            [pairwise_distance(l2_normalize(q), l2_normalize(g), metric) for q, g in zip(queries, galleries)],
            ensemble_weights,
        )
        return dist + metadata_distance(metadata) if metadata else dist
    everything = [l2_normalize(np.concatenate([q, g])) for q, g in zip(queries, galleries)]
    all_dist = ensemble([pairwise_distance(a, a, metric) for a in everything], ensemble_weights)
    if metadata:
        all_dist = all_dist + metadata_distance(metadata, all_pairs=True)
    return k_reciprocal_rerank(all_dist, num_query, rerank)


def evaluate(
    query_features: Features,
    gallery_features: Features,
    query_pids: np.ndarray,
    gallery_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_camids: np.ndarray,
    gallery_tracks: np.ndarray | None = None,
    rerank: RerankConfig | None = None,
    metadata: Sequence[Metadata] | None = None,
    *,
    metric: str = "cosine",
    ensemble_weights: Sequence[float] | None = None,
    average_tracks: bool = False,
    track_reduce: str = "min",
) -> dict[str, float]:
    """mAP, rank1, rank5, rank10 (fractions), num_queries, num_valid_queries (queries with no correct
    match from another camera are skipped); with ``gallery_tracks`` (one label per gallery image)
    also track_mAP, track_rank1/5/10 of VeRi's image-to-track protocol (a track scored by its
    ``track_reduce`` distance: "min" or "mean"). ``average_tracks`` applies 001's distance
    averaging by track to the gallery first."""
    dist = query_gallery_distance(
        query_features,
        gallery_features,
        metric=metric,
        ensemble_weights=ensemble_weights,
        metadata=metadata,
        rerank=rerank,
    )
    if average_tracks:
        if gallery_tracks is None:
            raise ValueError("average_tracks=True needs gallery_tracks (one track label per gallery image)")
        dist = average_by_track(dist, gallery_tracks)
    results = retrieval_metrics(dist, query_pids, gallery_pids, query_camids, gallery_camids)
    if gallery_tracks is not None:
        track_dist, track_pids, track_camids = image_to_track(
            dist, gallery_tracks, gallery_pids, gallery_camids, track_reduce
        )
        per_track = retrieval_metrics(track_dist, query_pids, track_pids, query_camids, track_camids)
        results.update({f"track_{k}": per_track[k] for k in ("mAP", "rank1", "rank5", "rank10")})
    return results
