"""Detectors, built by name: ``build_detector("onnx-yolox", classes=["car"])``."""

from __future__ import annotations

from typing import Any

from mtmc.detect import yolox  # noqa: F401  (registers onnx-yolox)
from mtmc.detect.base import DETECTORS, Detector


def build_detector(name: str = "onnx-yolox", **options: Any) -> Detector:
    return DETECTORS.build(name, **options)


__all__ = ["DETECTORS", "Detector", "build_detector"]
