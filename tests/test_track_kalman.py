"""Deep SORT's Kalman filter and assignment steps against values worked out by hand."""

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from mtmc.track.kalman import CHI2_95_4DOF, ConstantVelocityKalman, xyah_to_xyxy, xyxy_to_xyah
from mtmc.track.matching import INFEASIBLE, iou_matrix, matching_cascade, min_cost_matching

# A box centred at (100, 200), aspect 0.5, 80 px high: position std 80/20 = 4, velocity std 80/160 = 0.5.
MEASUREMENT = np.array([100.0, 200.0, 0.5, 80.0])


def test_initiate_and_predict_match_hand_values():
    kalman = ConstantVelocityKalman()
    mean, cov = kalman.initiate(MEASUREMENT)
    assert mean.tolist() == [100, 200, 0.5, 80, 0, 0, 0, 0]
    assert np.diag(cov) == pytest.approx([64, 64, 1e-4, 64, 25, 25, 1e-10, 25])  # (2*4)^2, (10*0.5)^2
    means, covs = kalman.predict(mean[None], cov[None])
    assert means[0].tolist() == mean.tolist()  # zero velocity: the box stays
    # position: 64 + velocity 25 + process 4^2; position-velocity 25; velocity 25 + 0.5^2
    assert covs[0, 0, 0] == pytest.approx(105)
    assert covs[0, 0, 4] == pytest.approx(25)
    assert covs[0, 4, 4] == pytest.approx(25.25)


def test_batched_predict_equals_filterpy_per_track():
    kalman = ConstantVelocityKalman()
    rng = np.random.default_rng(0)
    means = np.column_stack(
        [
            rng.uniform(0, 500, (5, 2)),
            rng.uniform(0.3, 0.6, 5),
            rng.uniform(40, 120, 5),
            rng.normal(0, 3, (5, 4)),
        ]
    )
    covs = np.stack([kalman.initiate(m[:4])[1] for m in means])
    batched_means, batched_covs = kalman.predict(means, covs)
    for mean, cov, want_mean, want_cov in zip(means, covs, batched_means, batched_covs):
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F = kalman.motion_matrix
        kf.x, kf.P = mean.copy(), cov.copy()
        h = mean[3]
        kf.Q = np.diag(np.square([h / 20, h / 20, 1e-2, h / 20, h / 160, h / 160, 1e-5, h / 160]))
        kf.predict()
        np.testing.assert_allclose(kf.x, want_mean)
        np.testing.assert_allclose(kf.P, want_cov)


