"""torchvision Mask R-CNN R50-FPN (v1 or v2) on CPU: boxes as every detector gives them, plus masks.

torchvision numbers COCO classes with the 91 ids of the COCO annotation files (0 background, 10 ids
unused); they are mapped to the 80-class order of :data:`mtmc.detect.coco.COCO_CLASSES` that the
rest of mtmc uses. Weights come only through the resolver (never downloaded at run time), as a
state_dict file such as torchvision's own ``maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mtmc.detect.base import DETECTORS, Detector
from mtmc.detect.coco import VEHICLES, class_ids
from mtmc.weights import resolve_weights

if TYPE_CHECKING:
    import torch

WEIGHTS_BY_VERSION = {1: "maskrcnn-r50-fpn-coco", 2: "maskrcnn-r50-fpn-v2-coco"}
# COCO annotation ids (1..90) that name no class; the other 80, in order, are COCO_CLASSES.
UNUSED_COCO_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)


def coco91_to_80() -> np.ndarray:
    """(91,) lookup from torchvision's label to our class index; -1 for background and unused ids."""
    lookup = np.full(91, -1, np.int64)
    used = [i for i in range(1, 91) if i not in UNUSED_COCO_IDS]
    lookup[used] = np.arange(80)
    return lookup


def build_model(version: int, min_size: int, max_size: int, max_detections: int) -> torch.nn.Module:
    """An untrained torchvision Mask R-CNN with 91 COCO labels; nothing is downloaded."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn, maskrcnn_resnet50_fpn_v2

    builders = {1: maskrcnn_resnet50_fpn, 2: maskrcnn_resnet50_fpn_v2}
    if version not in builders:
        raise ValueError(f"Mask R-CNN version must be 1 or 2, got {version}")
    return builders[version](
        weights=None,
        weights_backbone=None,
        num_classes=91,
        min_size=min_size,
        max_size=max_size,
        box_detections_per_img=max_detections,
        box_score_thresh=0.0,
    )


class TorchvisionMaskRcnn(Detector):
    """A torchvision Mask R-CNN module as a :class:`Detector`; ``detect_with_masks`` also gives masks."""

    def __init__(
        self,
        model: torch.nn.Module,
        classes: list[str] | tuple[str, ...] = VEHICLES,
        score_threshold: float = 0.5,
        mask_threshold: float = 0.5,
        threads: int = 2,
    ) -> None:
        import torch

        if not 0.0 <= score_threshold < 1.0 or not 0.0 < mask_threshold < 1.0:
            raise ValueError(
                f"need 0 <= score_threshold < 1 and 0 < mask_threshold < 1, got {score_threshold}, {mask_threshold}"
            )
        torch.set_num_threads(threads)
        self.model = model.eval()
        self.keep_classes = np.array(class_ids(list(classes)))
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        self.label_to_class = coco91_to_80()

    def detect(self, image: np.ndarray) -> np.ndarray:
        return self.detect_with_masks(image)[0]

    def detect_with_masks(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 6) detections as :meth:`detect`, and their (N, H, W) bool masks at the image's size."""
        import torch

        # Contiguous CHW: a permuted HWC view would run the whole network in a slower memory layout.
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))).float() / 255
        with torch.inference_mode():
            output = self.model([rgb])[0]
        boxes = output["boxes"].numpy()
        scores = output["scores"].numpy()
        cls = self.label_to_class[output["labels"].numpy()]
        wanted = (scores >= self.score_threshold) & np.isin(cls, self.keep_classes)
        order = np.flatnonzero(wanted)[np.argsort(-scores[wanted], kind="stable")]
        dets = np.column_stack([boxes[order], scores[order], cls[order]]).astype(np.float32).reshape(-1, 6)
        masks = output["masks"][torch.from_numpy(order), 0].numpy() > self.mask_threshold
        return dets, masks.reshape(len(order), *image.shape[:2])


@DETECTORS.register("torchvision-maskrcnn")
def torchvision_maskrcnn(
    weights: str | Path | None = None,
    version: int = 1,
    classes: list[str] | tuple[str, ...] = VEHICLES,
    score_threshold: float = 0.5,
    mask_threshold: float = 0.5,
    min_size: int = 800,
    max_size: int = 1333,
    max_detections: int = 100,
    threads: int = 2,
) -> TorchvisionMaskRcnn:
    """Mask R-CNN R50-FPN ``version`` 1 or 2 from a state_dict (default: the COCO weights of that version).

    ``min_size``/``max_size`` are torchvision's resize bounds (800/1333 as trained; smaller is faster).
    """
    import torch

    if version not in WEIGHTS_BY_VERSION:
        raise ValueError(f"Mask R-CNN version must be 1 or 2, got {version}")
    path = resolve_weights(WEIGHTS_BY_VERSION[version] if weights is None else weights)
    model = build_model(version, min_size, max_size, max_detections)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return TorchvisionMaskRcnn(model, classes, score_threshold, mask_threshold, threads)
