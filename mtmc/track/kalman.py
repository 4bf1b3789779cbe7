"""Deep SORT's constant-velocity Kalman filter on ``(x, y, a, h)``: box centre, aspect w/h, height.

The state is 8-dimensional (the 4 measured values and their velocities, one frame per step).
Noise is scaled by the box height, as in Wojke et al. 2017, so that near and far objects are
equally certain relative to their size. With ``state="xywh"`` (BoT-SORT, Aharon et al. 2022) the
state is ``(x, y, w, h)`` instead and the noise of each horizontal value (x, w and their
velocities) is scaled by the box width, of each vertical one by the height: the width is then
estimated directly, not through a near-constant aspect ratio. Prediction, projection and gating
run on all tracks at once with numpy, because a tracker predicts every track every frame and
updates only the matched few. The measurement update is filterpy's ``KalmanFilter.update``
(Joseph form) written out in numpy: filterpy itself is a reference in the tests only, since
importing it loads scipy.stats, 24 MB of every camera worker's memory (issue 33).
"""

from __future__ import annotations

import numpy as np

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160
# Chi-square 0.95 quantile for 4 degrees of freedom: a measurement farther than this (squared
# Mahalanobis) from a track's prediction is not that track's with 95 % confidence.
CHI2_95_4DOF = 9.4877


def xyxy_to_xyah(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    return np.column_stack(
        [boxes[:, 0] + width / 2, boxes[:, 1] + height / 2, width / np.maximum(height, 1e-9), height]
    )


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """``x1, y1, x2, y2`` -> box centre, width, height."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    size = boxes[:, 2:] - boxes[:, :2]
    return np.column_stack([boxes[:, :2] + size / 2, size])


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    half = xywh[:, 2:] / 2
    return np.column_stack([xywh[:, :2] - half, xywh[:, :2] + half])


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    xyah = np.asarray(xyah, dtype=np.float64).reshape(-1, 4)
    width = xyah[:, 2] * xyah[:, 3]
    half = np.column_stack([width / 2, xyah[:, 3] / 2])
    return np.column_stack([xyah[:, :2] - half, xyah[:, :2] + half])


class ConstantVelocityKalman:
    """Shared motion model; each track keeps only its ``mean (8,)`` and ``covariance (8, 8)``."""

    def __init__(
        self,
        std_weight_position: float = STD_WEIGHT_POSITION,
        std_weight_velocity: float = STD_WEIGHT_VELOCITY,
        state: str = "xyah",
    ) -> None:
        if state not in ("xyah", "xywh"):
            raise ValueError(f"Kalman state must be 'xyah' or 'xywh', got {state!r}")
        self.state = state
        self.std_weight_position = std_weight_position
        self.std_weight_velocity = std_weight_velocity
        self.motion_matrix = np.eye(8)
        self.motion_matrix[:4, 4:] = np.eye(4)  # position += velocity (dt = 1 frame)
        self.measurement_matrix = np.eye(4, 8)

    def from_xyxy(self, boxes: np.ndarray) -> np.ndarray:
        """Measurements ``(N, 4)`` in this filter's state convention."""
        return xyxy_to_xywh(boxes) if self.state == "xywh" else xyxy_to_xyah(boxes)

    def to_xyxy(self, states: np.ndarray) -> np.ndarray:
        """Boxes ``x1, y1, x2, y2`` of the first 4 values of ``states (N, >= 4)``."""
        states = np.asarray(states)[:, :4]
        return xywh_to_xyxy(states) if self.state == "xywh" else xyah_to_xyxy(states)

    def _scales(self, values: np.ndarray) -> np.ndarray:
        """``(N, 4)`` scales of the position noise of each measured value (``values (N, >= 4)``)."""
        height = values[:, 3]
        if self.state == "xywh":
            width = values[:, 2]
            return np.column_stack([width, height, width, height])
        # xyah: height everywhere; the aspect ratio has fixed noise (set in _process_std and
        # _measurement_noise)
        return np.column_stack([height, height, np.zeros_like(height), height])

    def _process_std(self, values: np.ndarray, position_factor: float, velocity_factor: float) -> np.ndarray:
        """Stds ``(N, 8)``: position and velocity noise, times the given factors."""
        scales = self._scales(values)
        std = np.column_stack(
            [
                position_factor * self.std_weight_position * scales,
                velocity_factor * self.std_weight_velocity * scales,
            ]
        )
        if self.state == "xyah":  # Deep SORT: the aspect ratio's noise is fixed, also at initiation
            std[:, 2], std[:, 6] = 1e-2, 1e-5
        return std

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A new track at ``measurement`` (x, y, a, h or x, y, w, h) with zero velocity, unsure of it."""
        std = self._process_std(np.asarray(measurement, dtype=np.float64)[None], 2.0, 10.0)[0]
        return np.r_[measurement, np.zeros(4)].astype(np.float64), np.diag(std**2)

    def predict(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step ahead for ``T`` tracks: ``(T, 8)``, ``(T, 8, 8)`` in, the same out."""
        std = self._process_std(means, 1.0, 1.0)
        motion = self.motion_matrix
        means = means @ motion.T
        covariances = motion @ covariances @ motion.T
        covariances[:, np.arange(8), np.arange(8)] += std**2
        return means, covariances

    def project(self, means: np.ndarray, covariances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted measurements and their covariances (measurement noise included): ``(T, 4)``, ``(T, 4, 4)``."""
        noise = self._measurement_noise(means)
        covariances = covariances[:, :4, :4].copy()
        covariances[:, np.arange(4), np.arange(4)] += noise
        return means[:, :4].copy(), covariances

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray, noise_scale: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """One track corrected by its measurement (filterpy's ``KalmanFilter.update``, Joseph form).

        ``noise_scale`` multiplies the measurement's standard deviations: > 1 for a measurement
        known to be unreliable, which then moves the state (and its velocity) less.
        """
        h = self.measurement_matrix
        noise = np.diag(self._measurement_noise(mean[None])[0]) * noise_scale**2
        innovation = np.asarray(measurement, np.float64) - h @ mean
        pht = covariance @ h.T
        gain = pht @ np.linalg.inv(h @ pht + noise)
        i_kh = np.eye(8) - gain @ h
        return mean + gain @ innovation, i_kh @ covariance @ i_kh.T + gain @ noise @ gain.T

    def gating_distance(
        self,
        means: np.ndarray,
        covariances: np.ndarray,
        measurements: np.ndarray,
        only_position: bool = False,
    ) -> np.ndarray:
        """Squared Mahalanobis distances ``(T, N)`` of ``measurements (N, 4)`` to each track's projection.

        With ``only_position`` only the box centre counts (2 degrees of freedom).
        """
        projected, projected_cov = self.project(means, covariances)
        if only_position:
            projected, projected_cov, measurements = (
                projected[:, :2],
                projected_cov[:, :2, :2],
                measurements[:, :2],
            )
        lower = np.linalg.cholesky(projected_cov)  # (T, d, d)
        difference = measurements[None, :, :] - projected[:, None, :]  # (T, N, d)
        whitened = np.linalg.solve(lower, difference.transpose(0, 2, 1))  # (T, d, N)
        return np.sum(whitened**2, axis=1)

    def _measurement_noise(self, means: np.ndarray) -> np.ndarray:
        """Variances ``(T, 4)`` of the measurement of each of ``means (T, >= 4)``."""
        std = self.std_weight_position * self._scales(means)
        if self.state == "xyah":
            std[:, 2] = 1e-1
        return std**2
