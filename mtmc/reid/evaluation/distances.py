"""Query-gallery distances by name, and the ensemble of distance matrices (001 Sec. 3.3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def l2_normalize(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows scaled to unit length (re-id features are compared on the sphere, as fast-reid)."""
    features = np.asarray(features, np.float64)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), eps)


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) 1 - cos(a_i, b_j), in [0, 2]."""
    return 1.0 - l2_normalize(a) @ l2_normalize(b).T


def euclidean_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) ||a_i - b_j||, from the expansion |a|^2 + |b|^2 - 2 a.b (floored at 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    square = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(square, 0.0))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "cosine": cosine_distance,
    "euclidean": euclidean_distance,
}


def pairwise_distance(a: np.ndarray, b: np.ndarray, metric: str = "cosine") -> np.ndarray:
    """(len(a), len(b)) distances between the rows of ``a`` and ``b`` by metric name."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(map(repr, METRICS))}, got {metric!r}")
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) arrays, got shapes {a.shape} and {b.shape}")
    return METRICS[metric](a, b)


def ensemble(distances: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of distance matrices of the same shape: 001 Sec. 3.3 averages the GLAMOR and
    Counter-GLAMOR distance matrices (equal weights, the default)."""
    if len(distances) == 0:
        raise ValueError("ensemble needs at least one distance matrix")
    shapes = [np.shape(d) for d in distances]
    if len(set(shapes)) != 1:
        raise ValueError(f"distance matrices must share one shape, got {shapes}")
    stacked = np.stack([np.asarray(d, np.float64) for d in distances])
    if weights is None:
        return stacked.mean(axis=0)
    w = np.asarray(weights, np.float64)
    if w.shape != (len(distances),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(
            f"weights must be {len(distances)} non-negative numbers with a positive sum, got {list(weights)}"
        )
    return np.tensordot(w / w.sum(), stacked, axes=1)
