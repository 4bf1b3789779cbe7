"""Deep SORT's life cycle, identities, output contract and options."""

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.formats import read_mot
from mtmc.metrics.evaluate import evaluate_sequence
from mtmc.track import TRACKERS, build_tracker
from mtmc.types import TrackRows


def box(x: float, y: float = 100.0, score: float = 0.9, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h, score, 0.0]


def dets(*boxes: list[float]) -> np.ndarray:
    return np.array(boxes, dtype=np.float32).reshape(-1, 6)


def test_track_is_shown_after_n_init_matches_and_deleted_after_max_age():
    tracker = build_tracker("deepsort", n_init=3, max_age=2)
    shown = [len(tracker.update(dets(box(100 + 2 * f)), None, f)) for f in range(1, 6)]
    assert shown == [0, 0, 1, 1, 1]
    for f in range(6, 9):  # missed 1, 2, 3 frames: deleted once unseen for more than max_age
        assert len(tracker.update(dets(), None, f)) == 0
        assert len(tracker.tracks) == (1 if f < 8 else 0)


def test_tentative_track_is_dropped_at_its_first_miss():
    tracker = build_tracker("deepsort")
    tracker.update(dets(box(100)), None, 1)
    tracker.update(dets(), None, 2)
    assert tracker.tracks == []


def test_output_contract_and_det_index_join():
    tracker = build_tracker("deepsort", n_init=1)
    empty = tracker.update(np.zeros((0, 6), np.float32), None, 1)
    assert empty.shape == (0, 8) and empty.dtype == np.float32
    frame = dets(
        box(100, score=0.9), box(10, score=0.2), box(300, score=0.7)
    )  # the 0.2 box is below min_score
    out = tracker.update(frame, None, 2)
    assert out.shape == (2, 8) and out.dtype == np.float32
    index = out[:, 7].astype(int)
    assert sorted(index.tolist()) == [0, 2]
    np.testing.assert_array_equal(out[:, 5], frame[index, 4])  # score joins back to the detection
    np.testing.assert_allclose(out[:, :4], frame[index, :4], atol=1e-3)  # a new track sits on its box
    assert sorted(out[:, 4].tolist()) == [1.0, 2.0]  # ids count from 1 in each tracker instance
    assert build_tracker("deepsort", n_init=1).update(frame, None, 1)[:, 4].min() == 1.0


def test_crossing_boxes_keep_ids_by_appearance():
    """Two people walk through each other; their embeddings tell them apart."""
    tracker = build_tracker("deepsort", n_init=2)
    embedding = {"left": np.array([1.0, 0.0, 0.0]), "right": np.array([0.0, 1.0, 0.0])}
    owner: dict[int, set[str]] = {}
    rng = np.random.default_rng(0)
    for f in range(1, 31):
        people = {"left": box(100 + 8 * f), "right": box(340 - 8 * f)}
        order = list(people)
        rng.shuffle(order)
        feats = np.stack([embedding[p] + rng.normal(0, 0.05, 3) for p in order]).astype(np.float32)
        out = tracker.update(dets(*[people[p] for p in order]), feats, f)
        for row in out:
            owner.setdefault(int(row[4]), set()).add(order[int(row[7])])
    assert len(owner) == 2 and all(len(names) == 1 for names in owner.values())


@pytest.mark.parametrize("name", ["deepsort", "deepsort-byte", "deepsort-bot"])
def test_iou_only_tracks_two_walkers(name):
    tracker = build_tracker(name, fps=7.0)
    ids: dict[str, set[int]] = {"a": set(), "b": set()}
    for f in range(1, 21):
        frame = dets(box(50 + 5 * f), box(400 - 5 * f, y=300))
        for row in tracker.update(frame, None, f):
            ids["ab"[int(row[7])]].add(int(row[4]))
    assert ids == {"a": {1}, "b": {2}}


def test_motion_cascade_recovers_a_briefly_missed_track():
    """Without embeddings, Deep SORT proper cannot bring back a track lost for two frames."""
    walk = [dets(box(50 + 6 * f)) if f not in (8, 9, 10) else dets() for f in range(1, 16)]
    faithful = build_tracker("deepsort")
    improved = build_tracker("deepsort-byte", fps=7.0)
    faithful_ids = {int(r[4]) for f, d in enumerate(walk, 1) for r in faithful.update(d, None, f)}
    improved_ids = {int(r[4]) for f, d in enumerate(walk, 1) for r in improved.update(d, None, f)}
    assert faithful_ids == {1, 2}
    assert improved_ids == {1}


