"""deepsort-strong's appearance options: fused cost, EMA features, NSA Kalman, confirmation rule."""

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.track import build_tracker


def box(x: float, y: float = 100.0, score: float = 0.9, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h, score, 0.0]


def dets(*boxes: list[float]) -> np.ndarray:
    return np.array(boxes, dtype=np.float32).reshape(-1, 6)


def test_presets_switch_the_options():
    faithful, byte, strong = (
        build_tracker(n, fps=7.0) for n in ("deepsort", "deepsort-byte", "deepsort-strong")
    )
    assert faithful.appearance_weight is None and faithful.feature_ema is None
    assert not faithful.nsa_kalman and not faithful.confirm_high_only
    assert byte.appearance_weight is None and byte.confirm_high_only
    assert strong.appearance_weight == 0.5 and strong.feature_ema == 0.9 and strong.confirm_high_only
    with pytest.raises(MtmcError, match="appearance_weight"):
        build_tracker("deepsort-strong", appearance_weight=1.5)


def test_feature_ema_keeps_one_renormalised_feature():
    tracker = build_tracker("deepsort-strong", n_init=1, feature_ema=0.9)
    tracker.update(dets(box(100)), np.array([[1.0, 0.0]], np.float32), 1)
    tracker.update(dets(box(102)), np.array([[0.0, 1.0]], np.float32), 2)
    (feature,) = tracker.tracks[0].features
    np.testing.assert_allclose(feature, np.array([0.9, 0.1]) / np.hypot(0.9, 0.1), rtol=1e-5)


@pytest.mark.parametrize(("feature", "track_id"), [([1.0, 0.0], 1.0), ([0.0, 1.0], 2.0)])
def test_fused_cost_vetoes_a_different_looking_box(feature, track_id):
    """A track lost for a frame comes back on a box in its place only if the box looks like it."""
    tracker = build_tracker("deepsort-strong", fps=7.0, n_init=1)
    tracker.update(dets(box(100)), np.array([[1.0, 0.0]], np.float32), 1)
    tracker.update(dets(), None, 2)
    out = tracker.update(dets(box(101)), np.array([feature], np.float32), 3)
    assert out[:, 4].tolist() == [track_id]


def test_fused_cost_prefers_overlap_among_lookalikes():
    """Two identical-looking boxes: motion (IoU) picks the one on the track's path."""
    tracker = build_tracker("deepsort-strong", n_init=1)
    same = np.array([[1.0, 0.0]], np.float32)
    for f in range(1, 5):
        tracker.update(dets(box(100 + 5 * f)), same, f)
    out = tracker.update(dets(box(200), box(125)), np.repeat(same, 2, axis=0), 5)
    assert out[out[:, 4] == 1.0, 7].tolist() == [1.0]


def test_nsa_kalman_trusts_confident_boxes_more():
    moved = {}
    for score in (0.95, 0.55):
        tracker = build_tracker("deepsort-byte", n_init=1, nsa_kalman=True, high_score=0.5)
        tracker.update(dets(box(100)), None, 1)
        out = tracker.update(dets(box(110, score=score)), None, 2)
        moved[score] = float(out[0, 0]) - 100.0
    assert moved[0.95] > moved[0.55] > 0


@pytest.mark.parametrize(("confirm_high_only", "confirmed"), [(False, True), (True, False)])
def test_low_score_boxes_confirm_a_track_only_without_confirm_high_only(confirm_high_only, confirmed):
    tracker = build_tracker("deepsort-byte", fps=7.0, confirm_high_only=confirm_high_only)
    tracker.update(dets(box(100, score=0.9)), None, 1)
    out = [tracker.update(dets(box(100 + f, score=0.3)), None, f) for f in (2, 3)]
    assert (len(out[-1]) == 1) is confirmed
