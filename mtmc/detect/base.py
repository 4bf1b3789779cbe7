"""The detector contract and the steps every detector shares."""

from __future__ import annotations

import numpy as np

from mtmc.registry import Registry


class Detector:
    """``detect(image BGR uint8) -> (N, 6) float32 [x1, y1, x2, y2, score, cls]`` (COCO class ids)."""

    def detect(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError


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