def test_low_score_detections_continue_but_never_start_tracks():
    tracker = build_tracker("deepsort-byte", fps=7.0, n_init=1)
    assert len(tracker.update(dets(box(300, score=0.2)), None, 1)) == 0  # too weak to start
    tracker.update(dets(box(100)), None, 2)
    out = tracker.update(dets(box(104, score=0.2)), None, 3)  # occluded: weak, still the same person
    assert out[:, 4].tolist() == [1.0] and out[0, 5] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_agee": 3}, "unknown option 'max_agee'; valid options are max_age, "),
        ({"n_init": 0}, "n_init must be an integer >= 1, got 0"),
        ({"max_iou_distance": 1.5}, "max_iou_distance must be a number with 0 <= value <= 1, got 1.5"),
        ({"motion_cascade": "yes"}, "motion_cascade must be true or false, got 'yes'"),
        ({"nn_budget": 2.5}, "nn_budget must be an integer >= 1 or null, got 2.5"),
        ({"fps": 0}, "fps must be a number > 0 or null, got 0"),
        ({"max_age_seconds": 2.0}, "max_age_seconds needs fps"),
    ],
)
def test_bad_options_fail_with_the_valid_range(options, message):
    with pytest.raises(MtmcError, match="^deepsort: ") as error:
        build_tracker("deepsort", **options)
    assert message in str(error.value)


def test_unknown_tracker_lists_valid_names():
    with pytest.raises(MtmcError, match="valid names are deepsort, deepsort-bot, deepsort-byte"):
        build_tracker("sort")
    assert {"deepsort", "deepsort-bot", "deepsort-byte"} <= set(TRACKERS.names())


def test_max_age_seconds_scales_with_fps():
    assert build_tracker("deepsort-byte", fps=7.0, max_age_seconds=2.0).max_age == 14
    assert build_tracker("deepsort-byte", fps=30.0, max_age_seconds=2.0).max_age == 60


@pytest.mark.parametrize("name", ["deepsort", "deepsort-byte", "deepsort-bot"])
def test_tracking_pets09_ground_truth_boxes(data_dir, name):
    """Perfect detections of real pedestrians (first 150 frames) must give near-perfect identities."""
    gt = read_mot(data_dir / "pets09-s2l1" / "gt" / "gt.txt", drop_zero_conf=True)
    gt = gt.take(gt.frame <= 150)
    tracker = build_tracker(name, fps=7.0)
    frames, ids, boxes = [], [], []
    for f in range(1, 151):
        rows = gt.take(gt.frame == f)
        xyxy = np.column_stack([rows.xywh[:, :2], rows.xywh[:, :2] + rows.xywh[:, 2:]])
        out = tracker.update(np.column_stack([xyxy, np.ones(len(rows)), np.zeros(len(rows))]), None, f)
        frames += [f] * len(out)
        ids += out[:, 4].tolist()
        boxes += out[:, :4].tolist()
    boxes = np.array(boxes)
    pred = TrackRows(frame=frames, id=ids, xywh=np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]))
    assert evaluate_sequence(gt, pred, 0.5).metrics()["idf1"] > 0.95


def test_deepsort_bot_preset_switches_the_motion_options():
    bot = build_tracker("deepsort-bot", fps=7.0)
    assert bot.kalman.state == "xywh" and bot.gating_threshold is None
    assert bot.confirm_first_frame and bot.freeze_lost_size
    faithful = build_tracker("deepsort")
    assert faithful.kalman.state == "xyah" and faithful.gating_threshold == pytest.approx(9.4877)
    assert not faithful.confirm_first_frame and not faithful.freeze_lost_size
    with pytest.raises(MtmcError, match="kalman_xywh must be true or false"):
        build_tracker("deepsort-bot", kalman_xywh=1)
    with pytest.raises(MtmcError, match="gating_threshold must be a number > 0 or null"):
        build_tracker("deepsort-bot", gating_threshold=0)


@pytest.mark.parametrize("confirm_first_frame", [False, True])
def test_confirm_first_frame_shows_only_first_frame_tracks_at_once(confirm_first_frame):
    tracker = build_tracker("deepsort-byte", fps=7.0, confirm_first_frame=confirm_first_frame)
    first = tracker.update(dets(box(100)), None, 1)
    second = tracker.update(dets(box(102), box(400)), None, 2)
    assert len(first) == (1 if confirm_first_frame else 0)
    assert second[:, 4].tolist() == ([1.0] if confirm_first_frame else [])  # the newcomer waits n_init


