"""The camera network, learnt from the traffic without labels: which cameras exchange vehicles,
after how long, and which views overlap.

Co-occurrence, confirmed by confident matches. Every pair of tracklets of two cameras within the
horizon is an opportunity: seen at once (the views may overlap), or one after the other at a
travel time (middle to middle, from the earlier camera to the later one). A confident match is a
pair whose appearance alone is strong evidence (LLR >= ``confident_llr`` under the run's own
calibration). Different vehicles give confident matches too, at a rate the run measures on its
known negatives (two tracklets of one camera seen at once): ``false_rate``. A link A -> B is
learnt where confident matches pile up at one travel time far beyond what that rate predicts
from the opportunities there (a Poisson tail below ``alpha``); two views overlap where the
confident matches of tracklets seen at once are likewise too many. A camera pair with neither
has no link, and the matcher never joins its tracklets (unrelated sites never share an
identity). The learnt network is a complete topology with exclusive views
(:class:`~mtmc.match.config.TopologyConfig`), so the gates and the priors read it as they read a
given one; a link's travel time is the normal density of its confirmed matches.

Memory is bounded: per camera pair a histogram of opportunities over the horizon (1 s bins) and
the latest ``MAX_OBSERVATIONS`` confirmed travel times.

Zones: a link with ``MIN_ZONE_MATCHES`` confirmations also learns where its vehicles leave the
first view and enter the second (foot points, pixels: ``exit_zone``, ``entry_zone``), and the prior
gives the link only to pairs that left and arrived there: a camera with exits to several cameras
sends each vehicle the way it went. ``topology.learnt.yaml`` lists each camera's zones.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import poisson

from mtmc.match.config import Link, NetworkConfig, TopologyConfig
from mtmc.match.distances import features
from mtmc.match.evidence import AppearanceCalibration
from mtmc.types import Tracklet

MAX_OBSERVATIONS = 10_000
MIN_HALF_WIDTH_S = 2.0  # a travel-time peak is searched in windows of +- max(this, REL_HALF_WIDTH * time)
REL_HALF_WIDTH = 0.25
MIN_STD_S = 1.0  # a learnt travel time is never sharper than this
MIN_ZONE_MATCHES = 5  # confirmations a link needs before it learns where its vehicles leave and arrive
ZONE_SPREAD = 2.0  # a zone's radius: this times the farthest-but-one confirmation from its centre ...
ZONE_BOX_HEIGHTS = 1.5  # ... and at least this many box heights there


class NetworkLearner:
    """Learns links and overlaps from tracklets as they are decided (module docstring)."""

    def __init__(
        self, config: NetworkConfig, horizon_s: float, names: dict[int, str] | None = None, seed: TopologyConfig | None = None
    ) -> None:
        self.config = config
        self.seed = seed  # links and overlaps known before the run (cameras as cNNN), kept
        self.horizon_s = horizon_s
        self.names = names or {}
        self.bins = int(math.ceil(horizon_s)) + 1
        self.opportunities: dict[tuple[int, int], np.ndarray] = {}
        self.travel: dict[tuple[int, int], deque[float]] = defaultdict(lambda: deque(maxlen=MAX_OBSERVATIONS))
        # per confirmation, where the vehicle left and arrived: exit x, y, box height; entry x, y, box height
        self.ends: dict[tuple[int, int], deque[tuple[float, ...]]] = defaultdict(lambda: deque(maxlen=MAX_OBSERVATIONS))
        self.together: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])  # (opportunities, confident)
        self.negatives = [0, 0]  # co-occurring same-camera pairs: (seen, confident)
        self.version = 0  # bumped whenever the learnt links or overlaps change

    # ---- evidence ------------------------------------------------------------------------------

    def observe(self, batch: Sequence[Tracklet], earlier: Sequence[Tracklet], appearance: AppearanceCalibration) -> None:
        """Pairs of ``batch`` (newly decided) with ``earlier`` ones and among themselves."""
        if not batch:
            return
        self._pairs(batch, list(earlier), appearance, square=False)
        self._pairs(batch, batch, appearance, square=True)

    def _pairs(self, rows: list[Tracklet], cols: list[Tracklet], appearance: AppearanceCalibration, square: bool) -> None:
        if not rows or not cols:
            return
        f, have = features(rows)
        g, have_cols = features(cols)
        if not have.any() or not have_cols.any() or f.shape[1] != g.shape[1]:
            return
        confident = appearance.llr(np.clip(1.0 - f @ g.T, 0.0, 2.0), twins=False) >= self.config.confident_llr
        start_r, end_r = np.array([t.start for t in rows]), np.array([t.end for t in rows])
        start_c, end_c = np.array([t.start for t in cols]), np.array([t.end for t in cols])
        cam_r, cam_c = np.array([t.camera for t in rows]), np.array([t.camera for t in cols])
        valid = have[:, None] & have_cols[None, :]
        if square:
            valid &= np.triu(np.ones(valid.shape, bool), 1)
        overlap = (start_r[:, None] <= end_c[None, :]) & (start_c[None, :] <= end_r[:, None])
        same = cam_r[:, None] == cam_c[None, :]
        negatives = valid & same & overlap
        self.negatives[0] += int(negatives.sum())
        self.negatives[1] += int((negatives & confident).sum())
        delta = (start_c + end_c)[None, :] / 2 - (start_r + end_r)[:, None] / 2
        i, j = np.nonzero(valid & ~same & overlap)
        low, high = np.minimum(cam_r[i], cam_c[j]), np.maximum(cam_r[i], cam_c[j])
        for a, b in {(int(x), int(y)) for x, y in zip(low.tolist(), high.tolist())}:
            pair = (low == a) & (high == b)
            counts = self.together[(a, b)]
            counts[0] += int(pair.sum())
            counts[1] += int(confident[i[pair], j[pair]].sum())
        i, j = np.nonzero(valid & ~same & ~overlap & (np.abs(delta) <= self.horizon_s))
        d = delta[i, j]
        forward = d >= 0
        first, second = np.where(forward, cam_r[i], cam_c[j]), np.where(forward, cam_c[j], cam_r[i])
        bins = np.minimum(np.abs(d).astype(np.int64), self.bins - 1)
        for a, b in {(int(x), int(y)) for x, y in zip(first.tolist(), second.tolist())}:
            pair = (first == a) & (second == b)
            histogram = self.opportunities.get((a, b))
            if histogram is None:
                histogram = self.opportunities[(a, b)] = np.zeros(self.bins, np.int64)
            np.add.at(histogram, bins[pair], 1)
        for k in np.flatnonzero(confident[i, j]).tolist():  # the confirmations: few
            key = (int(first[k]), int(second[k]))
            self.travel[key].append(abs(float(d[k])))
            earlier, later = (rows[i[k]], cols[j[k]]) if forward[k] else (cols[j[k]], rows[i[k]])
            last, entry = earlier.boxes[-1], later.boxes[0]
            self.ends[key].append((
                float(last[0] + last[2] / 2), float(last[1] + last[3]), float(last[3]),
                float(entry[0] + entry[2] / 2), float(entry[1] + entry[3]), float(entry[3]),
            ))  # fmt: skip

    # ---- what is learnt ------------------------------------------------------------------------

    @property
    def false_rate(self) -> float:
        """How often two different vehicles look confidently alike here (Laplace-smoothed)."""
        seen, confident = self.negatives
        return (confident + 1) / (seen + 2)

    def _significant(self, observed: int, opportunities: float) -> tuple[bool, float]:
        expected = opportunities * self.false_rate
        p = float(poisson.sf(observed - 1, expected)) if observed else 1.0
        return observed >= self.config.min_pairs and p < self.config.alpha, expected

    def _name(self, number: int) -> str:
        return self.names.get(number, f"c{number:03d}")

    def links(self) -> list[dict]:
        """Learnt links by camera name (``from``, ``to``, ``min_s``, ``max_s``, ``mean_s``, ``std_s``,
        ``observations``, ``expected``): what ``topology.learnt.yaml`` and the dashboard show."""
        return [{**link, "from": self._name(link["from"]), "to": self._name(link["to"])} for link in self.numbered_links()]

    def overlaps(self) -> list[dict]:
        """Learnt overlaps by camera name (``cameras``: two names, ``observations``, ``expected``)."""
        return [{**o, "cameras": [self._name(c) for c in o["cameras"]]} for o in self.numbered_overlaps()]

    def numbered_links(self) -> list[dict]:
        """Learnt links (camera numbers), one per camera pair at its travel-time peak, with the
        confirmed matches' mean and spread, ``observations`` and the ``expected`` chance count."""
        out = []
        for key in sorted(self.travel):
            times = np.sort(np.array(self.travel[key]))
            histogram = self.opportunities[key]
            best: tuple[float, int, float, float] | None = None  # (p, count, lo, hi)
            for centre in np.unique(times).tolist():
                half = max(MIN_HALF_WIDTH_S, REL_HALF_WIDTH * centre)
                lo, hi = max(0.0, centre - half), centre + half
                count = int(((times >= lo) & (times <= hi)).sum())
                chances = float(histogram[int(lo) : min(int(hi) + 1, self.bins)].sum())
                expected = chances * self.false_rate
                p = float(poisson.sf(count - 1, expected))
                if best is None or p < best[0]:
                    best = (p, count, lo, hi)
            if best is None:
                continue
            p, count, lo, hi = best
            if count < self.config.min_pairs or p >= self.config.alpha:
                continue
            order = np.argsort(np.array(self.travel[key]), kind="stable")
            ends = np.array(self.ends[key])[order] if len(self.ends[key]) == len(times) else np.zeros((0, 6))
            window = (times >= lo) & (times <= hi)
            inside = times[window]
            mean, std = float(inside.mean()), max(float(inside.std()), MIN_STD_S)
            link = {
                "from": key[0], "to": key[1], "min_s": round(max(0.0, mean - 3 * std), 2), "max_s": round(mean + 3 * std, 2),
                "mean_s": round(mean, 2), "std_s": round(std, 2), "observations": count,
                "expected": round(float(histogram[int(lo) : min(int(hi) + 1, self.bins)].sum()) * self.false_rate, 3),
            }  # fmt: skip
            if len(ends) and window.sum() >= MIN_ZONE_MATCHES:
                link["exit_zone"], link["entry_zone"] = _zone(ends[window, 0:3]), _zone(ends[window, 3:6])
            out.append(link)
        return out

    def numbered_overlaps(self) -> list[dict]:
        out = []
        for key in sorted(self.together):
            chances, confident = self.together[key]
            ok, expected = self._significant(confident, chances)
            if ok:
                out.append({"cameras": [key[0], key[1]], "observations": confident, "expected": round(expected, 3)})
        return out

    def topology(self) -> TopologyConfig:
        """The learnt network as the matcher's topology (cameras as ``cNNN``), complete, views
        exclusive but for the learnt overlaps; the seed's links and overlaps are kept."""
        seed = self.seed
        links = [
            Link.model_validate({**link, "from": f"c{link['from']:03d}", "to": f"c{link['to']:03d}"}) for link in self.numbered_links()
        ]
        overlaps = [(f"c{a:03d}", f"c{b:03d}") for a, b in (o["cameras"] for o in self.numbered_overlaps())]
        if seed is not None:
            links = list(seed.links) + [link for link in links if (link.from_, link.to) not in {(s.from_, s.to) for s in seed.links}]
            overlaps = sorted(set(seed.overlaps) | set(overlaps))
        return TopologyConfig(links=links, exclusive_views=True, complete=True, overlaps=overlaps)

    def named(self) -> dict:
        """The learnt network with camera names, as ``topology.learnt.yaml`` holds it."""
        overlaps, links = self.overlaps(), self.links()
        zones: dict[str, dict[str, list]] = {}
        for link in links:  # each camera's exit and entry zones: where its linked traffic leaves and arrives
            if "exit_zone" in link:
                zones.setdefault(link["from"], {"exits": [], "entries": []})["exits"].append({"to": link["to"], "zone": link["exit_zone"]})
                zones.setdefault(link["to"], {"exits": [], "entries": []})["entries"].append({"from": link["from"], "zone": link["entry_zone"]})
        return {"complete": True, "exclusive_views": True, "overlaps": [o["cameras"] for o in overlaps], "links": links,
                "zones": zones,
                "evidence": {"overlaps": overlaps, "false_rate": round(self.false_rate, 5), "negatives": self.negatives[0]}}  # fmt: skip

    def write(self, path: Path) -> int:
        import yaml

        network = self.named()
        path.write_text(
            "# The camera network mtmc learnt from this run's traffic (links: travel times between view centres,\n"
            "# confirmed by confident appearance matches beyond chance; overlaps: views that see one vehicle at once).\n"
            "# Use it as `topology:` in a run config, or as `matcher.network.seed` to keep learning from it.\n"
            + yaml.safe_dump(network, sort_keys=False)
        )
        return len(network["links"]) + len(network["overlaps"])


def _zone(points: np.ndarray) -> list[float]:
    """``[x, y, radius]`` around (N, 3) foot points with their box heights: the median point, out
    to ``ZONE_SPREAD`` times the second-farthest of them (one stray is not the zone), at least
    ``ZONE_BOX_HEIGHTS`` box heights."""
    centre = np.median(points[:, :2], axis=0)
    far = np.sort(np.hypot(*(points[:, :2] - centre).T))
    reach = far[-2] if len(far) > 1 else far[-1]
    radius = max(ZONE_SPREAD * float(reach), ZONE_BOX_HEIGHTS * float(np.median(points[:, 2])))
    return [round(float(centre[0]), 1), round(float(centre[1]), 1), round(radius, 1)]


def learn_network(
    tracklets: Sequence[Tracklet], appearance: AppearanceCalibration, config: NetworkConfig, horizon_s: float,
    names: dict[int, str] | None = None, seed: TopologyConfig | None = None,
) -> NetworkLearner:
    """The network of a whole run at once (offline): every pair of its tracklets."""
    learner = NetworkLearner(config, horizon_s, names, seed)
    ordered = sorted(tracklets, key=lambda t: (t.end, t.key))
    learner.observe(ordered, [], appearance)
    return learner
