"""torchvision Mask R-CNN: output contract, masks, class mapping, thresholds, checkpoints, errors.

No COCO weights can be had here, so the model is randomly initialised (seeded) and small (128 px):
the tests check the plumbing around the network, not what it finds.
"""

import numpy as np
import pytest

from mtmc import weights
from mtmc.detect import DETECTORS, build_detector
from mtmc.detect.coco import COCO_CLASSES
from mtmc.errors import MtmcError

torch = pytest.importorskip("torch")
maskrcnn = pytest.importorskip("mtmc.detect.maskrcnn")

SMALL = dict(min_size=128, max_size=128, max_detections=8)
# One thread: two OpenMP threads slow down several-fold when another process shares the two cores.
ONE_THREAD = dict(threads=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return maskrcnn.build_model(1, **SMALL)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def everything(model, image):
    """Every detection of the untrained model, all classes, no score threshold."""
    detector = maskrcnn.TorchvisionMaskRcnn(model, classes=COCO_CLASSES, score_threshold=0.0, **ONE_THREAD)
    return detector.detect_with_masks(image)


def test_detections_and_masks_follow_the_detector_contract(everything, image):
    dets, masks = everything
    assert dets.dtype == np.float32 and dets.shape[1] == 6 and 0 < len(dets) <= 8
    assert masks.dtype == bool and masks.shape == (len(dets), *image.shape[:2])
    assert (dets[:, [0, 2]] >= 0).all() and (dets[:, [0, 2]] <= image.shape[1]).all()
    assert (dets[:, [1, 3]] >= 0).all() and (dets[:, [1, 3]] <= image.shape[0]).all()
    assert (np.diff(dets[:, 4]) <= 0).all()
    assert set(dets[:, 5].astype(int)) <= set(range(80))


def test_torchvision_labels_map_to_our_coco_order():
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    lookup = maskrcnn.coco91_to_80()
    for label, name in enumerate(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]):
        assert (COCO_CLASSES[lookup[label]] if lookup[label] >= 0 else name) == name
    assert (lookup >= 0).sum() == 80
    assert [COCO_CLASSES[lookup[label]] for label in (3, 4, 6, 8)] == ["car", "motorcycle", "bus", "truck"]


def test_class_filter_and_score_threshold(model, image, everything):
    dets, masks = everything
    wanted = COCO_CLASSES[int(dets[0, 5])]
    threshold = float(np.median(dets[:, 4]))
    detector = maskrcnn.TorchvisionMaskRcnn(model, classes=[wanted], score_threshold=threshold, **ONE_THREAD)
    kept, kept_masks = detector.detect_with_masks(image)
    expected = (dets[:, 5] == dets[0, 5]) & (dets[:, 4] >= threshold)
    assert len(kept) >= 1 and np.array_equal(kept, dets[expected])
    assert np.array_equal(kept_masks, masks[expected])
    assert np.array_equal(detector.detect(image), kept)


def test_checkpoint_reloads_through_the_resolver(model, image, everything, tmp_path):
    checkpoint = tmp_path / "random_maskrcnn.pth"
    torch.save(model.state_dict(), checkpoint)
    detector = build_detector(
        "torchvision-maskrcnn",
        weights=str(checkpoint),
        classes=COCO_CLASSES,
        score_threshold=0.0,
        **SMALL,
        **ONE_THREAD,
    )
    dets, masks = detector.detect_with_masks(image)
    assert np.array_equal(dets, everything[0]) and np.array_equal(masks, everything[1])


def test_version_2_builds_and_detects(image):
    torch.manual_seed(0)
    detector = maskrcnn.TorchvisionMaskRcnn(
        maskrcnn.build_model(2, min_size=64, max_size=64, max_detections=2),
        classes=COCO_CLASSES,
        score_threshold=0.0,
        **ONE_THREAD,
    )
    dets, masks = detector.detect_with_masks(image)
    assert dets.shape == (2, 6) and masks.shape == (2, *image.shape[:2])


def test_missing_checkpoint_is_one_line_with_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("MTMC_WEIGHTS_DIR", raising=False)
    assert "torchvision-maskrcnn" in DETECTORS.names()
    for version, name in [(1, "maskrcnn-r50-fpn-coco"), (2, "maskrcnn-r50-fpn-v2-coco")]:
        with pytest.raises(MtmcError) as info:
            build_detector("torchvision-maskrcnn", version=version)
        assert "\n" not in str(info.value)
        assert str(info.value).endswith(f"fetch with: mtmc weights fetch {name}")
    with pytest.raises(ValueError, match="version must be 1 or 2"):
        build_detector("torchvision-maskrcnn", version=3)
