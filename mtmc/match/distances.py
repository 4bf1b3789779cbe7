"""Distances between tracklets, picked by name (as Norfair's ``get_distance_by_name``).

A distance is built from its options and called as ``fn(tracklets, scene) -> (N, N)``, or
``fn(tracklets, scene, others) -> (N, M)`` for the rectangle of the tracklets against ``others``
(the online matcher's new tracklets against their candidates), with nan where it says nothing
about a pair (no features, no time overlap, no homography). Every distance
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


DistanceFn = Callable[..., np.ndarray]  # (tracklets, scene, others=None) -> (N, N) or (N, M)
DISTANCES: Registry[DistanceFn] = Registry("distance")


class TrackletBlock(Sequence[Tracklet]):
    """Some of a pool's tracklets (``pool[slots]``) with their unit features already stacked: the
    online window keeps its features as one array, so a distance against a tracklet's candidates
    slices it instead of stacking the candidates' features again on every call."""

    def __init__(self, pool: Sequence[Tracklet | None], slots: np.ndarray, unit: np.ndarray, have: np.ndarray) -> None:
        self.pool, self.slots, self.unit, self.have = pool, slots, unit, have

    def __len__(self) -> int:
        return len(self.slots)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self.pool[s] for s in self.slots[index].tolist()]
        return self.pool[int(self.slots[index])]


def features(tracklets: Sequence[Tracklet]) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) L2-normalised track-mean features (zeros where missing) and a mask of present ones."""
    if isinstance(tracklets, TrackletBlock):
        return tracklets.unit, tracklets.have
    have = np.array([t.feature is not None and t.feature.size > 0 for t in tracklets], bool)
    if not have.any():
        return np.zeros((len(tracklets), 0)), have
    dim = next(t.feature.size for t, h in zip(tracklets, have) if h)
    out = np.zeros((len(tracklets), dim))
    index = np.flatnonzero(have)
    out[index] = np.stack([tracklets[k].feature for k in index.tolist()])
    norm = np.linalg.norm(out, axis=1)
    have &= norm > 0
    out[have] /= norm[have, None]
    return out, have


def _masked(dist: np.ndarray, have: np.ndarray, have_others: np.ndarray) -> np.ndarray:
    dist[~have, :] = np.nan
    dist[:, ~have_others] = np.nan
    return dist


def _pairwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> DistanceFn:
    """An appearance distance from ``fn(features, other features) -> (N, M)`` on L2-normalised features."""

    def distance(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        f, have = features(tracklets)
        g, have_others = (f, have) if others is None else features(others)
        if not have.any() or not have_others.any():
            return np.full((len(f), len(g)), np.nan)
        return _masked(fn(f, g), have, have_others)

    distance.appearance = True  # type: ignore[attr-defined]
    return distance


def _scores(tracklets: Sequence[Tracklet], name: str) -> tuple[np.ndarray, np.ndarray] | None:
    have = np.array([name in t.attributes for t in tracklets], bool)
    if not have.any():
        return None
    dim = next(t.attributes[name].size for t, h in zip(tracklets, have) if h)
    scores = np.zeros((len(tracklets), dim))
    for k in np.flatnonzero(have):
        scores[k] = tracklets[k].attributes[name]
    return scores, have


def metadata_distance(
    tracklets: Sequence[Tracklet], weights: dict[str, float], others: Sequence[Tracklet] | None = None
) -> np.ndarray:
    """sum_j gamma_j * D_j: the Euclidean distance between two tracklets' scores for attribute j
    (colour, type ...) weighted by gamma_j (seed 001, Eq. 5); a pair lacking attribute j gets no term."""
    others = tracklets if others is None else others
    total = np.zeros((len(tracklets), len(others)))
    for name, gamma in weights.items():
        mine, theirs = _scores(tracklets, name), _scores(others, name)
        if mine is None or theirs is None:
            continue
        (a, have_a), (b, have_b) = mine, theirs
        square = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
        total += gamma * np.where(have_a[:, None] & have_b[None, :], np.sqrt(np.clip(square, 0.0, None)), 0.0)
    return total


@DISTANCES.register("cosine")
def cosine(scale: float = 1.0, metadata: dict[str, float] | None = None) -> DistanceFn:
    """1 - cos between track-mean features (0 same direction, 1 orthogonal), divided by ``scale``;
    with ``metadata`` ({attribute: gamma}) the attribute distances are added, as the original
    distance that re-ranking starts from (seed 001, Eq. 5)."""

    appearance = _pairwise(lambda f, g: np.clip(1.0 - f @ g.T, 0.0, 2.0) / scale)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(g, int | float) and not isinstance(g, bool) and g >= 0 for g in metadata.values())
    ):
        raise ValueError(f"metadata must map attribute names to weights >= 0, e.g. {{colour: 0.5, type: 0.5}}; got {metadata!r}")
    if not metadata:
        return appearance

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        return appearance(tracklets, scene, others) + metadata_distance(tracklets, metadata, others)

    fn.appearance = True  # type: ignore[attr-defined]
    return fn


@DISTANCES.register("euclidean")
def euclidean(scale: float = 1.0) -> DistanceFn:
    """Euclidean distance between L2-normalised track-mean features (sqrt 2 for orthogonal), / ``scale``."""

    return _pairwise(lambda f, g: np.sqrt(np.clip(2.0 - 2.0 * (f @ g.T), 0.0, None)) / scale)


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


def _ground_tracks(tracklets: Sequence[Tracklet], scene: Scene) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per tracklet, its (times, ground points) in time order, or None (no homography, no rows)."""
    tracks = []
    for t in tracklets:
        ground = ground_track(t, scene)
        order = np.argsort(t.times, kind="stable")
        tracks.append(None if ground is None or len(t.times) == 0 else (t.times[order], ground[order]))
    return tracks


