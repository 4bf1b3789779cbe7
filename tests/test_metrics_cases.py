"""CLEAR MOT, identity and HOTA on small cases worked out by hand."""

import numpy as np
import pytest

from mtmc.metrics.evaluate import evaluate_sequence
from mtmc.types import TrackRows

from helpers import rows, track


def metrics(gt, pred, iou=0.5):
    return evaluate_sequence(gt, pred, iou).metrics()


def test_perfect_tracking_scores_one():
    gt = TrackRows.concat([track(1, range(1, 6)), track(2, range(1, 6), x=50)])
    m = metrics(gt, gt.replace(id=gt.id + 100))
    for key in ("idf1", "idp", "idr", "mota", "recall", "precision", "hota", "deta", "assa", "loca"):
        assert m[key] == pytest.approx(1.0), key
    assert m["motp"] == pytest.approx(0.0)
    assert (m["num_switches"], m["num_false_positives"], m["num_misses"]) == (0, 0, 0)
    assert m["mostly_tracked"] == 2


def test_one_id_switch():
    gt = track(1, [1, 2, 3, 4])
    pred = TrackRows.concat([track(10, [1, 2]), track(11, [3, 4])])
    m = metrics(gt, pred)
    assert m["num_switches"] == 1
    assert m["mota"] == pytest.approx(1 - 1 / 4)
    assert m["idtp"] == 2
    assert m["idf1"] == pytest.approx(2 * 2 / (4 + 4))
    # HOTA: DetA 1, AssA 0.5 at every alpha (each pred id covers half the gt track).
    assert m["deta"] == pytest.approx(1.0)
    assert m["assa"] == pytest.approx(0.5)
    assert m["hota"] == pytest.approx(np.sqrt(0.5))


def test_previous_match_is_kept_over_a_cheaper_one():
    # Frame 1: gt 1 matches pred 7. Frame 2: pred 8 fits gt 1 better (IoU 0.9) but pred 7 still
    # overlaps enough (IoU 0.6), so py-motmetrics keeps 7: no switch, pred 8 is a false positive.
    gt = track(1, [1, 2], w=100, h=100)
    pred = rows((1, 7, 0, 0, 100, 100), (2, 7, 0, 0, 100, 60), (2, 8, 0, 0, 100, 90))
    m = metrics(gt, pred)
    assert m["num_switches"] == 0
    assert m["num_false_positives"] == 1
    assert m["motp"] == pytest.approx((0.0 + 0.4) / 2)


def test_assignment_maximises_matches_before_cost():
    # gt A overlaps p1 (IoU 0.82) and p2 (0.60); gt B overlaps only p1 (0.67). Greedy best-IoU
    # matching gives A-p1 and leaves B unmatched; the most matches is A-p2, B-p1.
    gt = rows((1, 1, 0, 0, 100, 100), (1, 2, 0, 30, 100, 100))
    pred = rows((1, 11, 0, 10, 100, 100), (1, 12, 0, -25, 100, 100))
    m = metrics(gt, pred, iou=0.55)
    assert m["num_matches"] == 2
    assert m["motp"] == pytest.approx(((1 - 75 / 125) + (1 - 80 / 120)) / 2)


def test_iou_exactly_at_threshold_matches():
    # Same size, overlapping 20 of 30 px: IoU = 20 / 40 = 0.5 exactly.
    m = metrics(rows((1, 1, 0, 0, 30, 10)), rows((1, 5, 10, 0, 30, 10)))
    assert m["num_matches"] == 1
    m = metrics(rows((1, 1, 0, 0, 30, 10)), rows((1, 5, 11, 0, 30, 10)))
    assert m["num_matches"] == 0


def test_fragmentations_and_track_coverage():
    gt = track(1, [1, 2, 3, 4, 5])
    pred = track(9, [1, 2, 4])  # tracked 1-2, lost 3, tracked 4, lost 5 (after the last match)
    m = metrics(gt, pred)
    assert m["num_fragmentations"] == 1
    assert (m["mostly_tracked"], m["partially_tracked"], m["mostly_lost"]) == (0, 1, 0)  # 3/5 = 0.6
    m = metrics(gt, track(9, [1, 2, 3, 4]))
    assert (m["mostly_tracked"], m["partially_tracked"]) == (1, 0)  # 4/5 = 0.8 is mostly tracked
    m = metrics(TrackRows.concat([gt, track(2, range(1, 11), x=50)]), pred)
    assert m["mostly_lost"] == 1


def test_hota_localisation_threshold():
    # Every match has IoU 0.62: detections count for alpha <= 0.6 (12 of 19 thresholds).
    gt = track(1, range(1, 11), w=100, h=100)
    pred = track(3, range(1, 11), w=100, h=62)
    m = metrics(gt, pred)
    assert m["deta"] == pytest.approx(12 / 19)
    assert m["hota"] == pytest.approx(12 / 19)
    assert m["loca"] == pytest.approx((12 * 0.62 + 7 * 1.0) / 19)


def test_empty_prediction_and_empty_ground_truth():
    gt = track(1, [1, 2, 3])
    m = metrics(gt, TrackRows.empty())
    assert (m["num_misses"], m["mota"], m["idf1"], m["hota"]) == (3, 0.0, 0.0, 0.0)
    m = metrics(TrackRows.empty(), gt)
    assert m["num_false_positives"] == 3 and m["hota"] == 0.0 and np.isnan(m["mota"])


def test_sequences_combine_as_sums():
    a = evaluate_sequence(track(1, [1, 2, 3, 4]), TrackRows.concat([track(10, [1, 2]), track(11, [3, 4])]))
    b = evaluate_sequence(track(1, [1, 2]), track(10, [1, 2]))
    both = (a + b).metrics()
    assert both["idf1"] == pytest.approx(2 * (2 + 2) / (6 + 6))
    assert both["num_switches"] == 1
    assert both["num_unique_objects"] == 2


def test_rejects_bad_threshold():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        evaluate_sequence(track(1, [1]), track(1, [1]), min_iou=0.0)
