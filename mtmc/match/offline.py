"""Offline association: all tracklets at once -> one identity label per tracklet.

``associate`` is the reusable core (the online matcher calls it on its window of tracklets):
distances by name -> optional re-ranking of the appearance ones -> each cue's log-likelihood
ratio -> plus the pair's prior log-odds from when and where each was seen (``timing``; nan where
the time gates say no) -> the pair's cost, minus its posterior log-odds (``combine``) ->
constrained agglomerative clustering with the cannot-link constraint, merging while the average
cost is at most ``config.cost_threshold`` (the posterior probability ``config.threshold``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import MatcherConfig, TopologyConfig
from mtmc.match.distances import DISTANCES, Scene, co_occurring, combine, features, is_appearance
from mtmc.match.evidence import NegativeMoments, self_calibrated
from mtmc.match.gates import cannot_link
from mtmc.match.network import NetworkLearner, learn_network
from mtmc.match.rerank import rerank
from mtmc.match.timing import CameraRates, Intervals, pair_prior
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
    rates: CameraRates | None = None,
) -> np.ndarray:
    """(N, N) cost (minus the posterior log-odds of one vehicle), nan where nothing is known or
    the time gate says no evidence."""
    scene = scene or Scene()
    matrices, weights = [], []
    for item, fn in zip(config.distances, build_distances(config)):
        m = np.asarray(fn(tracklets, scene), np.float64)
        if config.rerank.enabled and is_appearance(fn):
            m = rerank_defined(m, config)
        matrices.append(fn.llr(m, scene))
        weights.append(item.weight)
    n = len(tracklets)
    if not matrices:
        return np.full((n, n), np.nan)
    intervals = Intervals.of(tracklets)
    log_prior = pair_prior(config, topology).log_odds(intervals, intervals, rates or CameraRates.of(tracklets))
    dist = combine(matrices, weights, log_prior)
    np.fill_diagonal(dist, np.nan)
    return dist


def distance_rows(
    tracklets: Sequence[Tracklet],
    others: Sequence[Tracklet] | None,
    config: MatcherConfig,
    log_prior: np.ndarray,
    scene: Scene | None = None,
    built: list | None = None,
) -> np.ndarray:
    """(N, M) cost of ``tracklets`` against ``others`` (None: themselves) given the pairs' prior
    log-odds (:mod:`mtmc.match.timing`; nan: no evidence), without re-ranking (it needs the whole
    square): the online matcher's rows. ``built``: ``build_distances(config)``, for a caller that
    asks for many rows."""
    if config.rerank.enabled:
        raise ValueError("distance_rows does not re-rank: use distance_matrix on a block")
    scene = scene or Scene()
    fns = build_distances(config) if built is None else built
    matrices = [fn.llr(np.asarray(fn(tracklets, scene, others), np.float64), scene) for fn in fns]
    if not matrices:
        return np.full((len(tracklets), len(tracklets if others is None else others)), np.nan)
    return combine(matrices, [item.weight for item in config.distances], log_prior)


def run_scene(scene: Scene, tracklets: Sequence[Tracklet], config: MatcherConfig, topology: TopologyConfig | None) -> Scene:
    """``scene`` with its appearance calibration read on the run (``evidence.self_calibrated``):
    scaled to the co-occurring pairs of ``tracklets``, fitted to the cross-camera pairs the gates
    let through, with the share of one vehicle among them that their priors say."""
    unit, have = features(tracklets)
    if not have.any():
        return scene
    negatives = NegativeMoments()
    negatives.add(co_occurring(tracklets))
    intervals = Intervals.of(tracklets)
    log_prior = pair_prior(config, topology).log_odds(intervals, intervals, CameraRates.of(tracklets))
    cameras = intervals.camera
    i, j = np.nonzero(np.triu(np.isfinite(log_prior) & (cameras[:, None] != cameras[None, :]) & have[:, None] & have[None, :], 1))
    distances = np.clip(1.0 - (unit[i] * unit[j]).sum(axis=1), 0.0, 2.0)
    share = float(np.mean(1.0 / (1.0 + np.exp(-log_prior[i, j])))) if len(i) else 0.0
    return replace(scene, appearance=self_calibrated(scene.appearance_model, negatives, distances, share))


def network_for(
    tracklets: Sequence[Tracklet], config: MatcherConfig, scene: Scene | None = None, seed: TopologyConfig | None = None,
    names: dict[int, str] | None = None,
) -> NetworkLearner | None:
    """The camera network learnt from ``tracklets`` (``config.network``), read with the run's own
    appearance calibration; None when learning is off or the run is motion only (no appearance in
    ``scene``, or no tracklet with a feature): the time gates alone."""
    if not config.network.learn or scene is None or scene.appearance is None or not features(tracklets)[1].any():
        return None
    calibrated = run_scene(scene, tracklets, config, seed)
    return learn_network(tracklets, calibrated.appearance_model, config.network, config.online.window(seed), names, seed)


def associate(
    tracklets: Sequence[Tracklet],
    config: MatcherConfig | None = None,
    scene: Scene | None = None,
    topology: TopologyConfig | None = None,
    network: NetworkLearner | None = None,
) -> np.ndarray:
    """(N,) identity labels 0..K-1 for the tracklets (same label = same object). Without a
    ``topology`` the camera network is learnt from them first (``network_for``; or the one given)."""
    config = config or MatcherConfig()
    if len(tracklets) == 0:
        return np.zeros(0, np.int64)
    if topology is None:
        network = network or network_for(tracklets, config, scene)
        topology = network.topology() if network is not None else None
    dist = distance_matrix(tracklets, config, run_scene(scene or Scene(), tracklets, config, topology), topology)
    return constrained_agglomerative(dist, cannot_link(tracklets, topology), config.cost_threshold, config.linkage)
