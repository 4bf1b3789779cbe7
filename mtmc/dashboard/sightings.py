"""What the dashboard reads from the sightings store: journeys, searches, the camera graph, thumbnails.

:class:`StoreView` opens the store for each request with its ``opener`` (a read-only connection,
closed after: the matcher keeps writing through its own) and answers JSON-ready dicts. The camera
graph is computed from the stored journeys (each identity's consecutive sightings on two cameras:
one observation of that link, travel time = the later one's start minus the earlier one's end),
cached for :data:`GRAPH_TTL_S`, and joined with the links the matcher's topology learner measured.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.dashboard.state import id_color, ink

GRAPH_TTL_S = 10.0  # the camera graph is recomputed at most this often
HISTOGRAM_BINS = 12
SEARCH_LIMIT = 500  # sightings an attribute search returns, at most
IMAGE_RESULTS = 10  # identities a search by picture returns

ImageSearch = Callable[[Any, np.ndarray, int], list[tuple[int, float]]]  # (store, BGR picture, k) -> (id, distance)


class StoreUnavailable(Exception):
    """The store cannot be read (not written yet, or not a sightings database): one line for a 503."""


def histogram(times: list[float], bins: int = HISTOGRAM_BINS) -> dict:
    """Travel times in ``bins`` equal bins between their whole-second floor and ceiling."""
    lo, hi = float(np.floor(min(times))), float(np.ceil(max(times)))
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(np.asarray(times, np.float64), bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def read_learnt(path: Path) -> list[dict]:
    """The links of a ``topology.learnt.yaml`` the matcher wrote at the end of a run ([] if none)."""
    if not path.is_file():
        return []
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return []
    links = data.get("links") if isinstance(data, dict) else None
    return [dict(link) for link in links if isinstance(link, dict)] if isinstance(links, list) else []


class StoreView:
    """The dashboard's read-only view of a sightings store.

    ``opener()`` returns an opened store (``journey``, ``find``, ``spans``, ``global_id``, ``close``; and
    ``thumbnail(key)`` where the store keeps thumbnails); an :class:`~mtmc.errors.MtmcError` from it
    (no database yet, another schema) is answered 503 with its line. ``where`` names the store on
    the page. ``learnt()`` gives the matcher's learnt links; ``image_search`` answers a search by
    picture (None: the page says it is not available).
    """

    def __init__(
        self,
        opener: Callable[[], Any],
        where: str,
        *,
        learnt: Callable[[], list[dict]] | None = None,
        image_search: ImageSearch | None = None,
        image_search_missing: str = "search by picture is not available here",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.opener, self.where = opener, where
        self.learnt = learnt or (lambda: [])
        self.image_search, self.image_search_missing = image_search, image_search_missing
        self._clock = clock
        self._graph: tuple[float, dict] | None = None
        self._graph_lock = threading.Lock()
        self._search_lock = threading.Lock()  # one search by picture at a time: it may embed on the CPU

    @contextlib.contextmanager
    def _store(self) -> Iterator[Any]:
        from mtmc.errors import MtmcError

        try:
            store = self.opener()
        except MtmcError as exc:
            raise StoreUnavailable(str(exc)) from None
        try:
            yield store
        finally:
            store.close()

    # ---- one identity ----------------------------------------------------------------------------

    @staticmethod
    def _sighting(s: Any, previous: Any | None) -> dict:
        d = s.as_dict()
        d["travel_s"] = None if previous is None else round(s.first_s - previous.last_s, 3)
        d["thumbnail"] = f"/api/thumbnail/{s.camera}/{s.track}.jpg"
        d["frame"] = f"/api/sighting/{s.camera}/{s.track}.jpg"
        return d

    def identity(self, global_id: int) -> dict | None:
        """Identity ``global_id``'s journey (None: no such identity in the store)."""
        with self._store() as store:
            sightings = store.journey(global_id)
        if not sightings:
            return None
        rows = [self._sighting(s, sightings[k - 1] if k else None) for k, s in enumerate(sightings)]
        cameras = [s.camera_name for s in sightings]
        return {
            "global_id": int(global_id),
            "color": id_color(int(global_id)),
            "ink": ink(id_color(int(global_id))),
            "first_s": sightings[0].first_s,
            "last_s": max(s.last_s for s in sightings),
            "cameras": cameras,
            "camera_count": len(set(cameras)),
            "sightings": rows,
            "store": self.where,
        }

    def sighting(self, camera: int, track: int) -> Any | None:
        """The stored sighting of ``(camera, track)`` once it has an identity (None otherwise)."""
        with self._store() as store:
            global_id = store.global_id((camera, track))
            if global_id is None:
                return None
            return next((s for s in store.journey(global_id) if (s.camera, s.track) == (camera, track)), None)

    def thumbnail(self, camera: int, track: int) -> bytes | None:
        """The sighting's JPEG thumbnail, where the store keeps one (None: none)."""
        with self._store() as store:
            get = getattr(store, "thumbnail", None)
            data = get((camera, track)) if callable(get) else None
        return bytes(data) if data else None

    def identities(self) -> int | None:
        with self._store() as store:
            count = getattr(store, "identities", None)
            return int(count()) if callable(count) else None

    # ---- searches --------------------------------------------------------------------------------

    def search(
        self, colour: str | None = None, vehicle_type: str | None = None, camera: str | None = None,
        since: float | None = None, until: float | None = None, limit: int = SEARCH_LIMIT,
    ) -> dict:  # fmt: skip
        """Decided sightings matching every filter, grouped by identity (first seen first)."""
        with self._store() as store:
            found = store.find(colour, vehicle_type, camera, since, until, limit=limit + 1)
        truncated = len(found) > limit
        found = found[:limit]
        groups: dict[int, list[Any]] = defaultdict(list)
        for s in found:
            groups[int(s.global_id)].append(s)
        identities = [
            {
                "global_id": gid, "color": id_color(gid), "ink": ink(id_color(gid)),
                "sightings": [self._sighting(s, None) for s in group],
            }
            for gid, group in groups.items()
        ]  # fmt: skip
        filters = {"colour": colour, "type": vehicle_type, "camera": camera, "since": since, "until": until}
        return {"filters": filters, "sightings": len(found), "truncated": truncated, "identities": identities}

    def by_picture(self, image: np.ndarray, k: int = IMAGE_RESULTS) -> dict:
        """The ``k`` identities nearest the picture (``image_search``), each with its journey's cameras."""
        if self.image_search is None:
            raise StoreUnavailable(self.image_search_missing)
        with self._search_lock, self._store() as store:
            nearest = self.image_search(store, image, k)
            results = []
            for rank, (gid, distance) in enumerate(nearest, 1):
                journey = store.journey(int(gid))
                results.append(
                    {
                        "rank": rank, "global_id": int(gid), "distance": round(float(distance), 4),
                        "color": id_color(int(gid)), "ink": ink(id_color(int(gid))),
                        "cameras": [s.camera_name for s in journey],
                        "first_s": journey[0].first_s if journey else None,
                        "thumbnail": f"/api/thumbnail/{journey[0].camera}/{journey[0].track}.jpg" if journey else None,
                    }
                )  # fmt: skip
        return {"results": results, "picture": {"width": int(image.shape[1]), "height": int(image.shape[0])}}

    # ---- the camera graph ------------------------------------------------------------------------

    def graph(self, cameras: list[str] | None = None) -> dict:
        """Cameras (``cameras`` first, in order, then any other the store names) and the links between
        them: how many identities went from one to the other, and their travel times."""
        with self._graph_lock:
            if self._graph is not None and self._clock() - self._graph[0] < GRAPH_TTL_S:
                graph = self._graph[1]
            else:
                graph = self._compute_graph()
                self._graph = (self._clock(), graph)
        names = list(dict.fromkeys([*(cameras or []), *graph["seen"]]))
        learnt = {(link.get("from"), link.get("to")): link for link in self.learnt()}
        links = []
        for link in graph["links"]:
            entry = dict(link)
            known = learnt.pop((link["from"], link["to"]), None)
            entry["learnt"] = None if known is None else {k: known.get(k) for k in ("min_s", "max_s", "observations")}
            links.append(entry)
        for (a, b), known in sorted(learnt.items(), key=lambda item: str(item[0])):  # learnt, none stored (pruned)
            links.append({"from": a, "to": b, "count": 0, "travel_s": None, "histogram": None,
                          "learnt": {k: known.get(k) for k in ("min_s", "max_s", "observations")}})  # fmt: skip
            names += [n for n in (a, b) if n not in names]
        nodes = [{"id": n, "sightings": graph["seen"].get(n, 0)} for n in names]
        return {"nodes": nodes, "links": links, "identities": graph["identities"], "store": self.where}

    def _compute_graph(self) -> dict:
        with self._store() as store:
            spans = store.spans()
        journeys: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
        seen: dict[str, int] = defaultdict(int)
        for global_id, camera, first_s, last_s in spans:  # time order
            journeys[global_id].append((camera, first_s, last_s))
            seen[camera] += 1
        travel: dict[tuple[str, str], list[float]] = defaultdict(list)
        for journey in journeys.values():
            for (a, _, a_last), (b, b_first, _) in zip(journey, journey[1:]):
                if a != b:
                    travel[(a, b)].append(b_first - a_last)
        links = [
            {
                "from": a, "to": b, "count": len(times),
                "travel_s": {"min": round(min(times), 3), "median": round(float(np.median(times)), 3), "max": round(max(times), 3)},
                "histogram": histogram(times),
            }
            for (a, b), times in sorted(travel.items())
        ]  # fmt: skip
        return {"seen": dict(sorted(seen.items())), "links": links, "identities": len(journeys)}
