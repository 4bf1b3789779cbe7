"""Cross-camera association core: re-ranking, distances, gates, clustering, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import MatchCamera, MatcherConfig, TopologyConfig
from mtmc.match.distances import DISTANCES, Scene, combine
from mtmc.match.gates import cannot_link, time_gates
from mtmc.match.geometry import image_to_ground, read_calibration
from mtmc.match.offline import associate
from mtmc.match.rerank import rerank
from mtmc.types import Tracklet


def tracklet(camera, track, t0, t1, fps=10.0, x=0.0, y=0.0, vx=0.0, feature=None) -> Tracklet:
    times = np.arange(t0, t1 + 1e-9, 1 / fps)
    frames = np.rint(times * fps).astype(int) + 1
    foot_x = x + vx * (times - t0)
    boxes = np.column_stack([foot_x - 1, np.full_like(times, y - 4), np.full_like(times, 2), np.full_like(times, 4)])
    return Tracklet(camera, track, frames, boxes, times, feature=feature)


# ---- re-ranking ---------------------------------------------------------------------------------


def test_rerank_two_pairs_by_hand():
    # Two tight pairs far apart. With k1 = k2 = 1 each item's k-reciprocal set is itself and its
    # partner, V_0 = (1, e^-1/9) / (1 + e^-1/9) on items {0, 1} (distances scaled by the column
    # maximum 9), so the Jaccard distance is 1 - e^(-1/9) within a pair and 1 across pairs.
    d = np.array([[0, 1, 9, 9], [1, 0, 9, 9], [9, 9, 0, 1], [9, 9, 1, 0]], float)
    out = rerank(d, k1=1, k2=1, lambda_=0.3)
    within = 0.7 * (1 - math.exp(-1 / 9)) + 0.3 / 9
    assert out[0, 1] == pytest.approx(within)
    assert out[2, 3] == pytest.approx(within)
    assert out[0, 2] == pytest.approx(0.7 * 1 + 0.3 * 1)
    assert np.diag(out) == pytest.approx(np.zeros(4))
    assert rerank(d, k1=1, k2=1, lambda_=1.0) == pytest.approx(d / 9)


def test_rerank_large_k_is_clipped_and_keeps_order():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0, 0.1, (5, 2)), rng.normal(5, 0.1, (5, 2))])
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    out = rerank(d)  # k1 = 20 > N - 1
    assert out.shape == (10, 10)
    assert out[:5, :5].max() < out[:5, 5:].min()


# ---- distances ----------------------------------------------------------------------------------


def test_geometric_mean_ground_distance_over_overlap():
    scene = Scene({1: np.eye(3), 2: np.diag([2.0, 2.0, 1.0])})  # camera 2's image is half scale
    a = tracklet(1, 1, 0.0, 10.0, fps=10, x=0, y=0, vx=1.0)
    b = tracklet(2, 1, 5.0, 15.0, fps=4, x=5 / 2, y=3 / 2, vx=0.5)  # same walk, 3 units aside on the ground
    c = tracklet(2, 2, 20.0, 30.0)  # no time overlap with a
    d = DISTANCES.build("geometric", scale=2.0)([a, b, c], scene)
    assert d[0, 1] == pytest.approx(1.5)
    assert d[1, 0] == d[0, 1]
    assert np.isnan(d[0, 2]) and np.isnan(d[0, 0])
    assert np.isnan(DISTANCES.build("geometric")([a, b], Scene())[0, 1])  # no homography


def test_velocity_agreement_over_overlap():
    scene = Scene({1: np.eye(3), 2: np.diag([2.0, 2.0, 1.0])})  # camera 2's image is half scale
    a = tracklet(1, 1, 0.0, 10.0, vx=1.0)
    b = tracklet(2, 1, 5.0, 15.0, fps=4, x=5 / 2, y=3 / 2, vx=0.5)  # the same walk on the ground: 1 unit/s
    c = tracklet(2, 2, 4.0, 12.0, x=20, vx=-1.5)  # beside it at once, the other way: -3 units/s
    d = tracklet(2, 3, 9.5, 20.0, vx=0.5)  # overlaps a for half a second only
    v = DISTANCES.build("velocity", scale=2.0, min_overlap_s=1.0)
    out = v([a, b, c, d], scene)
    assert out[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert out[0, 2] == pytest.approx(2.0)  # (1 - -3) units/s / 2 units per metre
    assert np.isnan(out[0, 3]) and np.isnan(out[1, 2])  # too short; one camera
    assert v.llr(out[0, 1], scene) > 0 > v.llr(out[0, 2] * 5, scene)
    assert v([a], scene, [b, c]) == pytest.approx(out[:1, 1:3])


def test_cosine_uses_normalised_track_features_and_nan_without():
    a = tracklet(1, 1, 0, 1, feature=np.array([3.0, 0.0]))
    b = tracklet(2, 1, 0, 1, feature=np.array([0.0, 0.5]))
    c = tracklet(2, 2, 0, 1, feature=np.array([1.0, 1.0]))
    e = tracklet(3, 1, 0, 1)
    d = DISTANCES.build("cosine")([a, b, c, e], Scene())
    assert d[0, 1] == pytest.approx(1.0)
    assert d[0, 2] == pytest.approx(1 - 1 / math.sqrt(2))
    assert np.isnan(d[0, 3])
    assert DISTANCES.build("euclidean")([a, b], Scene())[0, 1] == pytest.approx(math.sqrt(2))


def test_unknown_distance_and_combine():
    with pytest.raises(MtmcError, match="unknown distance 'nope'"):
        DISTANCES.build("nope")
    m1 = np.array([[np.nan, 0.2], [0.2, np.nan]])  # log-likelihood ratios
    m2 = np.array([[np.nan, 1.0], [np.nan, np.nan]])
    cost = combine([m1, m2], [1, 3], log_prior=0.0)  # minus the posterior log-odds; nan: no cue at all
    assert cost[0, 1] == pytest.approx(-(0.2 + 3 * 1.0))
    assert cost[1, 0] == pytest.approx(-0.2)
    assert np.isnan(cost[0, 0])
    gated = np.array([[np.nan, -1.5], [np.nan, np.nan]])  # the prior: nan where the time gates say no
    cost = combine([m1], [1], log_prior=gated)
    assert cost[0, 1] == pytest.approx(-(-1.5 + 0.2)) and np.isnan(cost[1, 0])


# ---- gates and constraints ----------------------------------------------------------------------


def test_cannot_link_same_camera_overlap_only():
    ts = [tracklet(1, 1, 0, 10), tracklet(1, 2, 5, 15), tracklet(1, 3, 11, 20), tracklet(2, 1, 0, 10)]
    cl = cannot_link(ts)
    assert cl[0, 1] and cl[1, 0] and cl[1, 2]
    assert not cl[0, 2] and not cl[0, 3] and not cl[0, 0]
    assert cannot_link(ts, TopologyConfig(exclusive_views=True))[0, 3]


def test_travel_time_gates():
    topology = TopologyConfig.model_validate({"links": [{"from": "c001", "to": "c002", "min_s": 10, "max_s": 20}]})
    a = tracklet(1, 1, 0, 10)  # middle 5 s
    fast = tracklet(2, 1, 11, 21)  # middle 16 s: travel 11 s, inside
    slow = tracklet(2, 2, 26, 34)  # middle 30 s: travel 25 s, outside
    back = tracklet(3, 1, 15, 25)  # no link to camera 3
    g = time_gates([a, fast, slow, back], topology)
    assert g.dtype == bool  # a mask, so that dist[~g] = nan gates exactly these pairs
    assert g[0, 1] and g[1, 0]
    assert not g[0, 2] and not g[0, 3]
    assert time_gates([a, slow], None).all()
    assert not time_gates([a, slow], None, max_gap_s=5)[0, 1]
    with pytest.raises(ValueError, match="max_s < min_s"):
        TopologyConfig.model_validate({"links": [{"from": "c001", "to": "c002", "min_s": 5, "max_s": 1}]})


def test_partial_topology_gates_only_the_pairs_it_knows():
    """A learnt topology has links only where matches were seen: other pairs fall back to time alone."""
    partial = TopologyConfig.model_validate(
        {"complete": False, "links": [{"from": "c001", "to": "c002", "min_s": 10, "max_s": 20}]}
    )
    a = tracklet(1, 1, 0, 10)
    slow = tracklet(2, 2, 26, 34)  # linked camera, travel outside the link: still gated out
    near = tracklet(3, 1, 15, 25)  # unlinked camera, 5 s after a
    far = tracklet(3, 2, 80, 90)  # unlinked camera, 70 s after a
    g = time_gates([a, slow, near, far], partial, max_gap_s=30)
    assert not g[0, 1] and g[0, 2] and g[2, 0] and not g[0, 3]
    complete = partial.model_copy(update={"complete": True})
    assert not time_gates([a, near], complete, max_gap_s=30)[0, 1]


def test_clustering_refuses_cannot_link_merges():
    # 0-1 and 1-2 are close, but 0 and 2 are one camera at one time: only one of them joins 1.
    d = np.array([[np.nan, 0.1, 0.1], [0.1, np.nan, 0.2], [0.1, 0.2, np.nan]])
    cannot = np.zeros((3, 3), bool)
    cannot[0, 1] = cannot[1, 0] = True
    labels = constrained_agglomerative(d, cannot, threshold=0.5)
    assert labels[0] != labels[1]
    assert labels.tolist() == [0, 1, 0]
    assert len(set(constrained_agglomerative(d, None, 0.5).tolist())) == 1
    assert len(set(constrained_agglomerative(d, None, 0.05).tolist())) == 3


def test_average_vs_complete_linkage_and_unknown_pairs():
    nan = np.nan
    # 0-1 close, 2 close to 1 but far from 0; 3 linked to nothing
    d = np.array([[nan, 0.1, 0.9, nan], [0.1, nan, 0.2, nan], [0.9, 0.2, nan, nan], [nan, nan, nan, nan]])
    assert constrained_agglomerative(d, None, 0.6, "average").tolist() == [0, 0, 0, 1]
    assert constrained_agglomerative(d, None, 0.6, "complete").tolist() == [0, 0, 1, 2]


def test_associate_overlapping_views_by_geometry():
    scene = Scene({1: np.eye(3), 2: np.eye(3)})
    ts = [
        tracklet(1, 1, 0, 10, x=0, vx=1),
        tracklet(1, 2, 0, 10, x=100, vx=-1),
        tracklet(2, 7, 0, 10, x=0.2, vx=1),
        tracklet(2, 8, 0, 10, x=100.3, vx=-1),
    ]
    config = MatcherConfig.model_validate({"distances": [{"name": "geometric", "scale": 10}]})
    labels = associate(ts, config, scene)
    assert labels[0] == labels[2] and labels[1] == labels[3] and labels[0] != labels[1]


# ---- homographies and config --------------------------------------------------------------------


def test_calibration_file_is_world_to_image(tmp_path):
    h = np.array([[2.0, 0, 10], [0, 3, 20], [0, 0, 1]])
    path = tmp_path / "calibration.txt"
    path.write_text("Homography matrix: 2 0 10;0 3 20;0 0 1\nIntrinsic parameter matrix: 1 0 0;0 1 0;0 0 1\n")
    assert read_calibration(path).homography == pytest.approx(h) and read_calibration(path).lens is None
    camera = MatchCamera(id="c001", fps=10, calibration=path)
    assert image_to_ground(camera).homography == pytest.approx(np.linalg.inv(h))
    flipped = MatchCamera(id="c002", fps=10, homography=h.tolist(), homography_maps="ground_to_image")
    assert image_to_ground(flipped).homography == pytest.approx(np.linalg.inv(h))
    (tmp_path / "bad.txt").write_text("Homography matrix: 1 2;3 4\n")
    with pytest.raises(MtmcError, match="Homography matrix"):
        read_calibration(tmp_path / "bad.txt")


def test_config_is_strict(tmp_path):
    from mtmc.config import load_config
    from mtmc.match.config import MatchConfig

    path = tmp_path / "m.yaml"
    path.write_text("cameras: [{id: c001, fps: 10}]\nmatcher: {treshold: 0.3}\n")
    with pytest.raises(MtmcError, match="treshold"):
        load_config(path, MatchConfig)
    path.write_text("cameras: [{id: c001, fps: 10, homography: [[1, 0], [0, 1]]}]\n")
    with pytest.raises(MtmcError, match="3x3"):
        load_config(path, MatchConfig)
    path.write_text("cameras: [{id: c001, fps: 10}]\ntopology: {links: [{from: c001, to: c009, min_s: 1, max_s: 2}]}\n")
    with pytest.raises(MtmcError, match="unknown camera c009"):
        load_config(path, MatchConfig)


def test_cosine_adds_weighted_metadata_distances_eq5():
    from mtmc.match.distances import DISTANCES, Scene

    def t(feature, colour=None, kind=None):
        attributes = {k: np.array(v, np.float32) for k, v in (("colour", colour), ("type", kind)) if v is not None}
        return Tracklet(1, 1, np.array([1]), np.zeros((1, 4)), np.array([0.0]), np.array(feature, np.float32), 1, attributes)

    tracklets = [t([1, 0], [1, 0, 0], [0.5, 0.5]), t([0.6, 0.8], [0, 1, 0], [0.5, 0.5]), t([1, 0], None, [1, 0])]
    plain = DISTANCES.build("cosine")(tracklets, Scene())
    with_meta = DISTANCES.build("cosine", metadata={"colour": 0.5, "type": 2.0})(tracklets, Scene())
    # by hand: d01 = (1 - 0.6) + 0.5 * sqrt(2) + 2 * 0; d02 = 0 + (no colour for 2) + 2 * sqrt(0.5)
    assert plain[0, 1] == pytest.approx(0.4)
    assert with_meta[0, 1] == pytest.approx(0.4 + 0.5 * np.sqrt(2))
    assert with_meta[0, 2] == pytest.approx(2 * np.sqrt(0.5))
    assert with_meta[1, 2] == pytest.approx(0.4 + 2 * np.sqrt(0.5))
    np.testing.assert_allclose(with_meta, with_meta.T)
