"""Offline association: all tracklets at once -> one identity label per tracklet.

``associate`` is the reusable core (the online matcher will call it on its window of tracklets):
distances by name -> optional re-ranking of the appearance ones -> time gates -> weighted mean
-> constrained agglomerative clustering with the cannot-link constraint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import MatcherConfig, TopologyConfig
from mtmc.match.distances import DISTANCES, Scene, combine, is_appearance
from mtmc.match.gates import cannot_link, time_gates
from mtmc.match.rerank import rerank
from mtmc.types import Tracklet


def build_distances(config: MatcherConfig) -> list:
    built = []
    for item in config.distances:
        try:
            built.append(DISTANCES.build(item.name, **item.options()))
        except (TypeError, ValueError) as exc:
            raise MtmcError(f"matcher.distances: {item.name}: bad option ({exc})") from None
    return built


def rerank_defined(dist: np.ndarray, config: MatcherConfig) -> np.ndarray:
    """Re-rank the block of tracklets whose appearance distances are all defined."""
    have = np.isfinite(dist).all(axis=1)
    if have.sum() < 2:
        return dist
    out = dist.copy()
    index = np.nonzero(have)[0]
    block = rerank(dist[np.ix_(index, index)], config.rerank.k1, config.rerank.k2, config.rerank.lambda_)
    out[np.ix_(index, index)] = block
    return out


def distance_matrix(
    tracklets: Sequence[Tracklet],
    config: MatcherConfig,
    scene: Scene | None = None,
    topology: TopologyConfig | None = None,
) -> np.ndarray:
    """(N, N) combined distance, nan where nothing is known or the time gate says no evidence."""
    scene = scene or Scene()
    matrices, weights = [], []
    for item, fn in zip(config.distances, build_distances(config)):
        m = np.asarray(fn(tracklets, scene), np.float64)
        if config.rerank.enabled and is_appearance(fn):
            m = rerank_defined(m, config)
        matrices.append(m)
        weights.append(item.weight)
    n = len(tracklets)
    if not matrices:
        return np.full((n, n), np.nan)
    dist = combine(matrices, weights)
    dist[~time_gates(tracklets, topology, config.max_gap_s)] = np.nan
    np.fill_diagonal(dist, np.nan)
    return dist


def distance_rows(
    tracklets: Sequence[Tracklet],
    others: Sequence[Tracklet] | None,
    config: MatcherConfig,
    scene: Scene | None = None,
    built: list | None = None,
) -> np.ndarray:
    """(N, M) combined distance of ``tracklets`` to ``others`` (None: to themselves), without
    re-ranking (it needs the whole square) or time gates (the caller picks the pairs): the online
    matcher's rows. ``built``: ``build_distances(config)``, for a caller that asks for many rows."""
    if config.rerank.enabled:
        raise ValueError("distance_rows does not re-rank: use distance_matrix on a block")
    scene = scene or Scene()
    fns = build_distances(config) if built is None else built
    matrices = [np.asarray(fn(tracklets, scene, others), np.float64) for fn in fns]
    if not matrices:
        return np.full((len(tracklets), len(tracklets if others is None else others)), np.nan)
    return combine(matrices, [item.weight for item in config.distances])


def associate(
    tracklets: Sequence[Tracklet],
    config: MatcherConfig | None = None,
    scene: Scene | None = None,
    topology: TopologyConfig | None = None,
) -> np.ndarray:
    """(N,) identity labels 0..K-1 for the tracklets (same label = same object)."""
    config = config or MatcherConfig()
    if len(tracklets) == 0:
        return np.zeros(0, np.int64)
    dist = distance_matrix(tracklets, config, scene, topology)
    return constrained_agglomerative(dist, cannot_link(tracklets, topology), config.threshold, config.linkage)