def _spans(tracklets: Sequence[Tracklet]) -> tuple[np.ndarray, np.ndarray]:
    starts = np.array([t.start if len(t.times) else np.inf for t in tracklets])
    ends = np.array([t.end if len(t.times) else -np.inf for t in tracklets])
    return starts, ends


@DISTANCES.register("geometric")
def geometric(scale: float = 1.0, min_overlap_s: float = 0.0) -> DistanceFn:
    """Mean ground-plane distance of the foot points over time-overlapping frames (cameras with
    overlapping views), divided by ``scale``: the length, in the homographies' ground units, at
    which two objects are clearly different (1 for metres; e.g. 100 for centimetres)."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        square = others is None  # then each pair is computed once and mirrored
        columns = tracklets if square else others
        starts, ends = _spans(tracklets)
        col_starts, col_ends = (starts, ends) if square else _spans(columns)
        out = np.full((len(tracklets), len(columns)), np.nan)
        rows = _ground_tracks(tracklets, scene)
        cols = rows if square else _ground_tracks(columns, scene)
        for i in range(len(tracklets)):
            if rows[i] is None:
                continue
            overlapping = np.flatnonzero((col_starts <= ends[i]) & (col_ends >= starts[i]))
            for j in (overlapping[overlapping > i] if square else overlapping).tolist():
                if cols[j] is None or columns[j].camera == tracklets[i].camera:
                    continue
                (ta, ga), (tb, gb) = rows[i], cols[j]
                if len(tb) > len(ta):  # interpolate the sparser track at the denser one's times
                    ta, ga, tb, gb = tb, gb, ta, ga
                out[i, j] = mean_ground_distance(ta, ga, tb, gb, min_overlap_s) / scale
                if square:
                    out[j, i] = out[i, j]
        return out

    return fn


@DISTANCES.register("continuity")
def continuity(scale: float = 1.0, max_gap_s: float = 1.0) -> DistanceFn:
    """Fragments of one camera's track: where one tracklet ends and a later one of the same camera
    starts at most ``max_gap_s`` after. Ground distance / ``scale`` between the last and the first
    foot point when the camera has a homography, else their image distance in box heights."""

    def link(a: Tracklet, b: Tracklet, scene: Scene) -> float:
        """a's last foot point to b's first, for b starting within ``max_gap_s`` after a ends."""
        ends = np.vstack([foot_points(a.boxes[-1:]), foot_points(b.boxes[:1])])
        homography = scene.homographies.get(a.camera)
        if homography is not None:
            g = project(homography, ends)
            return float(np.hypot(*(g[0] - g[1]))) / scale
        height = max(float(a.boxes[-1, 3] + b.boxes[0, 3]) / 2, 1e-6)
        return float(np.hypot(*(ends[0] - ends[1]))) / height

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        columns = tracklets if others is None else others
        starts, ends = _spans(tracklets)
        col_starts, col_ends = _spans(columns)
        cameras = np.array([t.camera for t in tracklets], np.int64)
        col_cameras = np.array([t.camera for t in columns], np.int64)
        out = np.full((len(tracklets), len(columns)), np.nan)
        for i in range(len(tracklets)):
            same = col_cameras == cameras[i]
            after = np.flatnonzero(same & (col_starts - ends[i] > 0) & (col_starts - ends[i] <= max_gap_s))
            before = np.flatnonzero(same & (starts[i] - col_ends > 0) & (starts[i] - col_ends <= max_gap_s))
            for j in after.tolist():
                out[i, j] = link(tracklets[i], columns[j], scene)
            for j in before.tolist():
                out[i, j] = link(columns[j], tracklets[i], scene)
        out[~np.isfinite(out)] = np.nan
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
