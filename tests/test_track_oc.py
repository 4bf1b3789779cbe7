"""Issue 35's tracker options: OC-SORT's recovery (OCR), NSA beside occlusion noise, the velocity
noise weight, and offline gap interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.track import build_tracker
from mtmc.track.interpolate import interpolate_gaps
from mtmc.types import TrackRows

MOTION = {"n_init": 1, "min_score": 0.1, "max_age_seconds": None, "max_age": 30, "new_track_score": 0.5}


def box(x: float, y: float = 100.0, w: float = 100.0, h: float = 60.0, score: float = 0.9) -> np.ndarray:
    return np.array([[x, y, x + w, y + h, score, 2.0]], np.float32)


NONE = np.zeros((0, 6), np.float32)


@pytest.mark.parametrize("recovery", [None, 0.3])
def test_recovery_by_last_detection_keeps_a_track_whose_prediction_ran_ahead(recovery) -> None:
    """A car at 15 px a frame turns back: its prediction runs on (IoU 0.14 with the box, below 0.2),
    while its last detection still overlaps it (IoU 0.45)."""
    tracker = build_tracker("deepsort-bot", recovery_iou=recovery, **MOTION)
    for frame in range(1, 7):
        assert tracker.update(box(15.0 * frame, w=40.0), None, frame)[:, 4].tolist() == [1.0]
    ids = {int(i) for frame in range(7, 10) for i in tracker.update(box(90.0 - 15 * (frame - 6), w=40.0), None, frame)[:, 4]}
    assert (ids == {1}) == (recovery is not None)


def test_nsa_leaves_an_occluded_box_its_occlusion_noise(monkeypatch) -> None:
    tracker = build_tracker("deepsort-bot", **MOTION)
    assert tracker.nsa_kalman and tracker.occlusion_noise_scale == 4.0
    tracker.update(np.concatenate([box(0.0, score=0.96), box(70.0, score=0.96)]), None, 1)
    scales = []
    update = tracker.kalman.update
    monkeypatch.setattr(tracker.kalman, "update", lambda *a: scales.append(a[3]) or update(*a))
    tracker.update(np.concatenate([box(2.0, score=0.96), box(70.0, score=0.96)]), None, 2)
    np.testing.assert_allclose(scales, [np.sqrt(0.05)] * 2)  # 1 - 0.96 is below the floor
    scales.clear()
    out = tracker.update(np.concatenate([box(4.0, score=0.96), box(30.0, score=0.96)]), None, 3)
    assert out[:, 4].tolist() == [1.0, 2.0]  # the second box (IoU 0.59 with the first's prediction) is occluded
    assert sorted(scales) == [pytest.approx(np.sqrt(0.05)), 4.0]


def test_velocity_noise_weight_reaches_the_filter_and_is_checked() -> None:
    assert build_tracker("deepsort-bot").kalman.std_weight_velocity == pytest.approx(1 / 120, rel=1e-3)
    assert build_tracker("deepsort").kalman.std_weight_velocity == pytest.approx(1 / 160)
    with pytest.raises(MtmcError, match="std_weight_velocity must be a number with 0 < value <= 1"):
        build_tracker("deepsort-bot", std_weight_velocity=0.0)
    with pytest.raises(MtmcError, match="recovery_iou must be"):
        build_tracker("deepsort-bot", recovery_iou=1.5)


def test_interpolation_fills_short_gaps_of_one_track_only() -> None:
    rows = TrackRows(
        frame=[1, 4, 10, 1, 2],
        id=[1, 1, 1, 2, 2],
        xywh=[[0, 0, 10, 10], [30, 0, 10, 10], [90, 0, 10, 10], [500, 0, 10, 10], [510, 0, 10, 10]],
        score=[0.9, 0.6, 0.9, 0.9, 0.9],
    )
    filled = interpolate_gaps(rows, max_gap=3)
    one = filled.take(filled.id == 1)
    assert one.frame.tolist() == [1, 2, 3, 4, 10]  # the 5-frame gap is longer than 3: left open
    np.testing.assert_allclose(one.xywh[1:3, 0], [10, 20])
    np.testing.assert_allclose(one.score[1:3], [0.6, 0.6])
    assert filled.take(filled.id == 2).frame.tolist() == [1, 2]
    assert len(interpolate_gaps(rows, max_gap=0)) == len(rows)


@pytest.mark.parametrize("weight", [0.0, 0.2])
def test_momentum_prefers_the_box_ahead_of_a_track_over_one_behind_it(weight) -> None:
    """Two boxes overlap a car's prediction almost equally, one ahead of where it went, one behind
    its last detection: OC-SORT's momentum term gives it the one ahead; IoU alone the other."""
    tracker = build_tracker("deepsort-bot", momentum_weight=weight, **MOTION)
    for frame in range(1, 7):
        tracker.update(box(10.0 * frame), None, frame)
    predicted = float(tracker.kalman.to_xyxy(tracker._predicted()[0])[0, 0])
    behind, ahead = box(predicted - 14.0, y=100.0), box(predicted + 15.0, y=100.0)
    out = tracker.update(np.concatenate([behind, ahead]), None, 7)
    taken = out[out[:, 4] == 1][0, 7]  # det_index of track 1's box
    assert taken == (1 if weight else 0)
