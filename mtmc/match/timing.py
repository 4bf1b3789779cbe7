"""The prior of a pair: how likely two tracklets are one vehicle from when and where (which camera)
each was seen, before any cue is read.

A vehicle seen by camera A has few possible continuations: a fragment of its own track a moment
later, its other view at the same time where two views overlap, or its arrival at a linked camera
after the link's travel time. The prior odds that tracklet j is that continuation of i are the
chance that such a continuation exists times its time density, over the rate at which the camera
shows other tracklets at that time (a camera link model):

    odds = share * p(time | same vehicle) / (rate of tracklets in the other camera)

- another camera, seen at once where the views may overlap: ``priors.overlap`` over the
  number of that camera's tracklets expected to overlap the pair (``rate * (duration + mean
  duration)``, the larger of the two directions);
- another camera, a link from the earlier to the later camera whose travel time (middle to middle)
  the pair's lies in (and, when the link learnt them, that left through its exit zone and arrived
  through its entry zone): ``priors.link`` times the link's travel-time density (uniform on
  ``[min_s, max_s]``, or the learnt normal ``mean_s``, ``std_s``) over the later camera's rate;
- another camera, no link known (no topology, or one that is not ``complete``), within
  ``max_gap_s``: ``priors.unknown`` over the later camera's tracklets in ``horizon_s``;
- the same camera: within ``continuity_gap_s`` a fragment (``priors.fragment`` over the
  tracklets starting in that gap), later a return (``priors.reappear`` over those in ``horizon_s``).

Pairs the time gates reject (:func:`mtmc.match.gates.time_gates`) get nan: no evidence. Rates are
each camera's tracklets per second over the time it has shown them, at least ``MIN_SPAN_S``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mtmc.match.config import MatcherConfig, TopologyConfig
from mtmc.types import Tracklet

MIN_SPAN_S = 30.0  # a camera's rate is counted over at least this long (few tracklets say little)
MAX_LOG_ODDS = math.log(20.0)  # a sparse camera's lone candidate: likely, never certain


@dataclass
class CameraRates:
    """Per camera: tracklets seen, their total duration, and the span of time they cover, so a
    rate (tracklets per second) and a mean duration; grown as tracklets arrive (online)."""

    count: dict[int, int] = field(default_factory=dict)
    total_s: dict[int, float] = field(default_factory=dict)
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, tracklets: Sequence[Tracklet]) -> CameraRates:
        rates = cls()
        rates.add(tracklets)
        return rates

    def add(self, tracklets: Sequence[Tracklet]) -> None:
        for t in tracklets:
            c = t.camera
            self.count[c] = self.count.get(c, 0) + 1
            self.total_s[c] = self.total_s.get(c, 0.0) + (t.end - t.start)
            self.first[c] = min(self.first.get(c, math.inf), t.start)
            self.last[c] = max(self.last.get(c, -math.inf), t.end)

    def arrays(self, cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rate per second, mean duration in seconds) for each entry of ``cameras``."""
        unique, index = np.unique(cameras, return_inverse=True)
        rate = np.empty(len(unique))
        mean = np.empty(len(unique))
        for k, c in enumerate(unique.tolist()):
            n = self.count.get(c, 0)
            span = self.last.get(c, 0.0) - self.first.get(c, 0.0) if n else 0.0
            rate[k] = max(n, 1) / max(span, MIN_SPAN_S)
            mean[k] = self.total_s[c] / n if n else 0.0
        return rate[index].reshape(np.shape(cameras)), mean[index].reshape(np.shape(cameras))


@dataclass(frozen=True)
class Intervals:
    """Tracklets as the prior reads them: start, end, camera, and where each was first and last
    seen (foot points, pixels: a link's learnt entry and exit zones)."""

    start: np.ndarray
    end: np.ndarray
    camera: np.ndarray
    entry: np.ndarray  # (N, 2)
    exit: np.ndarray  # (N, 2)

    @classmethod
    def of(cls, tracklets: Sequence[Tracklet]) -> Intervals:
        ends = [end_points(t) for t in tracklets]
        return cls(
            np.array([t.start for t in tracklets], np.float64),
            np.array([t.end for t in tracklets], np.float64),
            np.array([t.camera for t in tracklets], np.int64),
            np.array([e[0] for e in ends], np.float64).reshape(-1, 2),
            np.array([e[1] for e in ends], np.float64).reshape(-1, 2),
        )

    def take(self, index: np.ndarray | slice) -> Intervals:
        return Intervals(self.start[index], self.end[index], self.camera[index], self.entry[index], self.exit[index])

    def row(self, i: int) -> Intervals:
        return self.take(slice(i, i + 1))


def end_points(t: Tracklet) -> tuple[np.ndarray, np.ndarray]:
    """The foot points (bottom centre, pixels) of a tracklet's first and last boxes."""
    first, last = t.boxes[0], t.boxes[-1]
    return (
        np.array([first[0] + first[2] / 2, first[1] + first[3]], np.float64),
        np.array([last[0] + last[2] / 2, last[1] + last[3]], np.float64),
    )


