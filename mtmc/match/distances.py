"""Distances between tracklets, picked by name (as Norfair's ``get_distance_by_name``).

A distance is built from its options and called as ``fn(tracklets, scene) -> (N, N)``, or
``fn(tracklets, scene, others) -> (N, M)`` for the rectangle of the tracklets against ``others``
(the online matcher's new tracklets against their candidates), with nan where it says nothing
about a pair (no features, no time overlap, no homography). Each distance carries its evidence
model, ``fn.llr(d, scene)``: the log-likelihood ratio of the distance for "same vehicle" against
"different vehicles" (:mod:`mtmc.match.evidence`); ``combine`` sums the defined ones, weighted,
with the prior log-odds. ``appearance`` distances are the ones re-ranking applies to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.evidence import UNCALIBRATED, AppearanceCalibration, ProximityModel
from mtmc.match.geometry import foot_points, project
from mtmc.registry import Registry
from mtmc.types import Tracklet


@dataclass
class Scene:
    """What distances may know besides the tracklets: image -> ground maps by camera number, the
    embedder's appearance calibration (None: uncalibrated, ``UNCALIBRATED``'s cautious model) and
    the run's attribute class priors."""

    homographies: dict[int, np.ndarray] = field(default_factory=dict)
    appearance: AppearanceCalibration | None = None
    # the run's class prior per attribute (``class_prior_of`` its tracklets), when the matcher keeps
    # one; else the ``attributes`` cue estimates it from the tracklets it is given
    attribute_priors: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def appearance_model(self) -> AppearanceCalibration:
        return self.appearance if self.appearance is not None else UNCALIBRATED


DistanceFn = Callable[..., np.ndarray]  # (tracklets, scene, others=None) -> (N, N) or (N, M)
DISTANCES: Registry[DistanceFn] = Registry("distance")


class TrackletBlock(Sequence[Tracklet]):
    """Some of a pool's tracklets (``pool[slots]``) with their unit features already stacked: the
    online window keeps its features as one array, so a distance against a tracklet's candidates
    slices it instead of stacking the candidates' features again on every call."""

    def __init__(
        self, pool: Sequence[Tracklet | None], slots: np.ndarray, unit: np.ndarray, have: np.ndarray,
        starts: np.ndarray, ends: np.ndarray, cameras: np.ndarray,
    ) -> None:  # fmt: skip
        self.pool, self.slots, self.unit, self.have = pool, slots, unit, have
        self.starts, self.ends, self.cameras = starts, ends, cameras

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


