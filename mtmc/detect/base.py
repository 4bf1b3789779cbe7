"""The detector contract and the steps every detector shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mtmc.registry import Registry

if TYPE_CHECKING:
    from mtmc.sources import Source


class Detector:
    """``detect(image BGR uint8) -> (N, 6) float32 [x1, y1, x2, y2, score, cls]`` (COCO class ids).

    Pipelines call ``detect_frame(index, image)`` with the source's 1-based frame number: a detector
    that reads boxes computed beforehand (``file``) looks them up by it; the others see the image only.
    ``check_source`` lets a detector refuse a source before any frame is read.
    """

    def detect(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def detect_frame(self, index: int, image: np.ndarray) -> np.ndarray:
        return self.detect(image)

    def check_source(self, source: Source) -> None:
        """Raise ``MtmcError`` when this detector cannot serve ``source``; any source by default."""


DETECTORS: Registry[Detector] = Registry("detector")


def class_aware_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by non-maximum suppression within each class (OpenCV's batched NMS)."""
    import cv2

    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float32)
    keep = cv2.dnn.NMSBoxesBatched(
        xywh.tolist(), scores.astype(np.float32).tolist(), classes.astype(np.int32).tolist(), 0.0, iou
    )
    return np.asarray(keep, np.int64).reshape(-1)