class PairPrior:
    """Prior log-odds of pairs (module docstring) for one matcher config and topology."""

    def __init__(self, config: MatcherConfig, topology: TopologyConfig | None, continuity_gap_s: float, horizon_s: float):
        self.priors = config.priors
        self.max_gap_s = config.max_gap_s
        self.topology = topology
        self.continuity_gap_s = continuity_gap_s
        self.horizon_s = horizon_s
        self.links: dict[tuple[int, int], list[tuple[float, float, float | None, float | None, list | None, list | None]]] = {}
        if topology is not None:
            for link in topology.links:
                key = (int(link.from_[1:]), int(link.to[1:]))
                self.links.setdefault(key, []).append((link.min_s, link.max_s, link.mean_s, link.std_s, link.exit_zone, link.entry_zone))
        self._of_camera: dict[int, list[tuple[int, int]]] = {}  # camera -> the links that touch it
        for a, b in self.links:
            self._of_camera.setdefault(a, []).append((a, b))
            if b != a:
                self._of_camera.setdefault(b, []).append((a, b))
        self.partial = topology is None or not topology.complete

    def log_odds(self, rows: Intervals, cols: Intervals, rates: CameraRates) -> np.ndarray:
        """(N, M) prior log-odds of each row against each column; nan where the gates say no."""
        p = self.priors
        rate_r, mean_r = rates.arrays(rows.camera)
        rate_c, mean_c = rates.arrays(cols.camera)
        start_r, end_r, cam_r = rows.start[:, None], rows.end[:, None], rows.camera[:, None]
        start_c, end_c, cam_c = cols.start[None, :], cols.end[None, :], cols.camera[None, :]
        overlap = (start_c <= end_r) & (end_c >= start_r)
        same = cam_r == cam_c
        gap = np.maximum(start_c - end_r, start_r - end_c)
        later_rate = np.where(start_c >= start_r, rate_c[None, :], rate_r[:, None])
        odds = np.full(overlap.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            # the same camera: a fragment within the continuity gap, else a return
            fragment = same & ~overlap & (gap <= self.continuity_gap_s)
            odds = np.where(fragment, p.fragment / (later_rate * self.continuity_gap_s), odds)
            odds = np.where(same & ~overlap & ~fragment, p.reappear / (later_rate * self.horizon_s), odds)
            # two views at once: the other camera's tracklets that overlap, from either side
            expected = np.maximum(rate_c[None, :] * ((end_r - start_r) + mean_c[None, :]), rate_r[:, None] * ((end_c - start_c) + mean_r[:, None]))
            both = ~same & overlap & self._may_overlap(cam_r, cam_c)
            odds = np.where(both, p.overlap / np.maximum(expected, 1e-9), odds)
            # a journey between views
            travel = ~same & ~overlap
            linked = np.zeros(overlap.shape, bool)
            if self.links:
                middle_r, middle_c = (start_r + end_r) / 2, (start_c + end_c) / 2
                touching = {key for c in np.unique(rows.camera).tolist() for key in self._of_camera.get(c, ())}
                for a, b in sorted(touching):
                    bounds = self.links[(a, b)]
                    for forward in (True, False):  # rows in a, columns in b; then rows in b, columns in a
                        pair = travel & ((cam_r == a) & (cam_c == b) if forward else (cam_r == b) & (cam_c == a))
                        if not pair.any():
                            continue
                        linked |= pair
                        delta = (middle_c - middle_r) if forward else (middle_r - middle_c)
                        for lo, hi, mean, std, exit_zone, entry_zone in bounds:
                            inside = pair & (delta >= lo) & (delta <= hi)
                            leaving, arriving = (rows.exit[:, None, :], cols.entry[None, :, :]) if forward else (cols.exit[None, :, :], rows.entry[:, None, :])
                            inside &= _in_zone(leaving, exit_zone) & _in_zone(arriving, entry_zone)
                            density = (
                                np.exp(-0.5 * ((delta - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
                                if mean is not None and std is not None
                                else np.full(delta.shape, 1.0 / max(hi - lo, 1e-3))
                            )
                            arrival = rate_c[None, :] if forward else rate_r[:, None]
                            value = p.link * density / np.broadcast_to(arrival, density.shape)
                            odds = np.where(inside, np.fmax(odds, value), odds)
            if self.partial:
                unknown = travel & ~linked & (gap <= self.max_gap_s)
                window = min(self.max_gap_s, self.horizon_s)
                odds = np.where(unknown, p.unknown / (later_rate * window), odds)
            return np.minimum(np.log(odds), MAX_LOG_ODDS)


    def _may_overlap(self, cam_r: np.ndarray, cam_c: np.ndarray) -> np.ndarray:
        if self.topology is None:
            return np.ones(np.broadcast_shapes(cam_r.shape, cam_c.shape), bool)
        return self.topology.overlap_allowed(cam_r, cam_c)


def _in_zone(points: np.ndarray, zone: list | None) -> np.ndarray:
    """Whether (..., 2) points lie in a learnt zone ``[x, y, radius]`` (everywhere without one)."""
    if zone is None:
        return np.ones(points.shape[:-1], bool)
    x, y, radius = zone
    return np.hypot(points[..., 0] - x, points[..., 1] - y) <= radius


def pair_prior(config: MatcherConfig, topology: TopologyConfig | None) -> PairPrior:
    """The prior of ``config``: its continuity gap (the ``continuity`` distance's ``max_gap_s``, else
    1 s) and its horizon (the online window: the longest a vehicle is waited for)."""
    gaps = [float(d.options().get("max_gap_s", 1.0)) for d in config.distances if d.name == "continuity"]
    return PairPrior(config, topology, max(gaps, default=1.0), config.online.window(topology))