@pytest.mark.parametrize("state", ["xyah", "xywh"])
def test_update_equals_filterpy(state):
    """The update written out in numpy is filterpy's, on random tracks and noise scales."""
    kalman = ConstantVelocityKalman(state=state)
    rng = np.random.default_rng(1)
    for _ in range(5):
        box = np.r_[rng.uniform(0, 500, 2), rng.uniform(20, 120, 2)]
        mean, cov = kalman.initiate(box)
        means, covs = kalman.predict(mean[None], cov[None])
        measured = box + rng.normal(0, 3, 4)
        scale = rng.uniform(1, 4)
        got_mean, got_cov = kalman.update(means[0], covs[0], measured, scale)
        kf = KalmanFilter(dim_x=8, dim_z=4)
        kf.F, kf.H = kalman.motion_matrix, kalman.measurement_matrix
        kf.x, kf.P = means[0].copy(), covs[0].copy()
        kf.R = np.diag(kalman._measurement_noise(means[:1])[0]) * scale**2
        kf.update(measured)
        np.testing.assert_allclose(got_mean, kf.x, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(got_cov, kf.P, rtol=1e-10, atol=1e-9)


def test_update_matches_hand_values():
    kalman = ConstantVelocityKalman()
    means, covs = kalman.predict(*[a[None] for a in kalman.initiate(MEASUREMENT)])
    measured = MEASUREMENT + [10, 0, 0, 0]
    mean, cov = kalman.update(means[0], covs[0], measured)
    # innovation variance of x: 105 + measurement noise 4^2 = 121
    assert mean[0] == pytest.approx(100 + 10 * 105 / 121)
    assert mean[4] == pytest.approx(10 * 25 / 121)
    assert cov[0, 0] == pytest.approx(105 - 105**2 / 121)
    # a less trusted measurement moves the state less
    shy_mean, _ = kalman.update(means[0], covs[0], measured, noise_scale=4.0)
    assert 100 < shy_mean[0] < mean[0]


def test_gating_distance_is_squared_mahalanobis_of_the_projection():
    kalman = ConstantVelocityKalman()
    means, covs = kalman.predict(*[a[None] for a in kalman.initiate(MEASUREMENT)])
    candidates = np.array([MEASUREMENT + [10, 0, 0, 0], MEASUREMENT + [0, 40, 0, 0]])
    distance = kalman.gating_distance(means, covs, candidates)
    assert distance.shape == (1, 2)
    assert distance[0, 0] == pytest.approx(100 / 121)  # 10 px against variance 121: inside the gate
    assert distance[0, 1] == pytest.approx(1600 / 121)  # 40 px: outside
    assert distance[0, 0] < CHI2_95_4DOF < distance[0, 1]
    position_only = kalman.gating_distance(means, covs, candidates, only_position=True)
    np.testing.assert_allclose(position_only, distance)  # only x and y differ here


def test_box_conversions_round_trip():
    boxes = np.array([[10.0, 20.0, 50.0, 100.0]])
    assert xyxy_to_xyah(boxes).tolist() == [[30.0, 60.0, 0.5, 80.0]]
    np.testing.assert_allclose(xyah_to_xyxy(xyxy_to_xyah(boxes)), boxes)


def test_iou_matrix():
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_min_cost_matching_rejects_pairs_above_the_threshold():
    cost = np.array([[0.1, 0.9], [0.8, 0.95]])
    matches, tracks, dets = min_cost_matching(lambda t, d: cost[np.ix_(t, d)], 0.5, [0, 1], [0, 1])
    assert matches == [(0, 0)]
    assert tracks == [1] and dets == [1]


def test_cascade_lets_recently_seen_tracks_choose_first():
    # Track 0 was lost 5 frames ago and fits detection 0 best; track 1 was seen last frame.
    cost = np.array([[0.1], [0.4]])
    ages = [5, 1]
    matches, unmatched, dets = matching_cascade(
        lambda t, d: cost[np.ix_(t, d)], 0.5, [0, 1], [0], ages, depth=70
    )
    assert matches == [(1, 0)] and unmatched == [0] and dets == []
    # beyond the cascade depth a track is not matched at all
    cost = np.array([[0.1]])
    matches, _, _ = matching_cascade(lambda t, d: cost[np.ix_(t, d)], 0.5, [0], [0], [5], depth=3)
    assert matches == []
    assert INFEASIBLE > 1


# BoT-SORT's (x, y, w, h) state: the same box, 40 wide and 80 high: x/w stds 40/20 = 2, y/h 80/20 = 4.
XYWH = np.array([100.0, 200.0, 40.0, 80.0])


def test_xywh_state_scales_noise_by_width_and_height():
    kalman = ConstantVelocityKalman(state="xywh")
    mean, cov = kalman.initiate(XYWH)
    assert mean.tolist() == [100, 200, 40, 80, 0, 0, 0, 0]
    # (2 * w/20)^2, (2 * h/20)^2, (10 * w/160)^2, (10 * h/160)^2
    assert np.diag(cov) == pytest.approx([16, 64, 16, 64, 6.25, 25, 6.25, 25])
    means, covs = kalman.predict(mean[None], cov[None])
    assert covs[0, 0, 0] == pytest.approx(16 + 6.25 + 2**2)  # x: position + velocity + process (w/20)^2
    assert covs[0, 1, 1] == pytest.approx(64 + 25 + 4**2)
    measured = XYWH + [0, 0, 10, 0]  # the box widens: the width itself is corrected
    updated, _ = kalman.update(means[0], covs[0], measured)
    innovation = covs[0, 2, 2] + 2**2
    assert updated[2] == pytest.approx(40 + 10 * covs[0, 2, 2] / innovation)
    assert updated[3] == pytest.approx(80)


def test_xywh_state_box_conversions_and_bad_state():
    kalman = ConstantVelocityKalman(state="xywh")
    boxes = np.array([[10.0, 20.0, 50.0, 100.0]])
    assert kalman.from_xyxy(boxes).tolist() == [[30.0, 60.0, 40.0, 80.0]]
    np.testing.assert_allclose(kalman.to_xyxy(kalman.from_xyxy(boxes)), boxes)
    assert ConstantVelocityKalman().from_xyxy(boxes).tolist() == xyxy_to_xyah(boxes).tolist()
    with pytest.raises(ValueError, match="xyah' or 'xywh"):
        ConstantVelocityKalman(state="xysr")
