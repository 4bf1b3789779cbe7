"""Distances between tracklets, picked by name (as Norfair's ``get_distance_by_name``).

A distance is built from its options and called as ``fn(tracklets, scene) -> (N, N)`` with nan
where it says nothing about a pair (no features, no time overlap, no homography). Every distance
is scaled so that about 1 means "clearly different objects"; ``combine`` takes the weighted mean
of the defined ones. ``appearance`` distances are the ones re-ranking applies to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtmc.match.geometry import foot_points, project
from mtmc.registry import Registry
from mtmc.types import Tracklet


@dataclass
class Scene:
    """What distances may know besides the tracklets: image -> ground homographies by camera number."""

    homographies: dict[int, np.ndarray] = field(default_factory=dict)


DistanceFn = Callable[[Sequence[Tracklet], Scene], np.ndarray]
DISTANCES: Registry[DistanceFn] = Registry("distance")


def features(tracklets: Sequence[Tracklet]) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) L2-normalised track-mean features (zeros where missing) and a mask of present ones."""
    have = np.array([t.feature is not None and t.feature.size > 0 for t in tracklets], bool)
    if not have.any():
        return np.zeros((len(tracklets), 0)), have
    dim = next(t.feature.size for t, h in zip(tracklets, have) if h)
    out = np.zeros((len(tracklets), dim))
    for k, t in enumerate(tracklets):
        if have[k]:
            norm = np.linalg.norm(t.feature)
            out[k] = t.feature / norm if norm > 0 else 0.0
            have[k] = norm > 0
    return out, have


def _masked(dist: np.ndarray, have: np.ndarray) -> np.ndarray:
    dist[~have, :] = np.nan
    dist[:, ~have] = np.nan
    return dist


def metadata_distance(tracklets: Sequence[Tracklet], weights: dict[str, float]) -> np.ndarray:
    """sum_j gamma_j * D_j: the Euclidean distance between two tracklets' scores for attribute j
    (colour, type ...) weighted by gamma_j (seed 001, Eq. 5); a pair lacking attribute j gets no term."""
    n = len(tracklets)
    total = np.zeros((n, n))
    for name, gamma in weights.items():
        have = np.array([name in t.attributes for t in tracklets], bool)
        if not have.any():
            continue
        dim = next(t.attributes[name].size for t, h in zip(tracklets, have) if h)
        scores = np.zeros((n, dim))
        for k in np.flatnonzero(have):
            scores[k] = tracklets[k].attributes[name]
        square = (scores**2).sum(1)
        d = np.sqrt(np.clip(square[:, None] + square[None, :] - 2 * scores @ scores.T, 0.0, None))
        total += gamma * np.where(have[:, None] & have[None, :], d, 0.0)
    return total


@DISTANCES.register("cosine")
def cosine(scale: float = 1.0, metadata: dict[str, float] | None = None) -> DistanceFn:
    """1 - cos between track-mean features (0 same direction, 1 orthogonal), divided by ``scale``;
    with ``metadata`` ({attribute: gamma}) the attribute distances are added, as the original
    distance that re-ranking starts from (seed 001, Eq. 5)."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene) -> np.ndarray:
        f, have = features(tracklets)
        if not have.any():
            return np.full((len(tracklets),) * 2, np.nan)
        dist = np.clip(1.0 - f @ f.T, 0.0, 2.0) / scale
        if metadata:
            dist = dist + metadata_distance(tracklets, metadata)
        return _masked(dist, have)

    fn.appearance = True  # type: ignore[attr-defined]
    return fn


@DISTANCES.register("euclidean")
def euclidean(scale: float = 1.0) -> DistanceFn:
    """Euclidean distance between L2-normalised track-mean features (sqrt 2 for orthogonal), / ``scale``."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene) -> np.ndarray:
        f, have = features(tracklets)
        if not have.any():
            return np.full((len(tracklets),) * 2, np.nan)
        square = np.clip(2.0 - 2.0 * (f @ f.T), 0.0, None)
        return _masked(np.sqrt(square) / scale, have)

    fn.appearance = True  # type: ignore[attr-defined]
    return fn


def ground_track(tracklet: Tracklet, scene: Scene) -> np.ndarray | None:
    """(N, 2) ground positions of the tracklet's foot points, or None without a homography."""
    homography = scene.homographies.get(tracklet.camera)
    if homography is None:
        return None
    return project(homography, foot_points(tracklet.boxes))


