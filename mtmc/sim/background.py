"""Empty streets: parked vehicles removed from a footage's median background.

A median frame keeps the vehicles that never moved. Cameras rendered from the same footage would
then all show the same parked car, which a matcher could link across cameras as one vehicle seen
twice: a coincidence no real city has. They are detected and painted over (OpenCV inpainting), so
the only vehicles in a picture are the simulated ones.
"""

from __future__ import annotations

import cv2
import numpy as np

from mtmc.detect import build_detector
from mtmc.sim.config import SpritesConfig

PARKED_SCORE = 0.25  # lower than a tracker would use: a half-hidden parked car must go too
GROW = 0.15  # boxes grow by this fraction each side: inpainting needs the car's edges and shadow
ROUNDS = 3  # inpainting can leave a car-like blob; detect again, at most this many times
# A box over more than this fraction of the frame is no parked vehicle (one that near would hide
# the street): it is a detector's mistake on the static scene (vehicle-detection-0202 boxes half
# of street-b's fence and sidewalk at score 0.34), and painting it out would blank the picture.
MAX_PARKED_FRACTION = 0.25


def clear_parked_vehicles(background: np.ndarray, sprites: SpritesConfig) -> np.ndarray:
    options = {**sprites.detector.options(), "score_threshold": PARKED_SCORE}
    detector = build_detector(sprites.detector.name, **options)
    image = background.copy()
    height, width = image.shape[:2]
    for _ in range(ROUNDS):
        boxes = detector.detect(image)[:, :4]
        boxes = boxes[(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) <= MAX_PARKED_FRACTION * height * width]
        if len(boxes) == 0:
            break
        mask = np.zeros((height, width), np.uint8)
        for x1, y1, x2, y2 in boxes:
            dx, dy = GROW * (x2 - x1), GROW * (y2 - y1)
            cv2.rectangle(
                mask,
                (int(max(0, x1 - dx)), int(max(0, y1 - dy))),
                (int(min(width - 1, x2 + dx)), int(min(height - 1, y2 + dy))),
                255,
                -1,
            )
        image = cv2.inpaint(image, mask, 7, cv2.INPAINT_TELEA)
    return image