def _pairwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], as_cosine: Callable[[np.ndarray], np.ndarray]) -> DistanceFn:
    """An appearance distance from ``fn(features, other features) -> (N, M)`` on L2-normalised
    features; ``as_cosine`` turns its values back into cosine distances, which the embedder's
    calibration reads."""

    def distance(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        f, have = features(tracklets)
        g, have_others = (f, have) if others is None else features(others)
        if not have.any() or not have_others.any():
            return np.full((len(f), len(g)), np.nan)
        return _masked(fn(f, g), have, have_others)

    distance.appearance = True  # type: ignore[attr-defined]
    distance.llr = lambda d, scene: scene.appearance_model.llr(as_cosine(d))  # type: ignore[attr-defined]
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


def co_occurring(tracklets: Sequence[Tracklet], others: Sequence[Tracklet] | None = None) -> np.ndarray:
    """Cosine distances of pairs of one camera that overlap in time (two vehicles for sure), each
    pair once: the run's own different-vehicle distances (``evidence.NegativeMoments``)."""
    square = others is None
    columns = tracklets if square else others
    f, have = features(tracklets)
    g, have_others = (f, have) if square else features(columns)
    if not have.any() or not have_others.any() or f.shape[1] != g.shape[1]:
        return np.zeros(0)
    starts, ends = _spans(tracklets)
    col_starts, col_ends = (starts, ends) if square else _spans(columns)
    cameras = np.array([t.camera for t in tracklets])
    col_cameras = cameras if square else np.array([t.camera for t in columns])
    pairs = (cameras[:, None] == col_cameras[None, :]) & (starts[:, None] <= col_ends[None, :]) & (col_starts[None, :] <= ends[:, None])
    pairs &= have[:, None] & have_others[None, :]
    if square:
        pairs = np.triu(pairs, 1)
    i, j = np.nonzero(pairs)
    return np.clip(1.0 - (f[i] * g[j]).sum(axis=1), 0.0, 2.0)


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

    appearance = _pairwise(lambda f, g: np.clip(1.0 - f @ g.T, 0.0, 2.0) / scale, lambda d: d * scale)
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
    fn.llr = appearance.llr  # type: ignore[attr-defined]
    return fn


@DISTANCES.register("euclidean")
def euclidean(scale: float = 1.0) -> DistanceFn:
    """Euclidean distance between L2-normalised track-mean features (sqrt 2 for orthogonal), / ``scale``."""

    return _pairwise(lambda f, g: np.sqrt(np.clip(2.0 - 2.0 * (f @ g.T), 0.0, None)) / scale, lambda d: (d * scale) ** 2 / 2)


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
    if isinstance(tracklets, TrackletBlock):
        return tracklets.starts, tracklets.ends
    starts = np.array([t.start if len(t.times) else np.inf for t in tracklets])
    ends = np.array([t.end if len(t.times) else -np.inf for t in tracklets])
    return starts, ends


def _overlap_slope(times: np.ndarray, points: np.ndarray, lo: float, hi: float) -> np.ndarray | None:
    """Least-squares ground velocity of a track over its samples in [lo, hi] (None under three)."""
    inside = (times >= lo) & (times <= hi) & np.isfinite(points).all(axis=1)
    t, p = times[inside], points[inside]
    if len(t) < 3 or t[-1] - t[0] <= 0:
        return None
    t = t - t.mean()
    return (t @ (p - p.mean(axis=0))) / (t @ t)


def velocity_difference(
    times_a: np.ndarray, ground_a: np.ndarray, times_b: np.ndarray, ground_b: np.ndarray, min_overlap_s: float
) -> float:
    """How far apart two ground tracks' velocities are over the times both are seen (each its
    least-squares slope there); nan when they overlap less than ``min_overlap_s``."""
    lo, hi = max(times_a[0], times_b[0]), min(times_a[-1], times_b[-1])
    if hi - lo < min_overlap_s:
        return float("nan")
    va, vb = _overlap_slope(times_a, ground_a, lo, hi), _overlap_slope(times_b, ground_b, lo, hi)
    return float("nan") if va is None or vb is None else float(np.hypot(*(va - vb)))


def _overlapping_ground_pairs(
    measure: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], float],
    tracklets: Sequence[Tracklet],
    scene: Scene,
    others: Sequence[Tracklet] | None,
) -> np.ndarray:
    """``measure(times, ground, times, ground)`` for every pair of tracklets of two cameras with
    ground maps that are seen at once (the denser track first); nan for the rest."""
    square = others is None  # then each pair is computed once and mirrored
    columns = tracklets if square else others
    out = np.full((len(tracklets), len(columns)), np.nan)
    if not scene.homographies:
        return out
    starts, ends = _spans(tracklets)
    col_starts, col_ends = (starts, ends) if square else _spans(columns)
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
            out[i, j] = measure(ta, ga, tb, gb)
            if square:
                out[j, i] = out[i, j]
    return out


def _overlap_cue(
    between: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], float],
    min_overlap_s: float,
    scale: float,
    model: ProximityModel,
) -> DistanceFn:
    """A cue of views that overlap: ``between(times, ground, times, ground, min_overlap_s) / scale``
    for every pair seen at once, read by ``model``."""

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        def measure(ta: np.ndarray, ga: np.ndarray, tb: np.ndarray, gb: np.ndarray) -> float:
            return between(ta, ga, tb, gb, min_overlap_s) / scale

        return _overlapping_ground_pairs(measure, tracklets, scene, others)

    fn.llr = lambda d, scene: model.llr(d)  # type: ignore[attr-defined]
    return fn