def mean_ground_distance(
    times_a: np.ndarray, ground_a: np.ndarray, times_b: np.ndarray, ground_b: np.ndarray, min_overlap_s: float
) -> float:
    """Mean distance between two ground tracks over the times both are seen (b interpolated at
    a's times inside the overlap); nan when they overlap less than ``min_overlap_s``."""
    lo, hi = max(times_a[0], times_b[0]), min(times_a[-1], times_b[-1])
    if hi < lo or hi - lo < min_overlap_s:
        return float("nan")
    inside = (times_a >= lo) & (times_a <= hi)
    t = times_a[inside]
    if len(t) == 0:
        return float("nan")
    bx = np.interp(t, times_b, ground_b[:, 0])
    by = np.interp(t, times_b, ground_b[:, 1])
    d = np.hypot(ground_a[inside, 0] - bx, ground_a[inside, 1] - by)
    d = d[np.isfinite(d)]
    return float(d.mean()) if len(d) else float("nan")


@DISTANCES.register("geometric")
def geometric(scale: float = 1.0, min_overlap_s: float = 0.0) -> DistanceFn:
    """Mean ground-plane distance of the foot points over time-overlapping frames (cameras with
    overlapping views), divided by ``scale``: the length, in the homographies' ground units, at
    which two objects are clearly different (1 for metres; e.g. 100 for centimetres)."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene) -> np.ndarray:
        n = len(tracklets)
        out = np.full((n, n), np.nan)
        tracks = []
        for t in tracklets:
            ground = ground_track(t, scene)
            order = np.argsort(t.times, kind="stable")
            tracks.append(None if ground is None or len(t.times) == 0 else (t.times[order], ground[order]))
        starts = np.array([t.start if len(t.times) else np.inf for t in tracklets])
        ends = np.array([t.end if len(t.times) else -np.inf for t in tracklets])
        for i in range(n):
            if tracks[i] is None:
                continue
            candidates = np.nonzero((starts <= ends[i]) & (ends >= starts[i]))[0]
            for j in candidates[candidates > i]:
                if tracks[j] is None or tracklets[j].camera == tracklets[i].camera:
                    continue
                ta, ga = tracks[i]
                tb, gb = tracks[j]
                if len(tb) > len(ta):  # interpolate the sparser track at the denser one's times
                    ta, ga, tb, gb = tb, gb, ta, ga
                out[i, j] = out[j, i] = mean_ground_distance(ta, ga, tb, gb, min_overlap_s) / scale
        return out

    return fn


@DISTANCES.register("continuity")
def continuity(scale: float = 1.0, max_gap_s: float = 1.0) -> DistanceFn:
    """Fragments of one camera's track: where one tracklet ends and a later one of the same camera
    starts at most ``max_gap_s`` after. Ground distance / ``scale`` between the last and the first
    foot point when the camera has a homography, else their image distance in box heights."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene) -> np.ndarray:
        n = len(tracklets)
        out = np.full((n, n), np.nan)
        for i, a in enumerate(tracklets):
            for j, b in enumerate(tracklets):
                if i == j or a.camera != b.camera or not len(a.times) or not len(b.times):
                    continue
                gap = b.start - a.end
                if gap <= 0 or gap > max_gap_s:
                    continue
                ends = np.vstack([foot_points(a.boxes[-1:]), foot_points(b.boxes[:1])])
                homography = scene.homographies.get(a.camera)
                if homography is not None:
                    g = project(homography, ends)
                    d = float(np.hypot(*(g[0] - g[1]))) / scale
                else:
                    height = max(float(a.boxes[-1, 3] + b.boxes[0, 3]) / 2, 1e-6)
                    d = float(np.hypot(*(ends[0] - ends[1]))) / height
                if np.isfinite(d):
                    out[i, j] = out[j, i] = d
        return out

    return fn


def is_appearance(fn: DistanceFn) -> bool:
    return bool(getattr(fn, "appearance", False))


def combine(matrices: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted mean over the matrices defined (not nan) for each pair; nan where none is."""
    total = np.zeros_like(matrices[0])
    weight = np.zeros_like(matrices[0])
    for m, w in zip(matrices, weights):
        ok = np.isfinite(m)
        total[ok] += w * m[ok]
        weight[ok] += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.where(weight > 0, weight, 1), np.nan)
