"""Colour is identity: does a model tell a vehicle from the same vehicle repainted?

For vehicles, paint is identity: a white car and the same model in red are two vehicles, and a
city shows such pairs every minute. A model trained with hue or saturation jitter learns to ignore
paint. The test, on real labelled crops of vehicles seen by two cameras: the same vehicle's other
view should be nearer than the other view repainted (its hue turned by ``HUE_TURNS_DEG``), the
question the matcher asks when one camera's vehicle meets another's and a look-alike; and the
other view greyed (saturation 0, value kept: the same car in silver), which a model that learnt to
ignore saturation cannot tell. Only crops
whose body is coloured enter (median saturation of the central half at least ``MIN_SATURATION``):
turning the hue of a white, grey or black car changes nothing, and no model could tell.

``recolour_auc`` is the chance that the true pair is nearer than a repainted one (ties count half):
0.5 is colour-blind, 1.0 tells every repaint apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

HUE_TURNS_DEG = (60, 120, 180, 240, 300)
MIN_SATURATION = 0.15  # of 1: a painted body, not a white, grey or black one (a third of vehicle-reid-2cam)


def recoloured(bgr: np.ndarray, degrees: float) -> np.ndarray:
    """``bgr`` (H, W, 3) uint8 with every pixel's hue turned by ``degrees``; saturation and value kept."""
    import cv2

    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)  # OpenCV hue: 0..179 for 0..358 degrees
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees / 2)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def greyed(bgr: np.ndarray) -> np.ndarray:
    """``bgr`` with every pixel's saturation 0 and its value (HSV max channel) kept."""
    value = bgr.max(axis=2, keepdims=True)
    return np.repeat(value, 3, axis=2)


def is_coloured(bgr: np.ndarray, min_saturation: float = MIN_SATURATION) -> bool:
    """Whether the central half of the crop (the body, mostly) has a median saturation of at least
    ``min_saturation``."""
    import cv2

    h, w = bgr.shape[:2]
    centre = bgr[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w]
    saturation = cv2.cvtColor(centre, cv2.COLOR_BGR2HSV)[..., 1]
    return float(np.median(saturation)) / 255 >= min_saturation


def recolour_auc(
    embed: Callable[[list[np.ndarray]], np.ndarray],
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    turns: Sequence[float] = HUE_TURNS_DEG,
) -> dict[str, float]:
    """``pairs``: two views (BGR crops) of each vehicle; ``embed(crops) -> (N, D)`` unit rows. For each
    coloured vehicle and each view as the query: the other view (true) against the other view
    repainted by each of ``turns`` and greyed (false); the AUC over all such comparisons, and how
    many vehicles entered."""
    kept = [(a, b) for a, b in pairs if is_coloured(a) and is_coloured(b)]
    if not kept:
        return {"auc": float("nan"), "vehicles": 0}
    wins = []
    for a, b in kept:
        crops = [a, b] + [fake for view in (a, b) for fake in [*(recoloured(view, t) for t in turns), greyed(view)]]
        f = embed(crops)
        k = len(turns) + 1
        for query, other, fakes in ((f[0], f[1], f[2 + k : 2 + 2 * k]), (f[1], f[0], f[2 : 2 + k])):
            true = 1.0 - float(query @ other)
            false = 1.0 - fakes @ query
            wins.extend((np.where(true < false, 1.0, np.where(true == false, 0.5, 0.0))).tolist())
    return {"auc": float(np.mean(wins)), "vehicles": len(kept)}
