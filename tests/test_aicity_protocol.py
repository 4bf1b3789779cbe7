"""Each step of the AI City MTMC protocol on hand-made cases."""

import numpy as np
import pytest
from PIL import Image

from mtmc.errors import MtmcError
from mtmc.metrics.aicity import (
    evaluate_aicity,
    find_roi_masks,
    frame_offsets,
    one_sequence,
    outside_roi,
    repeated,
    seen_by_one_camera,
)
from mtmc.types import TrackRows

from helpers import rows, track


def white_mask(grey_at=None):
    mask = np.full((1080, 1920), 255, np.uint8)
    if grey_at is not None:
        mask[grey_at[1], grey_at[0]] = 128
    return mask


def test_box_with_one_corner_on_a_grey_pixel_is_dropped():
    masks = {1: white_mask(grey_at=(60, 50))}  # x=60, y=50
    boxes = rows(
        (1, 1, 60, 50, 20, 20),  # top-left corner on the grey pixel
        (1, 2, 40, 30, 20, 20),  # bottom-right corner (60, 50) on it
        (1, 3, 61, 50, 20, 20),  # one pixel off
        (1, 4, 60, 51, 20, 20),  # one pixel off
        camera=1,
    )
    assert outside_roi(boxes, masks).tolist() == [True, True, False, False]


def test_corners_outside_the_image_are_not_checked():
    mask = white_mask()
    mask[0, :] = 0  # a black top row
    boxes = rows((1, 1, 100, -10, 20, 20), (1, 2, 100, 0, 20, 20), (1, 3, 1910, 500, 30, 30), camera=1)
    assert outside_roi(boxes, {1: mask}).tolist() == [False, True, False]


def test_roi_masks_are_found_in_aicity_layout_and_greyed(tmp_path):
    (tmp_path / "S01" / "c001").mkdir(parents=True)
    Image.fromarray(np.full((1080, 1920, 3), 255, np.uint8)).save(tmp_path / "S01" / "c001" / "roi.jpg")
    masks = find_roi_masks(tmp_path, [1])
    assert masks[1].shape == (1080, 1920) and masks[1].dtype == np.uint8
    with pytest.raises(MtmcError, match="no ROI mask for camera 2 .*c002/roi.jpg"):
        find_roi_masks(tmp_path, [2])


def test_ids_seen_by_one_camera_are_dropped():
    pred = TrackRows.concat([track(7, [1, 2], camera=1), track(7, [1], camera=2), track(8, [1, 2], camera=1)])
    assert seen_by_one_camera(pred).tolist() == [False, False, False, True, True]


def test_repeated_rows_keep_the_first():
    pred = rows((1, 7, 0, 0, 10, 10), (1, 7, 5, 5, 10, 10), (2, 7, 0, 0, 10, 10), camera=1)
    assert repeated(pred).tolist() == [False, True, False]


def test_offsets_make_camera_2_follow_the_last_frame_of_camera_1():
    gt = TrackRows.concat([track(1, range(1, 11), camera=1), track(1, range(1, 6), camera=2)])
    pred = TrackRows.concat([track(5, range(1, 13), camera=1), track(5, range(1, 4), camera=2)])
    offsets = frame_offsets(gt, pred)
    assert offsets == {1: 0, 2: 12}  # camera 1 ends at frame 12 (the prediction's last)
    joined = one_sequence(gt, offsets)
    assert joined.frame[gt.camera == 2].min() == 13
    assert joined.frame[gt.camera == 1].max() == 10


def test_identity_is_global_across_cameras():
    gt = TrackRows.concat([track(1, [1, 2, 3, 4], camera=1), track(1, [1, 2, 3, 4], camera=2)])
    right = gt.replace(id=np.full(len(gt), 7))
    assert evaluate_aicity(gt, right).overall.metrics()["idf1"] == pytest.approx(1.0)
    # id 7 follows the vehicle in camera 1 and half of camera 2; id 8 takes over in camera 2 and
    # also has a false box in camera 1 (so it is seen by two cameras and kept).
    pred = TrackRows.concat(
        [
            track(7, [1, 2, 3, 4], camera=1),
            track(7, [1, 2], camera=2),
            track(8, [3, 4], camera=2),
            track(8, [1], x=500, camera=1),
        ]
    )
    m = evaluate_aicity(gt, pred).overall.metrics()
    assert m["idtp"] == 6
    assert m["idf1"] == pytest.approx(2 * 6 / (8 + 9))


def test_extra_prediction_camera_is_an_error_unless_ignored():
    gt = TrackRows.concat([track(1, [1, 2], camera=1), track(1, [1, 2], camera=2)])
    pred = TrackRows.concat([gt.replace(id=np.full(4, 3)), track(3, [1], camera=9)])
    with pytest.raises(MtmcError, match="c009"):
        evaluate_aicity(gt, pred)
    result = evaluate_aicity(gt, pred, ignore_extra_cameras=True, per_camera=True)
    assert result.overall.metrics()["idf1"] == pytest.approx(1.0)
    assert set(result.per_camera) == {1, 2}


def test_protocol_counts_what_it_dropped():
    gt = TrackRows.concat([track(1, [1, 2], camera=1), track(1, [1, 2], camera=2)])
    pred = TrackRows.concat(
        [
            gt.replace(id=np.full(4, 3)),
            track(4, [1, 2], x=300, camera=1),
            rows((1, 3, 0, 0, 10, 10), camera=1),
        ]
    )
    result = evaluate_aicity(gt, pred, roi_masks={1: white_mask(), 2: white_mask()})
    assert (result.dropped_roi, result.dropped_single_camera, result.dropped_repeats) == (0, 2, 1)
