"""YOLOX (ONNX) through onnxruntime on CPU: the default detector.

Pre-processing (the YOLOX release's own): letterbox into a 416 x 416 canvas filled with 114,
keeping the aspect ratio, BGR 0-255, no normalisation. The network's (1, 3549, 85) output holds
per grid cell (cx, cy) as offsets and (w, h) as log sizes on strides 8/16/32, objectness and 80
class scores; score = objectness x class score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.detect.base import DETECTORS, Detector, class_aware_nms
from mtmc.detect.coco import VEHICLES, class_ids
from mtmc.weights import resolve_weights

STRIDES = (8, 16, 32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """The image scaled to fit ``size`` x ``size`` at the top-left of a 114-grey canvas, and the scale."""
    import cv2

    scale = min(size / image.shape[0], size / image.shape[1])
    h, w = int(round(image.shape[0] * scale)), int(round(image.shape[1] * scale))
    canvas = np.full((size, size, 3), 114, np.uint8)
    canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return canvas, scale


def grid_for(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets (A, 2) and strides (A, 1) in the network's output order."""
    cells, strides = [], []
    for stride in STRIDES:
        n = size // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.column_stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode(output: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (A, 4) x1y1x2y2 in network pixels, best class score (A,) and class (A,)."""
    cells, strides = grid_for(size)
    centre = (output[:, :2] + cells) * strides
    extent = np.exp(output[:, 2:4]) * strides
    boxes = np.concatenate([centre - extent / 2, centre + extent / 2], axis=1)
    class_scores = output[:, 5:] * output[:, 4:5]
    cls = class_scores.argmax(axis=1)
    return boxes, class_scores[np.arange(len(cls)), cls], cls


@DETECTORS.register("onnx-yolox")
class OnnxYolox(Detector):
    def __init__(
        self,
        weights: str | Path = "yolox-nano",
        classes: list[str] | tuple[str, ...] = VEHICLES,
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        threads: int = 2,
    ) -> None:
        import onnxruntime as ort

        if not 0.0 <= score_threshold < 1.0 or not 0.0 < nms_iou <= 1.0:
            raise ValueError(
                f"need 0 <= score_threshold < 1 and 0 < nms_iou <= 1, got {score_threshold}, {nms_iou}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = resolve_weights(weights)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.size = int(self.session.get_inputs()[0].shape[2])
        self.keep_classes = np.array(class_ids(list(classes)))
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou

    def detect(self, image: np.ndarray) -> np.ndarray:
        canvas, scale = letterbox(image, self.size)
        blob = canvas.transpose(2, 0, 1)[None].astype(np.float32)
        output = self.session.run(None, {self.input_name: blob})[0][0]
        boxes, scores, cls = decode(output, self.size)
        wanted = (scores >= self.score_threshold) & np.isin(cls, self.keep_classes)
        boxes, scores, cls = boxes[wanted] / scale, scores[wanted], cls[wanted]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, image.shape[1])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, image.shape[0])
        keep = class_aware_nms(boxes, scores, cls, self.nms_iou)
        keep = keep[np.argsort(-scores[keep], kind="stable")]
        return np.column_stack([boxes[keep], scores[keep], cls[keep]]).astype(np.float32).reshape(-1, 6)