@DISTANCES.register("geometric")
def geometric(
    scale: float = 1.0, min_overlap_s: float = 0.0, sigma_m: float = 1.5, radius_m: float = 25.0
) -> DistanceFn:
    """Mean ground-plane distance of the foot points over time-overlapping frames (cameras with
    overlapping views), in metres: the ground distance / ``scale`` (the homographies' ground units
    per metre: 1 for metres, 100 for centimetres). Evidence: one vehicle seen twice lies within
    ``sigma_m`` of itself (foot points and calibration err by about that), another anywhere within
    ``radius_m``."""
    return _overlap_cue(mean_ground_distance, min_overlap_s, scale, ProximityModel(sigma_m, radius_m))


@DISTANCES.register("velocity")
def velocity(scale: float = 1.0, min_overlap_s: float = 1.0, sigma_mps: float = 1.0, speed_mps: float = 20.0) -> DistanceFn:
    """Ground velocity agreement of tracklets seen at once by views that overlap, in metres per
    second: each track's least-squares velocity over the shared time, their difference / ``scale``.
    Evidence: one vehicle moves with itself within ``sigma_mps``, another anywhere within
    ``speed_mps`` (a disc of velocities); it tells apart two vehicles that pass each other,
    or cross, where a short overlap leaves their positions close."""
    return _overlap_cue(velocity_difference, min_overlap_s, scale, ProximityModel(sigma_mps, speed_mps))


VELOCITY_SPAN_S = 1.0  # a track's velocity: its displacement over (up to) its last / first second