@pytest.mark.parametrize("freeze_lost_size", [False, True])
def test_freeze_lost_size_keeps_a_missed_box_size(freeze_lost_size):
    """A box growing 10 px a frame is missed twice: frozen, it stops growing once missed (BoT-SORT)
    but its centre still moves."""
    tracker = build_tracker("deepsort-bot", fps=7.0, n_init=1, freeze_lost_size=freeze_lost_size)
    for f in range(1, 9):
        tracker.update(dets(box(100 + 5 * f, h=100 + 10 * f)), None, f)
    (track,) = tracker.tracks
    tracker.update(dets(), None, 9)  # predicted from a matched state: grows either way
    height, x = float(track.mean[3]), float(track.mean[0])
    tracker.update(dets(), None, 10)  # predicted from a missed state
    assert float(track.mean[0]) > x + 3
    if freeze_lost_size:
        assert float(track.mean[3]) == pytest.approx(height)
    else:
        assert float(track.mean[3]) > height + 5


@pytest.mark.parametrize(("gating_threshold", "same_id"), [(9.4877, False), (None, True)])
def test_null_gating_threshold_associates_on_iou_alone(gating_threshold, same_id):
    """A track missed for a frame comes back on a wider box (IoU 0.67 with it): the chi-square
    gate of the xywh state rejects the width change, IoU alone (ByteTrack, BoT-SORT) accepts it."""
    tracker = build_tracker("deepsort-bot", fps=7.0, n_init=1, gating_threshold=gating_threshold)
    for f in range(1, 6):
        tracker.update(dets(box(100)), None, f)
    tracker.update(dets(), None, 6)
    out = tracker.update(dets(box(100, w=60)), None, 7)
    assert (out[:, 4].tolist() == [1.0]) is same_id


@pytest.mark.parametrize("name", ["deepsort", "deepsort-strong", "deepsort-bot"])
def test_a_frame_without_boxes_may_come_with_empty_embeddings(name):
    tracker = build_tracker(name, fps=10)
    box = np.array([[10, 10, 50, 40, 0.9, 2]], np.float32)
    feature = np.ones((1, 8), np.float32)
    tracker.update(box, feature, 1)
    out = tracker.update(np.zeros((0, 6), np.float32), np.zeros((0, 8), np.float32), 2)
    assert out.shape == (0, 8)


@pytest.mark.parametrize("name", ["deepsort", "deepsort-byte", "deepsort-bot"])
def test_carried_frames_move_tracks_on_and_are_no_misses(name):
    """detector.every (issue 33): on a frame the detector skips, a confirmed track is output where
    its motion puts it (det_index -1) and keeps its id; skipped frames do not age it, so it outlives
    more skipped frames than its max_age, and the next detection continues it."""
    tracker = build_tracker(name, n_init=1, max_age=1)
    for f in range(1, 6):  # a box moving 4 px a frame
        tracker.update(dets(box(100 + 4 * f)), None, f)
    (track_id,) = {int(row[4]) for row in tracker.update(dets(box(124)), None, 6)}
    xs = []
    for f in range(7, 10):  # three skipped frames, more than max_age
        carried = tracker.carry(f)
        assert carried.shape == (1, 8) and int(carried[0, 4]) == track_id and carried[0, 7] == -1
        xs.append(float(carried[0, 0]))
    assert xs[0] > 124 and xs == sorted(xs)  # moving on, not frozen
    after = tracker.update(dets(box(100 + 4 * 10)), None, 10)
    assert [int(row[4]) for row in after] == [track_id]


def test_detector_every_needs_a_whole_number_and_a_tracker_that_carries():
    from mtmc.camera import detector_every, skipped
    from mtmc.config import CameraConfig, MtmcConfig

    assert [f for f in range(1, 10) if not skipped(f, 3)] == [1, 4, 7]
    assert not any(skipped(f, 1) for f in range(1, 5))
    config = MtmcConfig(cameras=[CameraConfig(id="c001", source="x.mp4")], detector={"name": "openvino", "every": 0})
    with pytest.raises(MtmcError, match=r"detector.every must be an integer >= 1 \(1: every frame\), got 0"):
        detector_every(config)
