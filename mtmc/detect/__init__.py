"""Detectors, built by name: ``build_detector("openvino", weights="vehicle-detection-0202")``."""

from __future__ import annotations

from typing import Any

from mtmc.detect import detectron2, file, maskrcnn, openvino_ssd, yolox  # noqa: F401  (register their detectors)
from mtmc.detect.base import DETECTORS, Detector
from mtmc.errors import MtmcError


def build_detector(name: str = "openvino", **options: Any) -> Detector:
    if name == "detectron2" and not detectron2.detectron2_available():
        raise MtmcError(detectron2.MISSING_MESSAGE)
    return DETECTORS.build(name, **options)


__all__ = ["DETECTORS", "Detector", "build_detector"]
