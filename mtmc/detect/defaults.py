"""The detector and embedder a user gets without naming them, for the classes they ask for.

Measured (docs/benchmarks.md "Detectors on real and simulated vehicles"):
vehicles: Open Model Zoo vehicle-detection-0202 (UA-DETRAC AP 0.911 vs YOLOX-Nano 0.839) and the
re-id weights trained on real vehicles; people and bicycles: Open Model Zoo
person-vehicle-bike-detection-crossroad-0078 (PETS09 with deepsort-bot: IDF1 0.766-0.777 / MOTA
0.819-0.822 by CPU, vs YOLOX-Nano 0.761 / 0.790) and no embedder (ours are vehicle re-id); any
other COCO class: YOLOX-Nano, the one detector here that knows all 80.
"""

from __future__ import annotations

from mtmc.detect.coco import VEHICLES
from mtmc.schema import PartConfig

SCORE_THRESHOLD = 0.1  # low-score boxes feed the default tracker's second (ByteTrack) stage
VEHICLE_DETECTOR = PartConfig(name="openvino", weights="vehicle-detection-0202", score_threshold=SCORE_THRESHOLD)
PERSON_BIKE_DETECTOR = PartConfig(
    name="openvino", weights="person-vehicle-bike-detection-crossroad-0078", score_threshold=SCORE_THRESHOLD
)
COCO_DETECTOR = PartConfig(name="onnx-yolox", score_threshold=SCORE_THRESHOLD)
VEHICLE_EMBEDDER = PartConfig(name="reid", weights="glamor-mobilenetv2-2cam")
DEFAULT_TRACKER = PartConfig(name="deepsort-bot")  # best MOTA on PETS09; the demo's
_PERSON_BIKE = {"person", "bicycle", *VEHICLES}


def default_detector(classes: list[str] | None) -> PartConfig:
    """The best measured detector that can find every class in ``classes`` (None: vehicles)."""
    wanted = set(classes or VEHICLES)
    if wanted <= set(VEHICLES):
        part = VEHICLE_DETECTOR
    elif wanted <= _PERSON_BIKE:
        part = PERSON_BIKE_DETECTOR
    else:
        part = COCO_DETECTOR
    return part.model_copy(update={"classes": list(classes)} if classes else {})


def default_embedder(classes: list[str] | None) -> PartConfig | None:
    """Vehicle re-id for vehicles; nothing (motion only) for other classes."""
    return VEHICLE_EMBEDDER.model_copy() if set(classes or VEHICLES) <= set(VEHICLES) else None


def describe_parts(config) -> str:
    """One line for the log: which detector, tracker and embedder a run uses."""

    def name(part: PartConfig | None) -> str:
        if part is None:
            return "none"
        weights = part.options().get("weights")
        return f"{part.name} ({weights})" if weights else part.name

    return f"detector {name(config.detector)}, tracker {name(config.tracker)}, embedder {name(config.embedder)}"