def _velocity(times: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mean velocity from the first to the last point; zero when they lie under a fifth of a second
    apart (too short to tell motion from jitter)."""
    ok = np.isfinite(points).all(axis=1)
    t, p = times[ok], points[ok]
    if len(t) < 2 or t[-1] - t[0] < 0.2:
        return np.zeros(2)
    return (p[-1] - p[0]) / (t[-1] - t[0])


@DISTANCES.register("continuity")
def continuity(
    scale: float = 1.0, max_gap_s: float = 1.0, sigma: float = 0.5, sigma_m: float = 1.5, spread: float = 10.0
) -> DistanceFn:
    """Fragments of one camera's track: where one tracklet ends and a later one of the same camera
    starts at most ``max_gap_s`` after. Each end is carried over the gap at its own velocity (the
    earlier one forward, the later one back); the distance is the mean miss, in standard errors:
    metres (ground distance / ``scale``) over ``sigma_m`` when the camera has a ground map, else
    box heights over ``sigma``. Evidence: the same vehicle misses by about one standard error,
    another lies anywhere within ``spread`` of them."""
    model = ProximityModel(1.0, spread)

    def ends(t: Tracklet, scene: Scene, at_end: bool) -> tuple[float, np.ndarray, np.ndarray, float]:
        """Time, position, velocity at one end of ``t``, and the unit (standard error) there."""
        if at_end:
            inside = t.times >= t.times[-1] - VELOCITY_SPAN_S
        else:
            inside = t.times <= t.times[0] + VELOCITY_SPAN_S
        times, boxes = t.times[inside], t.boxes[inside]
        homography = scene.homographies.get(t.camera)
        if homography is not None:
            points, unit = project(homography, foot_points(boxes)) / scale, sigma_m
        else:
            points, unit = foot_points(boxes), sigma * max(float(boxes[-1 if at_end else 0, 3]), 1e-6)
        k = -1 if at_end else 0
        return float(times[k]), points[k], _velocity(times, points), unit

    def link(a: Tracklet, b: Tracklet, scene: Scene) -> float:
        """a's end carried forward to b's start and b's start carried back to a's end: mean miss."""
        ta, pa, va, unit_a = ends(a, scene, True)
        tb, pb, vb, unit_b = ends(b, scene, False)
        gap = tb - ta
        forward = np.hypot(*(pa + va * gap - pb))
        backward = np.hypot(*(pb - vb * gap - pa))
        return float((forward + backward) / 2 / ((unit_a + unit_b) / 2))

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        columns = tracklets if others is None else others
        starts, ends_ = _spans(tracklets)
        col_starts, col_ends = _spans(columns)
        cameras = np.array([t.camera for t in tracklets], np.int64)
        col_cameras = columns.cameras if isinstance(columns, TrackletBlock) else np.array([t.camera for t in columns], np.int64)
        out = np.full((len(tracklets), len(columns)), np.nan)
        for i in range(len(tracklets)):
            same = col_cameras == cameras[i]
            after = np.flatnonzero(same & (col_starts - ends_[i] > 0) & (col_starts - ends_[i] <= max_gap_s))
            before = np.flatnonzero(same & (starts[i] - col_ends > 0) & (starts[i] - col_ends <= max_gap_s))
            for j in after.tolist():
                out[i, j] = link(tracklets[i], columns[j], scene)
            for j in before.tolist():
                out[i, j] = link(columns[j], tracklets[i], scene)
        out[~np.isfinite(out)] = np.nan
        return out

    fn.llr = lambda d, scene: model.llr(d)  # type: ignore[attr-defined]
    return fn


ATTRIBUTE_CAP = 3.0  # the attribute cue's largest |LLR|: colour and type alone never decide a link
DEFAULT_ATTRIBUTES = {"colour": 1.0, "type": 1.0}


def _known_attributes() -> dict[str, tuple[str, ...]]:
    """Every attribute an attribute model sends, with its class labels."""
    from mtmc.reid.attributes import ATTRIBUTE_NAMES, VEHICLE_ATTRIBUTES

    return {name: VEHICLE_ATTRIBUTES[name] for names in ATTRIBUTE_NAMES.values() for name in names}


def _given_prior(name: str, labels: tuple[str, ...], value) -> np.ndarray:
    """A class prior given as {label: p} (every label) or [p per class]: positive, normalised."""
    if isinstance(value, dict):
        if set(value) != set(labels):
            raise ValueError(f"class_prior.{name} must give every class of {name}: {', '.join(labels)}; got {sorted(value)}")
        value = [value[label] for label in labels]
    try:
        prior = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        prior = np.zeros(0)
    if len(prior) != len(labels) or not (np.isfinite(prior) & (prior > 0)).all():
        raise ValueError(f"class_prior.{name} must be one probability > 0 per class ({', '.join(labels)}); got {value!r}")
    return prior / prior.sum()


def _posteriors(tracklets: Sequence[Tracklet], name: str, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) the tracklets' mean class probabilities for ``name`` (rows normalised) and a mask of
    those that have them (an all-zero row: never classified)."""
    rows = [t.attributes.get(name) for t in tracklets]
    index = [k for k, r in enumerate(rows) if r is not None]
    out = np.zeros((len(tracklets), classes))
    if not index:
        return out, np.zeros(len(tracklets), bool)
    for k in index:
        if np.size(rows[k]) != classes:
            t = tracklets[k]
            raise MtmcError(f"tracklet {t.camera}/{t.track}: {name} has {np.size(rows[k])} classes, the attributes cue expects {classes}")
    scores = np.clip(np.array([rows[k] for k in index], np.float64).reshape(len(index), classes), 0.0, None)
    total = scores.sum(axis=1)
    ok = np.isfinite(total) & (total > 0)
    out[np.array(index)[ok]] = scores[ok] / total[ok, None]
    have = np.zeros(len(tracklets), bool)
    have[np.array(index)[ok]] = True
    return out, have


def class_prior_of(tracklets: Sequence[Tracklet], name: str, classes: int) -> np.ndarray:
    """How common each class of attribute ``name`` is among ``tracklets``: their mean posterior with
    one pseudo-tracklet spread evenly over each class, (sum_i p_i(c) + 1) / (n + K) (Laplace's rule:
    uniform with no tracklets, the tracklets' own mix with many)."""
    return _laplace(*_posteriors(list({t.key: t for t in tracklets}.values()), name, classes))


def _laplace(scores: np.ndarray, have: np.ndarray) -> np.ndarray:
    return (scores[have].sum(axis=0) + 1.0) / (have.sum() + scores.shape[1])


@DISTANCES.register("attributes")
def attributes(
    attributes: dict[str, float] | list[str] | None = None,
    confusion: float = 0.3,
    cap: float = ATTRIBUTE_CAP,
    class_prior: str | dict[str, dict[str, float] | list[float]] = "run",
) -> DistanceFn:
    """Do two tracklets' attribute classes agree (colour, type: the attribute stage's running means
    of the classifier's probabilities)? For one attribute of K classes with posteriors p_a, p_b and
    class prior pi, the likelihood ratio of one vehicle against two is ``LR = sum_c p_a(c) p_b(c) /
    pi(c)``: Bayes gives P(x | c) = p(c | x) P(x) / pi(c), and one vehicle has one class c ~ pi, two
    have two independent ones, so LR = sum_c pi(c) P(x_a|c) P(x_b|c) / (P(x_a) P(x_b)). Agreeing
    confident posteriors give up to 1 / pi(c) (agreeing on a rare class says more than on a common
    one), disagreeing ones ~0, an uninformative one (p = pi) exactly 1.

    ``class_prior``: ``run`` (default) estimates pi from the run's tracklets (their mean posterior,
    Laplace-smoothed towards uniform, ``class_prior_of``; the scene's ``attribute_priors`` when the
    matcher keeps them, else the tracklets at hand): most vehicles are cars, and with a uniform pi
    every car-car pair would count as evidence of one vehicle. ``uniform``, or ``{attribute:
    {label: p} or [p per class]}`` for a known mix (others: ``run``).

    Classifiers are overconfident and confuse neighbouring colours (gray / white / black, the
    light), so each posterior is first mixed with pi by ``confusion``, the share the classifier gets
    wrong: p -> (1 - confusion) p + confusion pi. With 0.3 and a uniform pi, two confident colours
    give LLR +1.37 when they agree and -0.67 when not (type: +0.90 / -0.67). ``attributes`` names
    those used, ``{name: weight}`` (a list: weight 1 each; default colour and type); the LLR is the
    weighted sum of their log ratios over those both tracklets have, capped at +-``cap``.

    The distance is ``1 / (1 + LR)`` (LR of the capped LLR): the probability of two vehicles from
    the attributes alone at even odds, 0.5 when they say nothing; ``fn.llr`` maps it back,
    ``log((1 - d) / d)``. nan where the two share no attribute (the attribute stage is off, or a
    track was never classified)."""
    if attributes is None:
        attributes = dict(DEFAULT_ATTRIBUTES)
    elif isinstance(attributes, list | tuple) and all(isinstance(name, str) for name in attributes):
        attributes = {name: 1.0 for name in attributes}
    if not (
        isinstance(attributes, dict)
        and attributes
        and all(isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0 for w in attributes.values())
    ):
        raise ValueError(f"attributes must map attribute names to weights > 0, e.g. {{colour: 1.0, type: 0.5}}; got {attributes!r}")
    known = _known_attributes()
    unknown = [name for name in attributes if name not in known]
    if unknown:
        raise ValueError(f"no attribute {', '.join(map(repr, unknown))}: the attribute models send {', '.join(known)}")
    if not (isinstance(confusion, int | float) and 0.0 <= confusion <= 1.0):
        raise ValueError(f"confusion must be a share in [0, 1] (what the classifier gets wrong), got {confusion!r}")
    if not (isinstance(cap, int | float) and cap > 0):
        raise ValueError(f"cap must be > 0, got {cap!r}")
    given: dict[str, np.ndarray] = {}
    if class_prior == "uniform":
        given = {name: np.full(len(known[name]), 1.0 / len(known[name])) for name in attributes}
    elif isinstance(class_prior, dict) and all(name in attributes for name in class_prior):
        given = {name: _given_prior(name, known[name], value) for name, value in class_prior.items()}
    elif class_prior != "run":
        raise ValueError(
            f"class_prior must be run, uniform or a map of the attributes used ({', '.join(attributes)}) to class priors; got {class_prior!r}"
        )
    weights = {name: float(w) for name, w in attributes.items()}

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        columns = tracklets if others is None else others
        total = np.zeros((len(tracklets), len(columns)))
        defined = np.zeros(total.shape, bool)
        kept = scene.attribute_priors if scene is not None else {}
        for name, weight in weights.items():
            classes = len(known[name])
            a, have_a = _posteriors(tracklets, name, classes)
            b, have_b = (a, have_a) if others is None else _posteriors(columns, name, classes)
            if not have_a.any() or not have_b.any():
                continue
            prior = given.get(name)
            if prior is None:
                prior = kept.get(name)
            if prior is None or len(prior) != classes:  # the tracklets at hand, each once
                if others is None:
                    prior = _laplace(a, have_a)
                else:
                    keys = {t.key for t in tracklets}
                    new = np.array([t.key not in keys for t in columns], bool)
                    prior = _laplace(np.concatenate([a, b[new]]), np.concatenate([have_a, have_b[new]]))
            a = (1.0 - confusion) * a + confusion * prior
            b = (1.0 - confusion) * b + confusion * prior
            ratio = (a / prior) @ b.T
            both = have_a[:, None] & have_b[None, :]
            total[both] += weight * np.log(np.maximum(ratio[both], 1e-300))
            defined |= both
        llr = np.clip(total, -cap, cap)
        return np.where(defined, 1.0 / (1.0 + np.exp(llr)), np.nan)

    def llr(d: np.ndarray, scene: Scene) -> np.ndarray:
        d = np.clip(np.asarray(d, np.float64), 1e-12, 1.0 - 1e-12)  # nan stays nan
        return np.clip(np.log((1.0 - d) / d), -cap, cap)

    fn.llr = llr  # type: ignore[attr-defined]
    return fn


def ground_end(t: Tracklet, scene: Scene, at_end: bool, scale: float = 1.0) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Time, ground position (metres: ground units / ``scale``) and ground velocity at the last
    (``at_end``) or first second of ``t``; None without a ground map or a finite position there."""
    mapping = scene.homographies.get(t.camera)
    if mapping is None or len(t.times) == 0:
        return None
    inside = t.times >= t.times[-1] - VELOCITY_SPAN_S if at_end else t.times <= t.times[0] + VELOCITY_SPAN_S
    times = t.times[inside]
    points = project(mapping, foot_points(t.boxes[inside])) / scale
    point = points[-1 if at_end else 0]
    if not np.isfinite(point).all():
        return None
    return float(times[-1 if at_end else 0]), point, _velocity(times, points)


@DISTANCES.register("handover")
def handover(
    scale: float = 1.0, speed_sigma: float = 0.35, detour: float = 0.15, min_speed_mps: float = 1.0, cap: float = 6.0
) -> DistanceFn:
    """A vehicle leaving one calibrated view reaches the next one (views that do not overlap) as
    its exit predicts: the straight line from where it left to where the other camera first sees
    it (``e``, ground metres: ground units / ``scale``), covered in the gap ``g`` between them,
    implies a speed that matches the speed it was seen at (the mean of the two ends' speeds), and
    both ends' headings point along ``e``. The value is the cue's own log-likelihood ratio, the sum
    of three parts, capped at ``cap``:

    - speed: ``r = log(implied / seen)`` is normal around ``-detour`` (roads bend: the straight line
      is a little shorter than the drive) with ``speed_sigma`` for one vehicle. Another vehicle's gap
      is anywhere in the travel-time gate the prior already spread the pair over, taken as 1.5 g
      wide, so its density of ``r`` is ``g / (1.5 g)``: LLR = log N(r) + log 1.5;
    - each heading: ``c = cos(velocity, e)`` has density ``3/8 (1 + c)^2`` for one vehicle (mostly
      forward; a turn between the views still leaves it positive); another vehicle on the same road
      goes either way, half of them as this one: LLR = log(f(c) / (f(c) / 2 + f(-c) / 2)) <= log 2.

    nan where either camera has no ground map, the pair overlaps in time or is of one camera, or a
    vehicle stands still at an end (slower than ``min_speed_mps``: no heading, no speed)."""

    def heading(c: float) -> float:
        forward, backward = (1.0 + c) ** 2, (1.0 - c) ** 2
        return math.log(max(forward, 1e-9) / ((forward + backward) / 2))

    def value(a: tuple, b: tuple) -> float:
        (ta, pa, va), (tb, pb, vb) = a, b
        gap = tb - ta
        speed_a, speed_b = float(np.hypot(*va)), float(np.hypot(*vb))
        if gap <= 0 or min(speed_a, speed_b) < min_speed_mps:
            return float("nan")
        e = pb - pa
        length = float(np.hypot(*e))
        if length < 1e-6:
            return float("nan")
        r = math.log(max(length / gap, 1e-3) / ((speed_a + speed_b) / 2))
        llr = -0.5 * ((r + detour) / speed_sigma) ** 2 - math.log(speed_sigma * math.sqrt(2 * math.pi)) + math.log(1.5)
        for v, speed in ((va, speed_a), (vb, speed_b)):
            llr += heading(float(np.dot(v, e)) / (speed * length))
        return float(np.clip(llr, -cap, cap))

    def fn(tracklets: Sequence[Tracklet], scene: Scene, others: Sequence[Tracklet] | None = None) -> np.ndarray:
        columns = tracklets if others is None else others
        out = np.full((len(tracklets), len(columns)), np.nan)
        if not scene.homographies:
            return out
        exits = [ground_end(t, scene, True, scale) for t in tracklets]
        entries = [ground_end(t, scene, False, scale) for t in tracklets]
        col_exits = exits if others is None else [ground_end(t, scene, True, scale) for t in columns]
        col_entries = entries if others is None else [ground_end(t, scene, False, scale) for t in columns]
        for i, t in enumerate(tracklets):
            for j, u in enumerate(columns):
                if t.camera == u.camera:
                    continue
                if t.end < u.start and exits[i] is not None and col_entries[j] is not None:
                    out[i, j] = value(exits[i], col_entries[j])
                elif u.end < t.start and col_exits[j] is not None and entries[i] is not None:
                    out[i, j] = value(col_exits[j], entries[i])
        return out

    fn.llr = lambda d, scene: d  # type: ignore[attr-defined]
    return fn


def is_appearance(fn: DistanceFn) -> bool:
    return bool(getattr(fn, "appearance", False))


def combine(matrices: Sequence[np.ndarray], weights: Sequence[float], log_prior: np.ndarray | float) -> np.ndarray:
    """The cost of linking each pair: minus its posterior log-odds, ``-(log_prior + sum_k w_k LLR_k)``
    over the cues defined (not nan) for it; nan where none is or the prior is nan (nothing known,
    or the time gates say no)."""
    total = np.zeros_like(matrices[0])
    defined = np.zeros(matrices[0].shape, bool)
    for m, w in zip(matrices, weights):
        ok = np.isfinite(m)
        total[ok] += w * m[ok]
        defined |= ok
    cost = -(log_prior + total)
    return np.where(defined & np.isfinite(cost), cost, np.nan)
