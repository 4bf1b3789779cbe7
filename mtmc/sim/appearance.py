"""Which real vehicle each simulated vehicle looks like, and look-alikes made by repainting.

Identities come from the harvested real vehicles. Look-alikes make re-id hard the way a city does:
a *recolour* is another vehicle's sprite painted another colour (the same model in another
colour); a *twin* is another vehicle's sprite with only a faint brightness change (near-identical
vehicles, which only time and place can tell apart).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mtmc.sim.config import TrafficConfig

# OpenCV hues (0-180) of common car paints: red, orange, yellow, green, cyan, blue, purple
PAINT_HUES = (0.0, 12.0, 25.0, 60.0, 90.0, 115.0, 140.0)


@dataclass(frozen=True)
class Look:
    sprite: int  # index of the real vehicle in the sprite bank
    kind: str  # "original", "recolour" or "twin"
    hue: float | None = None  # recolour: paint hue (OpenCV 0-180)
    brightness: float = 1.0  # twin: value multiplier


def assign_looks(n_vehicles: int, n_sprites: int, traffic: TrafficConfig, rng: np.random.Generator) -> list[Look]:
    """One look per vehicle. Each real vehicle is used once as itself before any is reused;
    recolours and twins copy vehicles that also appear as themselves."""
    if n_sprites == 0:
        raise ValueError("no vehicle sprites to draw from")
    n_twins = int(round(traffic.twin_fraction * n_vehicles))
    n_recolours = int(round(traffic.recolour_fraction * n_vehicles))
    n_originals = max(1, min(n_sprites, n_vehicles - n_twins - n_recolours))
    n_recolours = n_vehicles - n_originals - n_twins
    if n_recolours < 0:
        n_twins += n_recolours
        n_recolours = 0
    originals = rng.permutation(n_sprites)[:n_originals].tolist()
    looks = [Look(s, "original") for s in originals]
    for _ in range(n_recolours):
        looks.append(Look(int(rng.choice(originals)), "recolour", hue=float(rng.choice(PAINT_HUES)) + float(rng.uniform(-4, 4))))
    for _ in range(n_twins):
        looks.append(Look(int(rng.choice(originals)), "twin", brightness=float(rng.choice([0.94, 0.97, 1.03, 1.06]))))
    order = rng.permutation(len(looks))
    return [looks[i] for i in order]


BODY_DELTA_E = 30.0  # Lab distance within which a pixel counts as body paint (a clearly different colour is not)


def body_weight(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """How much each pixel is body paint (0..1): close in colour to the paint of the car's middle.

    The paint colour is the median of the sprite's central band (doors, bonnet); windows, tyres,
    lights, plates and shadows differ from it and keep their colours.
    """
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    h, w = alpha.shape
    band = np.zeros_like(alpha, bool)
    band[int(0.35 * h) : int(0.75 * h), int(0.2 * w) : int(0.8 * w)] = True
    inside = alpha > 127
    sample = lab[band & inside] if (band & inside).sum() >= 10 else lab[inside]
    if len(sample) == 0:
        return np.zeros(alpha.shape, np.float32)
    paint = np.median(sample, axis=0)
    distance = np.linalg.norm(lab - paint, axis=2)
    return np.clip(1.0 - distance / BODY_DELTA_E, 0, 1) * (alpha / 255.0)


def apply_look(bgr: np.ndarray, alpha: np.ndarray, look: Look) -> np.ndarray:
    """The sprite as ``look`` paints it: a recolour changes the hue of the body paint and keeps its
    shading; a twin only changes brightness."""
    if look.kind == "original":
        return bgr
    if look.kind == "twin":
        return np.clip(bgr.astype(np.float32) * look.brightness, 0, 255).astype(np.uint8)
    weight = body_weight(bgr, alpha)[..., None]
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = int(round(look.hue)) % 180
    hsv[..., 1] = 170  # a saturated paint, whatever the original (white, silver and black cars too)
    hsv[..., 2] = np.clip(hsv[..., 2].astype(np.float32) * 0.85 + 20, 0, 255).astype(np.uint8)  # shading kept, black lifted
    painted = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
    return np.clip(bgr * (1 - weight) + painted * weight + 0.5, 0, 255).astype(np.uint8)
