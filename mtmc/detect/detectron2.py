"""detectron2's Mask R-CNN R50-FPN 3x (COCO) on CPU, for those who have detectron2 installed.

detectron2 is not on PyPI, so this backend is optional: it is registered only when detectron2 can
be imported, and asking for it otherwise gives :data:`MISSING_MESSAGE`. Its model zoo numbers the
80 COCO classes in the order of :data:`mtmc.detect.coco.COCO_CLASSES`, so classes need no mapping.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mtmc.detect.base import DETECTORS, Detector
from mtmc.detect.coco import VEHICLES, class_ids
from mtmc.errors import MtmcError
from mtmc.weights import resolve_weights

CONFIG = "COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_3x.yaml"
MISSING_MESSAGE = (
    "the 'detectron2' detector needs detectron2, which is not on PyPI: install it with "
    "uv pip install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git' "
    "(or build it from source, see its INSTALL.md; keep it with uv sync --inexact); "
    "the default detector 'openvino' works without it, as does 'onnx-yolox'"
)


def detectron2_available() -> bool:
    """Whether detectron2 can be imported (checked without importing it)."""
    return importlib.util.find_spec("detectron2") is not None


class Detectron2MaskRcnn(Detector):
    """detectron2's ``DefaultPredictor`` as a :class:`Detector`; ``detect_with_masks`` also gives masks."""

    def __init__(
        self,
        weights: str | Path = "detectron2-mask-rcnn-r50-fpn-3x",
        classes: list[str] | tuple[str, ...] = VEHICLES,
        score_threshold: float = 0.5,
        min_size: int = 800,
        max_size: int = 1333,
    ) -> None:
        if not detectron2_available():
            raise MtmcError(MISSING_MESSAGE)
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor

        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"need 0 <= score_threshold < 1, got {score_threshold}")
        cfg = get_cfg()
        cfg.merge_from_file(model_zoo.get_config_file(CONFIG))
        cfg.MODEL.WEIGHTS = str(resolve_weights(weights))
        cfg.MODEL.DEVICE = "cpu"
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_threshold
        cfg.INPUT.MIN_SIZE_TEST = min_size
        cfg.INPUT.MAX_SIZE_TEST = max_size
        self.predictor = DefaultPredictor(cfg)
        self.keep_classes = np.array(class_ids(list(classes)))

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detect_with_masks(image)[0]

    def detect_with_masks(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 6) detections as :meth:`detect`, and their (N, H, W) bool masks at the image's size."""
        instances = self.predictor(image)["instances"].to("cpu")
        boxes = instances.pred_boxes.tensor.numpy()
        scores = instances.scores.numpy()
        cls = instances.pred_classes.numpy()
        wanted = np.flatnonzero(np.isin(cls, self.keep_classes))
        order = wanted[np.argsort(-scores[wanted], kind="stable")]
        dets = np.column_stack([boxes[order], scores[order], cls[order]]).astype(np.float32).reshape(-1, 6)
        masks = instances.pred_masks.numpy()[order].astype(bool)
        return dets, masks.reshape(len(order), *image.shape[:2])


if detectron2_available():
    DETECTORS.register("detectron2")(Detectron2MaskRcnn)
