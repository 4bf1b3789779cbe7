"""Plane geometry shared by the simulator: homographies between ground metres and image pixels.

A footage's road is a straight stretch described by four image points of a ground rectangle
(``RoadView``); local ground coordinates are ``(u, s)``: ``u`` metres across the road (positive
to the right of a viewer looking up the road), ``s`` metres along it from the near edge.
"""

from __future__ import annotations

import numpy as np


def apply_homography(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through the 3x3 homography ``h``."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    mapped = np.column_stack([points, np.ones(len(points))]) @ np.asarray(h, np.float64).T
    return mapped[:, :2] / mapped[:, 2:3]


def homography_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The homography taking four ``src`` points to four ``dst`` points (exact, OpenCV)."""
    import cv2

    h = cv2.getPerspectiveTransform(np.asarray(src, np.float32), np.asarray(dst, np.float32))
    return h / h[2, 2]


def local_scale(h: np.ndarray, points: np.ndarray, direction: tuple[float, float]) -> np.ndarray:
    """Length in the target plane of a unit step along ``direction`` at each of ``points`` (N,)."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    step = 0.05 * np.asarray(direction, np.float64)
    ahead = apply_homography(h, points + step)
    behind = apply_homography(h, points - step)
    return np.linalg.norm(ahead - behind, axis=1) / 0.1


class RoadView:
    """Ground <-> image mapping of one footage's road.

    ``corners`` are the image pixels of the road rectangle's far-left, far-right, near-right and
    near-left corners (points off the image are fine: only the plane matters); the rectangle is
    ``width_m`` wide and ``length_m`` long.
    """

    def __init__(self, corners: np.ndarray, width_m: float, length_m: float) -> None:
        corners = np.asarray(corners, np.float64)
        if corners.shape != (4, 2):
            raise ValueError(f"road corners must be 4 image points (x, y), got shape {corners.shape}")
        if width_m <= 0 or length_m <= 0:
            raise ValueError(f"road width_m and length_m must be > 0, got {width_m}, {length_m}")
        half = width_m / 2
        ground = np.array([[-half, length_m], [half, length_m], [half, 0.0], [-half, 0.0]])
        self.width_m = float(width_m)
        self.length_m = float(length_m)
        self.corners = corners
        self.ground_to_image = homography_from_points(ground, corners)
        self.image_to_ground = np.linalg.inv(self.ground_to_image)
        self.image_to_ground /= self.image_to_ground[2, 2]

    def to_image(self, us: np.ndarray) -> np.ndarray:
        return apply_homography(self.ground_to_image, us)

    def to_ground(self, xy: np.ndarray) -> np.ndarray:
        return apply_homography(self.image_to_ground, xy)

    def pixels_per_metre(self, us: np.ndarray) -> np.ndarray:
        """Image pixels per metre across the road at ground points ``us`` (N,): a vehicle's scale there."""
        return local_scale(self.ground_to_image, us, (1.0, 0.0))

    def in_front(self, us: np.ndarray) -> np.ndarray:
        """Ground points on the camera's side of the horizon (they project to a real image point)."""
        us = np.asarray(us, np.float64).reshape(-1, 2)
        w = np.column_stack([us, np.ones(len(us))]) @ self.ground_to_image[2]
        return w > 1e-9
