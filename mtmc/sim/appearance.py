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


def apply_look(bgr: np.ndarray, alpha: np.ndarray, look: Look) -> np.ndarray:
    """The sprite as ``look`` paints it. Recolouring keeps shading (value) and leaves dark parts
    (tyres, windows) and bright highlights alone, so the body changes colour and the rest stays."""
    if look.kind == "original":
        return bgr
    if look.kind == "twin":
        return np.clip(bgr.astype(np.float32) * look.brightness, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV).astype(np.float32)
    value = hsv[..., 2]
    body = (alpha > 0) & (value > 60) & (value < 245)
    weight = np.clip((value - 60) / 40, 0, 1) * body  # fade in above the dark parts
    hsv[..., 0] = np.where(body, look.hue % 180, hsv[..., 0])
    hsv[..., 1] = hsv[..., 1] * (1 - weight) + np.maximum(hsv[..., 1], 150) * weight
    hsv[..., 2] = value * (1 - 0.15 * weight)  # paint is darker than a white or silver body
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
