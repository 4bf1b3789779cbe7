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
    _dense: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)  # arrays' cache

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
        self._dense = None

    def arrays(self, cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rate per second, mean duration in seconds) for each entry of ``cameras`` (numbers >= 0)."""
        dense = self._dense
        largest = int(np.max(cameras, initial=0))
        if dense is None or largest >= len(dense[0]):
            size = max([largest, *self.count]) + 1
            rate, mean = np.full(size, 1.0 / MIN_SPAN_S), np.zeros(size)
            for c, n in self.count.items():
                rate[c] = n / max(self.last[c] - self.first[c], MIN_SPAN_S)
                mean[c] = self.total_s[c] / n
            dense = self._dense = (rate, mean)
        return dense[0][cameras], dense[1][cameras]


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
        self._ways = self._link_arrays()
        self.partial = topology is None or not topology.complete

    def log_odds(self, rows: Intervals, cols: Intervals, rates: CameraRates) -> np.ndarray:
        """(N, M) prior log-odds of each row against each column; nan where the gates say no."""
        i, j = np.meshgrid(np.arange(len(rows.start)), np.arange(len(cols.start)), indexing="ij")
        return self.pair_log_odds(rows.take(i.ravel()), cols.take(j.ravel()), rates).reshape(i.shape)

    def pair_log_odds(self, a: Intervals, b: Intervals, rates: CameraRates) -> np.ndarray:
        """(P,) prior log-odds of the pairs ``(a[k], b[k])``; nan where the gates say no."""
        p = self.priors
        rate_a, mean_a = rates.arrays(a.camera)
        rate_b, mean_b = rates.arrays(b.camera)
        overlap = (b.start <= a.end) & (b.end >= a.start)
        same = a.camera == b.camera
        gap = np.maximum(b.start - a.end, a.start - b.end)
        later_rate = np.where(b.start >= a.start, rate_b, rate_a)
        odds = np.full(overlap.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            if same.any():  # the same camera: a fragment within the continuity gap, else a return
                fragment = same & ~overlap & (gap <= self.continuity_gap_s)
                odds = np.where(fragment, p.fragment / (later_rate * self.continuity_gap_s), odds)
                odds = np.where(same & ~overlap & ~fragment, p.reappear / (later_rate * self.horizon_s), odds)
            both = ~same & overlap & self._may_overlap(a.camera, b.camera)
            if both.any():  # two views at once: the other camera's tracklets that overlap, from either side
                expected = np.maximum(rate_b * ((a.end - a.start) + mean_b), rate_a * ((b.end - b.start) + mean_a))
                odds = np.where(both, p.overlap / np.maximum(expected, 1e-9), odds)
            travel = ~same & ~overlap  # a journey between views
            linked = np.zeros(overlap.shape, bool)
            if self.links:
                self._link_odds(a, b, np.flatnonzero(travel), rate_a, rate_b, odds, linked)
            if self.partial:
                unknown = travel & ~linked & (gap <= self.max_gap_s)
                window = min(self.max_gap_s, self.horizon_s)
                odds = np.where(unknown, p.unknown / (later_rate * window), odds)
            return np.minimum(np.log(odds), MAX_LOG_ODDS)

    def _link_arrays(self) -> list[dict[str, np.ndarray]]:
        """The links as sorted arrays keyed by ``row camera * base + column camera``, one set per
        layer (a second link between the same two cameras is a second layer), for the rows that
        leave by it (direction 0: the column is the later camera) and those it reaches (1)."""
        self._base = max((max(a, b) for a, b in self.links), default=0) + 1
        entries: list[tuple[int, int, int, tuple]] = []  # (layer, code, direction, bounds)
        for (a, b), bounds in self.links.items():
            for layer, bound in enumerate(bounds):
                entries.append((layer, a * self._base + b, 0, bound))
                entries.append((layer, b * self._base + a, 1, bound))
        ways = []
        for layer in range(max((e[0] for e in entries), default=-1) + 1):
            rows = sorted((code, direction, bound) for lay, code, direction, bound in entries if lay == layer)
            nan3 = [np.nan] * 3
            ways.append({
                "code": np.array([r[0] * 2 + r[1] for r in rows], np.int64),  # the code and direction, one key
                "direction": np.array([r[1] for r in rows], np.int64),
                "lo": np.array([r[2][0] for r in rows], np.float64), "hi": np.array([r[2][1] for r in rows], np.float64),
                "mean": np.array([np.nan if r[2][2] is None else r[2][2] for r in rows], np.float64),
                "std": np.array([np.nan if r[2][3] is None else r[2][3] for r in rows], np.float64),
                "exit": np.array([nan3 if r[2][4] is None else r[2][4] for r in rows], np.float64).reshape(-1, 3),
                "entry": np.array([nan3 if r[2][5] is None else r[2][5] for r in rows], np.float64).reshape(-1, 3),
            })  # fmt: skip
        return ways

    def _link_odds(
        self, a: Intervals, b: Intervals, pairs: np.ndarray, rate_a: np.ndarray, rate_b: np.ndarray,
        odds: np.ndarray, linked: np.ndarray,
    ) -> None:  # fmt: skip
        """Fill ``odds`` (in place, the larger value) and ``linked`` at ``pairs`` (indices of the
        pairs between views) that a link joins, in either direction, looked up for all at once."""
        known = (a.camera[pairs] < self._base) & (b.camera[pairs] < self._base)
        pairs = pairs[known]
        if not len(pairs):
            return
        code = a.camera[pairs] * self._base + b.camera[pairs]
        middle_a = (a.start[pairs] + a.end[pairs]) / 2
        middle_b = (b.start[pairs] + b.end[pairs]) / 2
        for way in self._ways:
            for direction in (0, 1):
                key = code * 2 + direction
                at = np.minimum(np.searchsorted(way["code"], key), len(way["code"]) - 1)
                found = way["code"][at] == key
                if not found.any():
                    continue
                k, f = at[found], pairs[found]
                linked[f] = True
                forward = direction == 0  # a leaves by it: b is the later camera
                delta = (middle_b - middle_a)[found] if forward else (middle_a - middle_b)[found]
                inside = (delta >= way["lo"][k]) & (delta <= way["hi"][k])
                leaving, arriving = (a.exit[f], b.entry[f]) if forward else (b.exit[f], a.entry[f])
                for zone, points in (("exit", leaving), ("entry", arriving)):
                    x, y, radius = way[zone][k].T
                    inside &= ~(np.isfinite(radius) & (np.hypot(points[:, 0] - x, points[:, 1] - y) > radius))
                mean, std = way["mean"][k], way["std"][k]
                with np.errstate(invalid="ignore"):
                    normal = np.exp(-0.5 * ((delta - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))
                density = np.where(np.isfinite(mean), normal, 1.0 / np.maximum(way["hi"][k] - way["lo"][k], 1e-3))
                value = self.priors.link * density / (rate_b[f] if forward else rate_a[f])
                f, value = f[inside], value[inside]
                odds[f] = np.fmax(odds[f], value)

    def _may_overlap(self, cam_r: np.ndarray, cam_c: np.ndarray) -> np.ndarray:
        if self.topology is None:
            return np.ones(np.broadcast_shapes(cam_r.shape, cam_c.shape), bool)
        return self.topology.overlap_allowed(cam_r, cam_c)


def pair_prior(config: MatcherConfig, topology: TopologyConfig | None) -> PairPrior:
    """The prior of ``config``: its continuity gap (the ``continuity`` distance's ``max_gap_s``, else
    1 s) and its horizon (the online window: the longest a vehicle is waited for)."""
    gaps = [float(d.options().get("max_gap_s", 1.0)) for d in config.distances if d.name == "continuity"]
    return PairPrior(config, topology, max(gaps, default=1.0), config.online.window(topology))
