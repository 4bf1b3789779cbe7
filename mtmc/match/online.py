"""Online association: ended tracklets in, a global id each within a bounded delay, revised later.

The same core as the offline mode (``distance_matrix``: distances by name, re-ranking, time gates;
``constrained_agglomerative`` with ``cannot_link``), run on a bounded window of recent tracklets.

Determinism: decisions are made on a fixed data-time grid, so the final ids depend only on the set
of tracklets, never on their arrival order or on how the watermark advanced. Epoch ``e`` holds the
tracklets whose ``end`` lies in ``[e * step_s, (e + 1) * step_s)``; it is decided once the
watermark (every camera's tracklets ending at or before it have been given) reaches
``(e + 1) * step_s + patience_s``. Deciding an epoch (its tracklets sorted by key):

1. distances: each tracklet against the window's tracklets (and the epoch's) that pass the time
   gates (same camera, overlap, travel-time link; computed row by row as ``time_gates`` would,
   on the window kept as arrays, and only on the slots of the tracklet's own and linked cameras
   when the topology is complete and views exclusive): one ``distance_rows`` row per tracklet
   over its candidates only, kept in a sparse cache (a pair is computed once). With re-ranking,
   ``distance_matrix`` on blocks of at most ``max_block`` tracklets: the whole window when it fits
   (re-ranking needs a gallery), else the gated candidates;
2. the epoch's tracklets are clustered among themselves (constrained agglomerative, so two
   same-epoch views of one vehicle start as one identity);
3. Hungarian (``linear_sum_assignment``) between those clusters and the identities in the window:
   cost = linkage (``config.linkage``) of the defined distances to the identity's window members,
   forbidden if a cannot-link pair (same camera overlapping in time, or any overlap with
   ``exclusive_views``) would join; pairs at most ``threshold`` take the identity, the other
   clusters become new identities (ids issued in decision order, from 1);
4. revision: the offline core re-run on the window members of the identities the epoch touched
   (its own and those within ``threshold`` of one of its tracklets); identities whose window
   members all fall in one cluster are merged into the oldest (smallest) id, unless that puts a
   cannot-link pair in one identity.

Memory: a tracklet whose end is older than ``window_s`` before the last decided epoch boundary is
final: it leaves the window and ``advance`` hands it back with its id; an identity lives while it
has window members. Nothing but counters grows with the run's length.

Provisional answers (``provisional``): for tracklets still live, the identity each would join if
its epoch were decided now (steps 1 to 3 on the window as it stands), for the live view only; it
changes no state, so decisions are the same whether or not it is asked.

Clustering runs per connected component of the pairs at most ``threshold`` apart (clusters of
different components can never merge), which gives exactly ``constrained_agglomerative``'s labels
on the whole matrix at a fraction of the cost.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import MatcherConfig, TopologyConfig
from mtmc.match.distances import Scene, TrackletBlock, co_occurring, features
from mtmc.match.evidence import NegativeMoments, self_calibrated
from mtmc.match.gates import cannot_link
from mtmc.match.network import NetworkLearner
from mtmc.match.offline import build_distances, distance_matrix, distance_rows
from mtmc.match.timing import CameraRates, Intervals, end_points, pair_prior
from mtmc.types import Tracklet

Key = tuple[int, int]
Row = tuple[np.ndarray, np.ndarray]  # a new tracklet's defined distances: (window slots, values)
CALIBRATION_PAIRS = 5_000  # the latest gated cross-camera pairs appearance is calibrated on
_FORBIDDEN = 1e9  # cost of a pair the assignment must not take (linear_sum_assignment wants finite costs)


@dataclass(frozen=True)
class Decision:
    """``key`` got ``global_id``: first ("assign") or by a merge of identities ("revise"), when the
    watermark reached ``decided_at_s`` (data time: its epoch's end plus ``patience_s``); the
    tracklet was last seen at ``end_s`` (data time)."""

    key: Key
    global_id: int
    kind: Literal["assign", "revise"]
    decided_at_s: float
    end_s: float = field(default=math.nan, compare=False)


def cluster_sparse(
    tracklets: Sequence[Tracklet],
    pairs: dict[tuple[int, int], float] | tuple[np.ndarray, np.ndarray, np.ndarray],
    threshold: float,
    linkage: Literal["average", "complete"] = "average",
    topology: TopologyConfig | None = None,
) -> np.ndarray:
    """Labels 0..K-1 (numbered by first member) of ``constrained_agglomerative`` on the distance
    given sparsely (``pairs[(i, j)] = d`` or arrays ``(i, j, d)``, i < j, others unknown), with
    ``cannot_link``; computed per connected component of the pairs at most ``threshold`` apart."""
    n = len(tracklets)
    if n == 0:
        return np.zeros(0, np.int64)
    if isinstance(pairs, dict):
        first = np.array([i for i, _ in pairs], np.int64)
        second = np.array([j for _, j in pairs], np.int64)
        dist = np.array(list(pairs.values()), np.float64)
    else:
        first, second, dist = (np.asarray(a) for a in pairs)
    close = dist <= threshold
    graph = coo_matrix((np.ones(int(close.sum())), (first[close], second[close])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    inside = component[first] == component[second]  # pairs across components never matter
    first, second, dist = first[inside], second[inside], dist[inside]
    by_pair = np.argsort(component[first], kind="stable")
    first, second, dist = first[by_pair], second[by_pair], dist[by_pair]
    pair_cuts = np.searchsorted(component[first], np.arange(component.max() + 2))
    representative = np.arange(n)
    order = np.argsort(component, kind="stable")
    member_cuts = np.searchsorted(component[order], np.arange(component.max() + 2))
    position = np.empty(n, np.int64)
    for c in range(component.max() + 1):
        index = order[member_cuts[c] : member_cuts[c + 1]]
        if len(index) < 2:
            continue
        position[index] = np.arange(len(index))
        lo, hi = pair_cuts[c], pair_cuts[c + 1]
        sub = np.full((len(index), len(index)), np.nan)
        a, b = position[first[lo:hi]], position[second[lo:hi]]
        sub[a, b] = sub[b, a] = dist[lo:hi]
        labels = constrained_agglomerative(
            sub, cannot_link([tracklets[g] for g in index.tolist()], topology), threshold, linkage
        )
        for label in range(int(labels.max()) + 1):
            group = index[labels == label]
            representative[group] = group.min()
    return np.unique(representative, return_inverse=True)[1].astype(np.int64)


def _overlap(a: Tracklet, b: Tracklet) -> bool:
    return a.start <= b.end and b.start <= a.end


class _Columns:
    """The window by slot (a freed slot is reused): interval, camera, track, global id and unit
    feature as arrays, so the time gates and the distances of a new tracklet against its
    candidates are vector operations on slices rather than loops over tracklets; and each
    camera's slots, so a tracklet whose gates can only pass a few cameras scans only theirs."""

    def __init__(self) -> None:
        self.start = np.zeros(0)
        self.end = np.zeros(0)
        self.camera = np.zeros(0, np.int64)
        self.track = np.zeros(0, np.int64)
        self.gid = np.zeros(0, np.int64)
        self.alive = np.zeros(0, bool)
        self.entry = np.zeros((0, 2))  # first and last foot points (timing.Intervals)
        self.exit = np.zeros((0, 2))
        self.unit = np.zeros((0, 0))  # L2-normalised track-mean features, as distances.features
        self.has_unit = np.zeros(0, bool)
        self.tracklets: list[Tracklet | None] = []
        self.slot: dict[Key, int] = {}
        self._free: list[int] = []
        self._of_camera: dict[int, set[int]] = defaultdict(set)
        self._of_camera_array: dict[int, np.ndarray] = {}  # _of_camera as arrays, until a camera's set changes

    def add(self, tracklet: Tracklet, gid: int) -> None:
        unit, have = features([tracklet])
        if have[0] and unit.shape[1] != self.unit.shape[1]:
            if self.has_unit.any():
                raise ValueError(
                    f"tracklet c{tracklet.camera:03d}/{tracklet.track} has a {unit.shape[1]}-value feature, "
                    f"the window's have {self.unit.shape[1]}: every worker must run the same embedder"
                )
            self.unit = np.zeros((len(self.tracklets), unit.shape[1]))
        if not self._free:
            size = len(self.tracklets)
            grown = max(64, 2 * size)
            for name in ("start", "end", "camera", "track", "gid", "alive", "has_unit"):
                column = getattr(self, name)
                setattr(self, name, np.concatenate([column, np.zeros(grown - size, column.dtype)]))
            self.unit = np.concatenate([self.unit, np.zeros((grown - size, self.unit.shape[1]))])
            self.entry = np.concatenate([self.entry, np.zeros((grown - size, 2))])
            self.exit = np.concatenate([self.exit, np.zeros((grown - size, 2))])
            self.tracklets.extend([None] * (grown - size))
            self._free = list(range(grown - 1, size - 1, -1))
        slot = self._free.pop()
        self.start[slot], self.end[slot] = tracklet.start, tracklet.end
        self.camera[slot], self.track[slot], self.gid[slot] = tracklet.camera, tracklet.track, gid
        self.alive[slot] = True
        self.has_unit[slot] = have[0]
        self.unit[slot] = unit[0] if have[0] else 0.0
        self.entry[slot], self.exit[slot] = end_points(tracklet)
        self.tracklets[slot] = tracklet
        self.slot[tracklet.key] = slot
        self._of_camera[tracklet.camera].add(slot)
        self._of_camera_array.pop(tracklet.camera, None)

    def remove(self, key: Key) -> None:
        slot = self.slot.pop(key)
        self.alive[slot] = False
        self.tracklets[slot] = None
        self._free.append(slot)
        camera = int(self.camera[slot])
        self._of_camera[camera].discard(slot)
        self._of_camera_array.pop(camera, None)

    def of_cameras(self, cameras: Sequence[int]) -> np.ndarray:
        """The live slots of ``cameras``."""
        arrays = []
        for camera in cameras:
            array = self._of_camera_array.get(camera)
            if array is None:
                array = self._of_camera_array[camera] = np.fromiter(self._of_camera.get(camera, ()), np.int64)
            arrays.append(array)
        return np.concatenate(arrays) if arrays else np.zeros(0, np.int64)

    def intervals(self, slots: np.ndarray) -> Intervals:
        """The window tracklets at ``slots`` as the prior reads them."""
        return Intervals(self.start[slots], self.end[slots], self.camera[slots], self.entry[slots], self.exit[slots])

    def block(self, slots: np.ndarray) -> TrackletBlock:
        """The window tracklets at ``slots``, with their features, for a distance call."""
        return TrackletBlock(
            self.tracklets, slots, self.unit[slots], self.has_unit[slots], self.start[slots], self.end[slots], self.camera[slots]
        )


class OnlineAssociator:
    """Incremental association with bounded delay and memory (module docstring)."""

    def __init__(
        self, config: MatcherConfig | None = None, scene: Scene | None = None, topology: TopologyConfig | None = None,
        seed: TopologyConfig | None = None, names: dict[int, str] | None = None,
    ) -> None:  # fmt: skip
        self.config = config or MatcherConfig()
        self.scene = scene or Scene()
        self.topology = topology
        online = self.config.online
        self.step_s = online.step_s
        self.patience_s = online.patience_s
        self.window_s = online.window(topology)
        self.max_block = online.max_block
        # The time gates are applied by ``_candidates`` (rows only, as gates.time_gates does for the
        # whole matrix); distance_matrix is called ungated on blocks of candidates.
        self._ungated = self.config.model_copy(update={"max_gap_s": math.inf})
        self._built = build_distances(self.config)
        # Without a topology the camera network is learnt as tracklets are decided (``_learn``):
        # no camera pair is joined before it has a link or an overlap (or the seed gives one).
        self.learner: NetworkLearner | None = None
        if topology is None and self.config.network.learn and self.scene.appearance is not None:
            self.learner = NetworkLearner(self.config.network, self.window_s, names, seed)
            topology = self.learner.topology()
        self._set_topology(topology)
        self._rates = CameraRates()  # every tracklet of the epochs decided so far
        self._negatives = NegativeMoments()  # their co-occurring same-camera pairs' distances
        self._appearance = self.scene.appearance_model  # as shipped; self.scene's is read on the run
        self._candidates_seen: deque[float] = deque(maxlen=CALIBRATION_PAIRS)  # gated cross-camera distances
        self._candidate_priors: deque[float] = deque(maxlen=CALIBRATION_PAIRS)  # and their prior probabilities
        self._candidates_count = 0  # pairs ever added (the deques keep the latest)
        self._fitted_on = 0
        self._negatives_fitted = 0
        self._pending: dict[int, list[Tracklet]] = {}
        self._pending_keys: set[Key] = set()
        self._next: int | None = None  # every epoch before it is decided
        self._window: dict[Key, Tracklet] = {}
        self._columns = _Columns()
        self._ids: dict[Key, int] = {}
        self._members: dict[int, set[Key]] = {}
        self._final_end: dict[int, dict[int, float]] = {}  # id -> camera -> latest end of its final members
        # re-ranked distances depend on the block they were computed in, so they are kept (sparse,
        # symmetric, window tracklets only); plain ones are recomputed when a revision needs them
        self._dist: dict[Key, dict[Key, float]] = {}
        self._heap: list[tuple[float, Key]] = []
        self._issued = 0
        self.late = 0
        self.duplicates = 0
        self.revisions = 0
        self.epochs = 0  # epochs decided that held tracklets

    def _set_topology(self, topology: TopologyConfig | None) -> None:
        """Gate and weigh pairs by ``topology`` from now on (the learnt one grows during a run)."""
        self.topology = topology
        self.exclusive = bool(topology is not None and topology.exclusive_views)
        self._prior = pair_prior(self.config, topology)
        # camera -> (other camera, lo, hi): a link says middle(other) - middle(this) in [lo, hi]
        self._travel: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
        for link in topology.links if topology is not None else []:
            a, b = int(link.from_[1:]), int(link.to[1:])
            self._travel[a].append((b, link.min_s, link.max_s))
            self._travel[b].append((a, -link.max_s, -link.min_s))
        self._cameras_linked = 1 + max((c for c in self._travel), default=-1)
        self._link_rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # camera -> (lo, hi) by other camera
        self._reach: dict[int, list[int]] = {}  # camera -> the cameras its gates can pass (_reachable)

    # ---- public --------------------------------------------------------------------------------

    @property
    def window_size(self) -> int:
        return len(self._window)

    @property
    def identities_active(self) -> int:
        """Identities with a member still in the window: they may still grow or be merged."""
        return len(self._members)

    @property
    def identities_issued(self) -> int:
        """Global ids given so far (ids are issued 1, 2, ...; a merge does not take one back)."""
        return self._issued

    @property
    def pending_size(self) -> int:
        return len(self._pending_keys)

    def global_id(self, key: Key) -> int | None:
        return self._ids.get(tuple(key))

    def epoch_of(self, end_s: float) -> int:
        return math.floor(end_s / self.step_s)

    def add(self, tracklet: Tracklet) -> None:
        if len(tracklet.times) == 0:
            raise ValueError(f"tracklet c{tracklet.camera:03d}/{tracklet.track} has no boxes")
        key = tracklet.key
        if key in self._pending_keys or key in self._window:
            self.duplicates += 1
            return
        epoch = self.epoch_of(tracklet.end)
        if self._next is not None and epoch < self._next:
            self.late += 1
            epoch = self._next
        self._pending.setdefault(epoch, []).append(tracklet)
        self._pending_keys.add(key)

    def advance(self, watermark_s: float) -> tuple[list[Decision], list[tuple[Tracklet, int]]]:
        """Decide every epoch the watermark closes; return the decisions and the finalised tracklets."""
        if math.isnan(watermark_s):
            return [], []
        if watermark_s == math.inf:
            return self.finish()
        decisions: list[Decision] = []
        finals: list[tuple[Tracklet, int]] = []
        last = math.floor((watermark_s - self.patience_s) / self.step_s) - 1
        for epoch in sorted(e for e in self._pending if e <= last):
            self._decide(epoch, decisions, finals)
        if self._next is None or last + 1 > self._next:
            self._next = last + 1
        self._finalise(self._next * self.step_s - self.window_s, finals)
        return decisions, finals

    def finish(self) -> tuple[list[Decision], list[tuple[Tracklet, int]]]:
        """The run is over: decide every pending tracklet, finalise everything."""
        decisions: list[Decision] = []
        finals: list[tuple[Tracklet, int]] = []
        for epoch in sorted(self._pending):
            self._decide(epoch, decisions, finals)
            self._next = max(self._next if self._next is not None else epoch + 1, epoch + 1)
        self._finalise(math.inf, finals)
        return decisions, finals

    def provisional(self, tracklets: Sequence[Tracklet]) -> dict[Key, int | None]:
        """Which decided identity each live (not yet ended, so not yet added) tracklet would join
        if it were decided now, with the others given as its epoch: ``_decide``'s candidates and
        time gates, priors (the batch counted in the rates, as there), calibration, distances,
        batch clustering and assignment (threshold, cannot-link, exclusive views) against the
        window as it stands; None: it would start a new identity (or nothing defines a distance
        yet). Read-only, so decisions are the same whether or not it is asked: the network is not
        learnt and appearance not recalibrated from these. Tracklets already added or in the
        window, and those without boxes, are left out. Cost: ``_decide``'s on the same batch,
        less calibration, learning and revision."""
        batch = sorted(
            (t for t in tracklets if len(t.times) and t.key not in self._pending_keys and t.key not in self._window),
            key=lambda t: t.key,
        )
        if not batch:
            return {}
        rates = replace(
            self._rates, count=dict(self._rates.count), total_s=dict(self._rates.total_s),
            first=dict(self._rates.first), last=dict(self._rates.last),
        )  # fmt: skip
        rates.add(batch)
        candidates = self._candidates(batch)
        if self.config.rerank.enabled:
            rows, inner = self._reranked_distances(batch, candidates, rates)
        else:
            rows, inner = self._distances(batch, candidates, self._priors(batch, candidates, rates))
        labels = cluster_sparse(batch, inner, self.config.cost_threshold, self.config.linkage, self.topology)
        groups = [np.flatnonzero(labels == k).tolist() for k in range(int(labels.max()) + 1)]
        matched = self._assign(batch, groups, rows)
        return {batch[i].key: matched.get(g) for g, group in enumerate(groups) for i in group}

    # ---- one epoch -----------------------------------------------------------------------------

    def _decide(self, epoch: int, decisions: list[Decision], finals: list[tuple[Tracklet, int]]) -> None:
        boundary = (epoch + 1) * self.step_s
        at = boundary + self.patience_s
        self._finalise(boundary - self.window_s, finals)
        batch = sorted(self._pending.pop(epoch), key=lambda t: t.key)
        self._pending_keys.difference_update(t.key for t in batch)
        self._rates.add(batch)
        changed = self._learn(batch)
        candidates = self._candidates(batch)
        priors = self._priors(batch, candidates)
        self._calibrate(batch, candidates, priors)
        if self.config.rerank.enabled:
            rows, inner = self._reranked_distances(batch, candidates)
        else:
            rows, inner = self._distances(batch, candidates, priors)
        threshold, linkage = self.config.cost_threshold, self.config.linkage

        labels = cluster_sparse(batch, inner, threshold, linkage, self.topology)
        groups = [np.flatnonzero(labels == k).tolist() for k in range(int(labels.max()) + 1)]
        matched = self._assign(batch, groups, rows)
        for g, group in enumerate(groups):
            gid = matched.get(g)
            if gid is None:
                self._issued += 1
                gid = self._issued
                self._members[gid] = set()
                self._final_end[gid] = {}
            for i in group:
                t = batch[i]
                self._window[t.key] = t
                self._columns.add(t, gid)
                self._ids[t.key] = gid
                self._members[gid].add(t.key)
                heapq.heappush(self._heap, (t.end, t.key))
                decisions.append(Decision(t.key, gid, "assign", at, t.end))
        if self.config.rerank.enabled:
            self._keep(batch, rows, inner)
        touched = {self._ids[t.key] for t in batch}
        if changed:  # a link or an overlap was learnt: the window's identities may now join across it
            touched |= set(self._members)
            self._split_unrelated(at, decisions)
        for slots, values in rows:
            touched.update(self._columns.gid[slots[values <= threshold]].tolist())
        self._revise(touched, at, decisions)
        self.epochs += 1

    def _keep(self, batch: list[Tracklet], rows: list[Row], inner: dict[tuple[int, int], float]) -> None:
        """Remember the epoch's re-ranked distances for later revisions (``_member_pairs``)."""
        pool = self._columns.tracklets
        for t in batch:
            self._dist.setdefault(t.key, {})
        for t, (slots, values) in zip(batch, rows):
            for slot, d in zip(slots.tolist(), values.tolist()):
                other = pool[slot].key  # type: ignore[union-attr]
                self._dist[t.key][other] = self._dist[other][t.key] = d
        for (i, j), d in inner.items():
            a, b = batch[i].key, batch[j].key
            self._dist[a][b] = self._dist[b][a] = d

    def _candidates(self, batch: list[Tracklet]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per batch tracklet, the window slots (in key order) and the other batch tracklets
        (indices) that pass the time gates with it, as ``time_gates`` would say."""
        columns = self._columns
        starts = np.array([t.start for t in batch])
        ends = np.array([t.end for t in batch])
        cameras = np.array([t.camera for t in batch], np.int64)
        out = []
        for i, t in enumerate(batch):
            reach = self._reachable(t.camera)
            if reach is None:
                slots = np.flatnonzero(self._gate(t, columns.start, columns.end, columns.camera) & columns.alive)
            else:
                pool = columns.of_cameras(reach)
                slots = pool[self._gate(t, columns.start[pool], columns.end[pool], columns.camera[pool])]
            slots = slots[np.lexsort((columns.track[slots], columns.camera[slots]))]
            inside = self._gate(t, starts, ends, cameras)
            inside[i] = False
            out.append((slots, np.flatnonzero(inside)))
        return out

    def _reachable(self, camera: int) -> list[int] | None:
        """The cameras whose tracklets can pass the time gates with one of ``camera``'s: itself and
        its linked and overlapping cameras, when the topology is complete and views are exclusive (otherwise any
        camera can, by overlap or by time alone: None)."""
        if self.topology is None or not self.exclusive or not self.topology.complete:
            return None
        reach = self._reach.get(camera)
        if reach is None:
            overlapping = {o for pair in self.topology.overlaps for o in (int(pair[0][1:]), int(pair[1][1:])) if camera in (int(pair[0][1:]), int(pair[1][1:]))}
            reach = self._reach[camera] = sorted({camera, *overlapping, *(other for other, _, _ in self._travel.get(camera, ()))})
        return reach

    def _gate(self, t: Tracklet, starts: np.ndarray, ends: np.ndarray, cameras: np.ndarray) -> np.ndarray:
        """Which of the given intervals pass the time gates with ``t``: same camera, overlap (unless
        exclusive views), and with a topology the travel-time links (middle to middle)."""
        overlap = (starts <= t.end) & (ends >= t.start)
        mask = cameras == t.camera
        if self.topology is None:
            gap = np.maximum(starts - t.end, t.start - ends)
            return mask | overlap | (gap <= self.config.max_gap_s)
        mask |= overlap & self.topology.overlap_allowed(t.camera, cameras)
        low, high = self._link_table(t.camera)
        column = np.minimum(cameras, self._cameras_linked)  # the last column: cameras without links
        travel = (starts + ends) / 2 - (t.start + t.end) / 2
        for lo, hi in zip(low, high):
            mask |= (travel >= lo[column]) & (travel <= hi[column]) & ~overlap
        if not self.topology.complete:  # pairs the topology knows nothing of: time alone
            unlinked = np.isnan(low[0][column]) if len(low) else np.ones(len(cameras), bool)
            gap = np.maximum(starts - t.end, t.start - ends)
            mask |= unlinked & ~overlap & (gap <= self.config.max_gap_s)
        return mask

    def _link_table(self, camera: int) -> tuple[np.ndarray, np.ndarray]:
        """(layers, cameras + 1) travel-time bounds from ``camera`` to each camera number (nan: no
        link); one layer per link between the same two cameras."""
        table = self._link_rows.get(camera)
        if table is None:
            ranges: dict[int, list[tuple[float, float]]] = defaultdict(list)
            for other, lo, hi in self._travel.get(camera, ()):
                ranges[other].append((lo, hi))
            layers = max((len(r) for r in ranges.values()), default=0)
            table = (np.full((layers, self._cameras_linked + 1), np.nan), np.full((layers, self._cameras_linked + 1), np.nan))
            for other, bounds in ranges.items():
                for layer, (lo, hi) in enumerate(bounds):
                    table[0][layer, other], table[1][layer, other] = lo, hi
            self._link_rows[camera] = table
        return table

    def _distances(
        self, batch: list[Tracklet], gated: list[tuple[np.ndarray, np.ndarray]], priors: tuple[list[np.ndarray], np.ndarray]
    ) -> tuple[list[Row], dict[tuple[int, int], float]]:
        """Defined costs of each batch tracklet to its window candidates (by slot), and between
        batch tracklets (by batch index pair i < j): a row per tracklet, only its candidates."""
        row_priors, among_prior = priors
        among = distance_rows(batch, None, self.config, among_prior, self.scene, self._built)
        rows: list[Row] = []
        inner: dict[tuple[int, int], float] = {}
        for i, (slots, others) in enumerate(gated):
            block = self._columns.block(slots)
            values = distance_rows(batch[i : i + 1], block, self.config, row_priors[i][None, :], self.scene, self._built)[0]
            defined = np.isfinite(values)
            rows.append((slots[defined], values[defined]))
            for j in others.tolist():
                d = float(among[i, j])
                if math.isfinite(d):
                    inner.setdefault((min(i, j), max(i, j)), d)
        return rows, inner

    def _learn(self, batch: list[Tracklet]) -> bool:
        """Feed the learner the batch against the window; True when the learnt network changed."""
        if self.learner is None:
            return False
        self.learner.observe(batch, list(self._window.values()), self.scene.appearance_model)
        topology = self.learner.topology()
        if topology == self.topology:
            return False
        self._set_topology(topology)
        return True

    def _priors(
        self, batch: list[Tracklet], gated: list[tuple[np.ndarray, np.ndarray]], rates: CameraRates | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """The prior log-odds of each batch tracklet against its window candidates (as ``gated``
        lists them) and of the batch among itself: computed once, read by calibration and cost.
        ``rates``: the cameras' rates to read (default: the run's)."""
        rates = self._rates if rates is None else rates
        intervals = Intervals.of(batch)
        counts = [len(slots) for slots, _ in gated]
        slots = np.concatenate([slots for slots, _ in gated]) if gated else np.zeros(0, np.int64)
        rows = np.repeat(np.arange(len(batch)), counts)  # every (batch tracklet, candidate) pair, in one call
        flat = self._prior.pair_log_odds(intervals.take(rows), self._columns.intervals(slots), rates)
        return np.split(flat, np.cumsum(counts)[:-1]), self._prior.log_odds(intervals, intervals, rates)

    def _calibrate(
        self, batch: list[Tracklet], gated: list[tuple[np.ndarray, np.ndarray]], priors: tuple[list[np.ndarray], np.ndarray]
    ) -> None:
        """Read appearance on the run so far (``evidence.self_calibrated``): add the batch's
        co-occurring pairs and its gated cross-camera candidates (distance, prior probability),
        and fit again once either grew by a fifth."""
        self._negatives.add(co_occurring(batch))
        columns = self._columns
        unit, have = features(batch)
        if not have.any():
            return
        window = columns.unit.shape[1] == unit.shape[1]  # else nothing with a feature is in the window yet
        rows, among = priors
        cameras = np.array([t.camera for t in batch])
        for i, (t, (slots, others)) in enumerate(zip(batch, gated)):
            if not have[i]:
                continue
            if window:
                keep = columns.has_unit[slots]
                slots, row = slots[keep], rows[i][keep]
                same = slots[(columns.camera[slots] == t.camera) & (columns.start[slots] <= t.end) & (columns.end[slots] >= t.start)]
                self._negatives.add(np.clip(1.0 - columns.unit[same] @ unit[i], 0.0, 2.0))
                crossing = columns.camera[slots] != t.camera
                cross, prior = slots[crossing], row[crossing]
                self._candidates_seen.extend(np.clip(1.0 - columns.unit[cross] @ unit[i], 0.0, 2.0).tolist())
            else:
                prior = np.zeros(0)
            inner = others[(others > i) & have[others] & (cameras[others] != t.camera)]
            self._candidates_seen.extend(np.clip(1.0 - unit[inner] @ unit[i], 0.0, 2.0).tolist())
            self._candidate_priors.extend((1.0 / (1.0 + np.exp(-np.concatenate([prior, among[i, inner]])))).tolist())
            self._candidates_count += len(prior) + len(inner)
        seen = self._candidates_count
        if seen >= 1.2 * self._fitted_on + 1 or self._negatives.count >= 1.2 * self._negatives_fitted + 1:
            share = float(np.mean(self._candidate_priors)) if self._candidate_priors else 0.0
            appearance = self_calibrated(self._appearance, self._negatives, np.array(self._candidates_seen), share)
            self.scene = replace(self.scene, appearance=appearance)
            self._fitted_on, self._negatives_fitted = seen, self._negatives.count

    def _log_prior(self, rows: Intervals, cols: Intervals) -> np.ndarray:
        return self._prior.log_odds(rows, cols, self._rates)

    def _reranked_distances(
        self, batch: list[Tracklet], gated: list[tuple[np.ndarray, np.ndarray]], rates: CameraRates | None = None
    ) -> tuple[list[Row], dict[tuple[int, int], float]]:
        """As ``_distances``, re-ranked: ``distance_matrix`` on blocks of at most ``max_block``
        tracklets, the whole window when it fits (re-ranking needs a gallery), else chunks of the
        batch with their candidates (``rates``: as ``_priors``)."""
        rates = self._rates if rates is None else rates
        n = len(batch)
        whole = len(self._window) + n <= self.max_block
        window = self._columns.tracklets
        keys = sorted(self._window) if whole else sorted({window[s].key for mine, _ in gated for s in mine.tolist()})  # type: ignore[union-attr]
        pool = [self._window[k] for k in keys] + batch
        first = len(keys)  # pool[first + i] is batch[i]
        at = {k: p for p, k in enumerate(keys)}
        candidates = [
            np.array([at[window[s].key] for s in mine.tolist()] + (first + others).tolist(), np.int64)  # type: ignore[union-attr]
            for mine, others in gated
        ]
        rows: list[dict[Key, float]] = [{} for _ in range(n)]
        inner: dict[tuple[int, int], float] = {}
        limit = self.max_block
        calls: list[tuple[list[int], list[int]]] = []  # (batch indices, extra pool indices)
        if whole:
            calls.append((list(range(n)), list(range(first))))
        chunk: list[int] = []
        union: set[int] = set()
        for i in range(0 if whole else n):
            mine = set(candidates[i].tolist())
            if len(mine) + 1 > limit:  # alone too big: its candidates in parts
                spread = sorted(mine)
                calls.extend(([i], spread[k : k + limit - 1]) for k in range(0, len(spread), limit - 1))
                continue
            grown = union | mine | {first + i} | {first + c for c in chunk}
            if chunk and len(grown) > limit:
                calls.append((chunk, sorted(union)))
                chunk, union = [], set()
            chunk.append(i)
            union |= mine
        if chunk:
            calls.append((chunk, sorted(union)))
        for chunk, extra in calls:
            index = sorted(set(extra) | {first + i for i in chunk})
            if len(index) < 2:
                continue
            position = {p: k for k, p in enumerate(index)}
            block = [pool[p] for p in index]
            dist = distance_matrix(block, self._ungated, self.scene, self.topology, rates)
            for i in chunk:
                here = position[first + i]
                for p in candidates[i].tolist():
                    if p not in position:
                        continue
                    d = float(dist[here, position[p]])
                    if not math.isfinite(d):
                        continue
                    if p >= first:
                        pair = (min(i, p - first), max(i, p - first))
                        inner.setdefault(pair, d)
                    else:
                        rows[i].setdefault(pool[p].key, d)
        slot = self._columns.slot
        return [(np.array([slot[k] for k in row], np.int64), np.array(list(row.values()))) for row in rows], inner

    def _forbidden(self, tracklets: Sequence[Tracklet], gid: int) -> bool:
        """True when the tracklets may not join identity ``gid`` (cannot-link with a member)."""
        final = self._final_end.get(gid, {})
        for t in tracklets:
            if final:
                apart = [end for camera, end in final.items() if camera == t.camera or not self._may_overlap(camera, t.camera)]
                if t.start <= max(apart, default=-math.inf):
                    return True
            for key in self._members.get(gid, ()):
                m = self._window[key]
                if (m.camera == t.camera or not self._may_overlap(m.camera, t.camera)) and _overlap(m, t):
                    return True
        return False

    def _may_overlap(self, a: int, b: int) -> bool:
        return self.topology is None or self.topology.may_overlap(a, b)

    def _assign(self, batch: list[Tracklet], groups: list[list[int]], rows: list[Row]) -> dict[int, int]:
        """Hungarian between the batch's clusters and the window's identities: cluster -> id."""
        linkages: list[tuple[np.ndarray, np.ndarray]] = []  # per cluster: identities, linkage to each
        for group in groups:
            slots = np.concatenate([rows[i][0] for i in group])
            if not len(slots):
                linkages.append((np.zeros(0, np.int64), np.zeros(0)))
                continue
            dist = np.concatenate([rows[i][1] for i in group])
            ids, member = np.unique(self._columns.gid[slots], return_inverse=True)
            if self.config.linkage == "average":
                value = np.bincount(member, dist) / np.bincount(member)
            else:
                value = np.full(len(ids), -math.inf)
                np.maximum.at(value, member, dist)
            linkages.append((ids, value))
        threshold = self.config.cost_threshold
        allowed: list[tuple[int, int, float]] = []  # (cluster, identity, linkage) it may take
        for g, (found, value) in enumerate(linkages):
            close = value <= threshold
            for gid, v in zip(found[close].tolist(), value[close].tolist()):
                if not self._forbidden([batch[i] for i in groups[g]], gid):
                    allowed.append((g, gid, v))
        if not allowed:
            return {}
        # Only identities some cluster may take are columns; one forbidden spare column per
        # cluster stands for all the others, so the assignment is the one over every identity.
        ids = sorted({gid for _, gid, _ in allowed})
        column = {gid: k for k, gid in enumerate(ids)}
        cost = np.full((len(groups), len(ids) + len(groups)), _FORBIDDEN)
        for g, gid, v in allowed:
            cost[g, column[gid]] = v
        rows_, cols = linear_sum_assignment(cost)
        return {int(g): ids[c] for g, c in zip(rows_.tolist(), cols.tolist()) if cost[g, c] <= threshold}

    def _revise(self, touched: set[int], at: float, decisions: list[Decision]) -> None:
        """Merge identities the offline core puts together on their window members."""
        touched = {gid for gid in touched if self._members.get(gid)}
        if len(touched) < 2:
            return
        keys = sorted(k for gid in touched for k in self._members[gid])
        position = {k: p for p, k in enumerate(keys)}
        members = [self._window[k] for k in keys]
        pairs = self._member_pairs(members, position)
        labels = cluster_sparse(members, pairs, self.config.cost_threshold, self.config.linkage, self.topology)
        owners: dict[int, list[int]] = defaultdict(list)
        for gid in sorted(touched):
            found = {int(labels[position[k]]) for k in self._members[gid]}
            if len(found) == 1:
                owners[found.pop()].append(gid)
        for label in sorted(owners):
            target, *others = owners[label]
            for other in others:
                moving = sorted(self._members[other])
                if self._forbidden([self._window[k] for k in moving], target):
                    continue
                self._relabel(moving, target, at, decisions)
                self._members[target].update(moving)
                del self._members[other]
                del self._final_end[other]  # its final members keep their id; nothing more can join it
                self.revisions += 1

    def _relabel(self, keys: list[Key], gid: int, at: float, decisions: list[Decision]) -> None:
        """Window tracklets ``keys`` now carry identity ``gid`` (a revision)."""
        for key in keys:
            self._ids[key] = gid
            self._columns.gid[self._columns.slot[key]] = gid
            decisions.append(Decision(key, gid, "revise", at, self._window[key].end))

    def _split_unrelated(self, at: float, decisions: list[Decision]) -> None:
        """A learnt link or overlap withdrawn (more traffic put its confirmations back within
        chance): identities joined across it split along the offline core's clusters of their
        window members under the network as it now stands. The part holding the earliest member
        keeps the id; final members keep theirs."""
        for gid in sorted(self._members):
            keys = sorted(self._members[gid])
            cameras = sorted({camera for camera, _ in keys})
            reach = [self._reachable(camera) for camera in cameras]
            if all(r is None or set(cameras) <= set(r) for r in reach):
                continue
            members = [self._window[k] for k in keys]
            position = {k: p for p, k in enumerate(keys)}
            labels = cluster_sparse(members, self._member_pairs(members, position), self.config.cost_threshold,
                                    self.config.linkage, self.topology)  # fmt: skip
            first = int(labels[min(range(len(members)), key=lambda p: (members[p].start, keys[p]))])
            for label in sorted(set(labels.tolist()) - {first}):
                self._issued += 1
                new = self._issued
                moving = [k for k, lab in zip(keys, labels.tolist()) if lab == label]
                self._relabel(moving, new, at, decisions)
                self._members[gid].difference_update(moving)
                self._members[new] = set(moving)
                self._final_end[new] = {}
                self.revisions += 1

    def _member_pairs(self, members: list[Tracklet], position: dict[Key, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(i, j, d), i < j: the defined distances between window members that pass the time
        gates, the pairs their rows held when they were decided (the gates are symmetric and the
        earlier of two members was in the window when the later was decided). Recomputed, which is
        cheaper than keeping every candidate pair of the window; re-ranked ones are read back."""
        if self.config.rerank.enabled:
            first, second, dist = [], [], []
            for a, pa in position.items():
                for b, d in self._dist[a].items():
                    pb = position.get(b)
                    if pb is not None and pa < pb:
                        first.append(pa)
                        second.append(pb)
                        dist.append(d)
            return np.array(first, np.int64), np.array(second, np.int64), np.array(dist, np.float64)
        starts = np.array([t.start for t in members])
        ends = np.array([t.end for t in members])
        cameras = np.array([t.camera for t in members], np.int64)
        gates = np.stack([self._gate(t, starts, ends, cameras) for t in members])
        intervals = Intervals.of(members)
        dist = distance_rows(members, None, self.config, self._log_prior(intervals, intervals), self.scene, self._built)
        first, second = np.nonzero(np.triu(gates & np.isfinite(dist), 1))
        return first, second, dist[first, second]

    def _finalise(self, cutoff: float, finals: list[tuple[Tracklet, int]]) -> None:
        """Tracklets that ended before ``cutoff`` leave the window with their final ids."""
        while self._heap and self._heap[0][0] < cutoff:
            _, key = heapq.heappop(self._heap)
            tracklet = self._window.pop(key)
            self._columns.remove(key)
            gid = self._ids.pop(key)
            members = self._members[gid]
            members.discard(key)
            if members:
                final = self._final_end[gid]
                final[tracklet.camera] = max(final.get(tracklet.camera, -math.inf), tracklet.end)
            else:
                del self._members[gid]
                del self._final_end[gid]
            for other in self._dist.pop(key, {}):
                self._dist[other].pop(key, None)
            finals.append((tracklet, gid))
