"""Camera topology learnt from confident matches: travel times between cameras, measured on the
identities the matcher was sure of, written as a topology file the next run can gate with.

For each identity only its latest tracklet is remembered; when the identity shows up on another
camera later, and the two tracklets' appearance distance is under ``confident`` (well inside the
matching threshold), the time from one view's centre to the other's is one observation of that
camera link. A link needs ``min_pairs`` observations; its range is the observed one widened by
``slack`` on each side.

Memory stays bounded on a monitor that runs for months: an identity is forgotten once the newest
tracklet seen ended ``horizon_s`` after it (the matcher passes its window: a later sighting could
not be matched to it anyway) or when more than ``max_identities`` are held, and each link keeps
its latest ``max_observations`` travel times.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict, deque
from pathlib import Path

import numpy as np

from mtmc.types import Tracklet


class TravelTimeLearner:
    def __init__(
        self, confident: float = 0.25, min_pairs: int = 3, slack: float = 0.2, max_identities: int = 100_000,
        names: dict[int, str] | None = None, horizon_s: float = math.inf, max_observations: int = 10_000,
    ) -> None:  # fmt: skip
        self.confident, self.min_pairs, self.slack, self.max_identities = confident, min_pairs, slack, max_identities
        self.names = names or {}  # camera number -> name, as the written links name cameras
        self.horizon_s = horizon_s
        self._last: OrderedDict[int, tuple[int, float, float, np.ndarray | None]] = OrderedDict()
        self._newest_end = -math.inf
        self.observed: dict[tuple[int, int], deque[float]] = defaultdict(lambda: deque(maxlen=max_observations))

    def observe(self, tracklet: Tracklet, global_id: int) -> None:
        """A tracklet with its final id, in any order of identities (each identity's in time order)."""
        feature = None
        if tracklet.feature is not None and np.linalg.norm(tracklet.feature) > 0:
            unit = np.asarray(tracklet.feature, np.float32)
            feature = unit / np.linalg.norm(unit)
        previous = self._last.get(global_id)
        if previous is not None and feature is not None and previous[3] is not None:
            camera, start, end, before = previous
            if camera != tracklet.camera and end <= tracklet.start and 1.0 - float(before @ feature) <= self.confident:
                travel = (tracklet.start + tracklet.end) / 2 - (start + end) / 2
                self.observed[(camera, tracklet.camera)].append(travel)
        if previous is None or tracklet.start >= previous[1]:
            self._last[global_id] = (tracklet.camera, tracklet.start, tracklet.end, feature)
            self._last.move_to_end(global_id)
        self._newest_end = max(self._newest_end, tracklet.end)
        forget = self._newest_end - self.horizon_s
        while self._last and (len(self._last) > self.max_identities or next(iter(self._last.values()))[2] < forget):
            self._last.popitem(last=False)

    def links(self) -> list[dict]:
        """Links with enough observations, as ``topology.links`` entries (``from``, ``to``, ``min_s``, ``max_s``)."""
        out = []
        for (a, b), times in sorted(self.observed.items()):
            if len(times) < self.min_pairs:
                continue
            lo, hi = min(times), max(times)
            out.append(
                {"from": self.names.get(a, f"c{a:03d}"), "to": self.names.get(b, f"c{b:03d}"), "min_s": round(max(0.0, lo * (1 - self.slack)), 2),
                 "max_s": round(hi * (1 + self.slack), 2), "observations": len(times)}
            )  # fmt: skip
        return out

    def write(self, path: Path) -> int:
        import yaml

        links = self.links()
        path.write_text(
            "# Travel times learnt from confident matches (mtmc matcher); use as `topology:` in a run config.\n"
            "# Partial (complete: false): camera pairs it has no link for stay gated by time alone.\n"
            + yaml.safe_dump({"complete": False, "links": links}, sort_keys=False)
        )
        return len(links)
