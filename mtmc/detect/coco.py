"""COCO class names (80, in the order detectors trained on COCO number them)."""

from __future__ import annotations

from mtmc.errors import MtmcError

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

VEHICLES = ("car", "bus", "truck", "motorcycle")


def class_ids(names: list[str] | tuple[str, ...]) -> list[int]:
    """COCO indices of ``names``; an unknown name is an error listing a few valid ones."""
    ids = []
    for name in names:
        key = name.strip().lower()
        if key not in COCO_CLASSES:
            raise MtmcError(f"unknown COCO class '{name}' (for example: {', '.join(COCO_CLASSES[:8])}, ...)")
        ids.append(COCO_CLASSES.index(key))
    return ids
