"""What the dashboard reads from the sightings store: journeys, searches, the camera graph, thumbnails.

:class:`StoreView` opens the store for each request with its ``opener`` (a read-only connection,
closed after: the matcher keeps writing through its own) and answers JSON-ready dicts. The camera
graph is computed from the stored journeys (each identity's consecutive sightings on two cameras:
one observation of that link, travel time = the later one's start minus the earlier one's end; two
sightings that overlap in time are an overlap of the two views, not a travel time), joined with
the camera network the matcher learnt from the traffic (its links and overlaps), and cached for
:data:`GRAPH_TTL_S`.
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

from mtmc.dashboard.footage import Footage
from mtmc.dashboard.state import id_color, ink

GRAPH_TTL_S = 10.0  # the camera graph is recomputed at most this often
HISTOGRAM_BINS = 12
SEARCH_LIMIT = 500  # sightings an attribute search returns, at most
IMAGE_RESULTS = 10  # identities a search by picture returns
LEARNT_LINK = ("min_s", "max_s", "mean_s", "std_s", "observations", "expected")  # what the graph shows of a learnt link

ImageSearch = Callable[[Any, np.ndarray, int], list[tuple[int, float]]]  # (store, BGR picture, k) -> (id, distance)


class StoreUnavailable(Exception):
    """The store cannot be read (not written yet, not a sightings database, a corrupt page met by a
    query): one line for a 503."""


class CorrectionRefused(Exception):
    """A correction the store refused (no such identity or sighting, a merge with itself, ...): one line for a 400."""


CORRECTIONS = ("split", "merge", "flag", "unflag", "undo")  # what a POST to /api/corrections may ask


def histogram(times: list[float], bins: int = HISTOGRAM_BINS) -> dict:
    """Travel times in ``bins`` equal bins between their whole-second floor and ceiling."""
    lo, hi = float(np.floor(min(times))), float(np.ceil(max(times)))
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(np.asarray(times, np.float64), bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def no_network() -> dict:
    """A learnt network with nothing in it (no learner, no file)."""
    return {"links": [], "overlaps": []}


def network_of(data: Any) -> dict:
    """``{links, overlaps}`` of a learnt network as ``topology.learnt.yaml`` holds it (``links``;
    ``overlaps`` as camera pairs, their ``observations`` and ``expected`` under ``evidence``) or as
    the live learner gives it (``{links, overlaps}``, overlaps as ``{cameras, observations,
    expected}``); anything malformed is left out, and a list is links alone."""
    if isinstance(data, list):
        data = {"links": data}
    if not isinstance(data, dict):
        return no_network()
    links = [dict(link) for link in _listed(data.get("links")) if isinstance(link, dict)
             and isinstance(link.get("from"), str) and isinstance(link.get("to"), str) and link["from"] != link["to"]]  # fmt: skip
    evidence = data.get("evidence") if isinstance(data.get("evidence"), dict) else {}
    measured = {}
    for o in _listed(evidence.get("overlaps")):
        pair = _pair(o.get("cameras")) if isinstance(o, dict) else None
        if pair is not None:
            measured[pair] = o
    overlaps, seen = [], set()
    for o in _listed(data.get("overlaps")):
        pair = _pair(o.get("cameras") if isinstance(o, dict) else o)
        if pair is None or pair in seen:
            continue
        seen.add(pair)
        known = o if isinstance(o, dict) else measured.get(pair, {})
        overlaps.append({"cameras": list(pair), "observations": known.get("observations"), "expected": known.get("expected")})
    return {"links": links, "overlaps": overlaps}


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else []


def _pair(cameras: Any) -> tuple[str, str] | None:
    """Two different camera names, sorted (an overlap has no direction); None if not that."""
    if not isinstance(cameras, (list, tuple)) or len(cameras) != 2 or not all(isinstance(c, str) for c in cameras):
        return None
    a, b = sorted(cameras)
    return None if a == b else (a, b)


def read_learnt(path: Path) -> dict:
    """The camera network (``{links, overlaps}``) of a ``topology.learnt.yaml`` the matcher wrote
    at the end of a run; nothing if there is none or it cannot be read."""
    if not path.is_file():
        return no_network()
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return no_network()
    return network_of(data)


class StoreView:
    """The dashboard's read-only view of a sightings store.

    ``opener()`` returns an opened store (``journey``, ``find``, ``spans``, ``global_id``, ``close``; and
    ``thumbnail(key)`` where the store keeps thumbnails); an :class:`~mtmc.errors.MtmcError` from it
    (no database yet, another schema) or from a query on it (a corrupt page) is answered 503 with
    its line. ``where`` names the store on the page. ``learnt()`` gives the camera network the
    matcher learnt (``{links, overlaps}``, see :func:`network_of`; a list is links alone);
    ``image_search`` answers a search by picture (None: the page says it is not available);
    ``footage`` cuts sightings' frames and clips from the run's videos (None: none to cut).
    """

    def __init__(
        self,
        opener: Callable[[], Any],
        where: str,
        *,
        learnt: Callable[[], dict | list[dict]] | None = None,
        image_search: ImageSearch | None = None,
        image_search_missing: str = "search by picture is not available here",
        footage: Footage | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.opener, self.where = opener, where
        self.footage = footage
        self.learnt = learnt or no_network
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
        except MtmcError as exc:  # met mid-query (a corrupt page): the same one line, not a 500
            raise StoreUnavailable(str(exc)) from None
        finally:
            store.close()

    # ---- one identity ----------------------------------------------------------------------------

    @staticmethod
    def _sighting(s: Any, previous: Any | None) -> dict:
        d = s.as_dict()
        d["travel_s"] = None if previous is None else round(s.first_s - previous.last_s, 3)
        d["thumbnail"] = f"/api/thumbnail/{s.camera}/{s.track}.jpg"
        # the id in the address: a browser's cached picture, drawn with the old id, is not reused after a correction
        d["frame"] = f"/api/sighting/{s.camera}/{s.track}.jpg?id={s.global_id}"
        d["clip"] = f"/api/clip/{s.camera}/{s.track}.webm?id={s.global_id}"
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

    def attributes_stored(self) -> dict[str, bool]:
        """Whether any sighting holds a colour, a type (the page hides a filter that cannot match)."""
        with self._store() as store:
            return {name: bool(store.has_attributes(name)) for name in ("colour", "type")}

    # ---- corrections -------------------------------------------------------------------------------

    def corrections(self) -> dict:
        """The corrections applied to the store, oldest first, and the identities flagged (id -> note)."""
        from mtmc.store import corrections as fix

        with self._store() as store:
            done, flagged = fix.corrections(store), fix.flagged(store)
        return {"corrections": done, "flagged": {str(k): v for k, v in sorted(flagged.items())}}

    def correct(self, action: str, args: dict) -> dict:
        """Apply one correction (:data:`CORRECTIONS`) with its arguments (JSON numbers, a note);
        what it made (``global_id``: the identity to show next). Raises :class:`CorrectionRefused`."""
        from mtmc.errors import MtmcError
        from mtmc.store import corrections as fix

        def whole(name: str) -> int:
            value = args.get(name)
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
                raise CorrectionRefused(f"{action}: {name} must be a whole number, got {str(value)[:40]!r}")
            return int(value)

        with self._store() as store:
            try:
                if action == "split":
                    answer = {"global_id": fix.split(store, whole("camera"), whole("track"))}
                elif action == "merge":
                    answer = {"global_id": fix.merge(store, whole("keep"), whole("other"))}
                elif action in ("flag", "unflag"):
                    note = args.get("note", "")
                    if not isinstance(note, str) or len(note) > 500 or not note.isprintable():
                        raise CorrectionRefused("flag: the note must be at most 500 printable characters")
                    gid = whole("global_id")
                    fix.flag(store, gid, note.strip()) if action == "flag" else fix.unflag(store, gid)
                    answer = {"global_id": gid}
                elif action == "undo":
                    fix.undo(store, whole("id"))
                    answer = {}
                else:
                    raise CorrectionRefused(f"no correction {action[:40]!r}: one of {', '.join(CORRECTIONS)}")
            except MtmcError as exc:
                raise CorrectionRefused(str(exc)) from None
        with self._graph_lock:
            self._graph = None  # the journeys changed
        return {"action": action, **answer}

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
        """Cameras (``cameras`` first, in order, then any other the store or the learnt network
        names) and the edges between them (``links``): ``kind: travel``, from one camera to another,
        how many identities went that way after leaving the first view and their travel times, with
        the link the matcher learnt (``learnt``: its travel time between view centres, or None); and
        ``kind: overlap``, two views that saw one identity at once (``cameras``, ``count``), with the
        overlap the matcher learnt. A pair neither the journeys nor the learnt network join has none."""
        with self._graph_lock:
            if self._graph is not None and self._clock() - self._graph[0] < GRAPH_TTL_S:
                graph = self._graph[1]
            else:
                graph = self._compute_graph()
                self._graph = (self._clock(), graph)
        names = list(dict.fromkeys([*(cameras or []), *graph["seen"], *graph["named"]]))
        nodes = [{"id": n, "sightings": graph["seen"].get(n, 0)} for n in names]
        return {"nodes": nodes, "links": graph["links"], "identities": graph["identities"], "store": self.where}

    def _compute_graph(self) -> dict:
        with self._store() as store:
            spans = store.spans()
        journeys: dict[int, list[tuple[str, float, float]]] = defaultdict(list)
        seen: dict[str, int] = defaultdict(int)
        for global_id, camera, first_s, last_s in spans:  # time order
            journeys[global_id].append((camera, first_s, last_s))
            seen[camera] += 1
        travel: dict[tuple[str, str], list[float]] = defaultdict(list)
        together: dict[tuple[str, str], int] = defaultdict(int)
        for journey in journeys.values():
            for (a, _, a_last), (b, b_first, _) in zip(journey, journey[1:]):
                if a == b:
                    continue
                if b_first <= a_last:  # both views saw it at once: an overlap, not a travel time
                    together[(min(a, b), max(a, b))] += 1
                else:
                    travel[(a, b)].append(b_first - a_last)
        network = network_of(self.learnt())
        learnt_links = {(link["from"], link["to"]): link for link in network["links"]}
        learnt_overlaps = {tuple(o["cameras"]): o for o in network["overlaps"]}
        links = []
        for a, b in sorted(set(travel) | set(learnt_links), key=lambda pair: (pair not in travel, pair)):  # learnt only: after
            times, known = travel.get((a, b), []), learnt_links.get((a, b))
            links.append({
                "kind": "travel", "from": a, "to": b, "count": len(times),
                "travel_s": {"min": round(min(times), 3), "median": round(float(np.median(times)), 3), "max": round(max(times), 3)}
                if times else None,
                "histogram": histogram(times) if times else None,
                "learnt": None if known is None else {k: known.get(k) for k in LEARNT_LINK},
            })  # fmt: skip
        for a, b in sorted(set(together) | set(learnt_overlaps), key=lambda pair: (pair not in together, pair)):
            known = learnt_overlaps.get((a, b))
            links.append({
                "kind": "overlap", "from": a, "to": b, "cameras": [a, b], "count": together.get((a, b), 0),
                "travel_s": None, "histogram": None,
                "learnt": None if known is None else {k: known.get(k) for k in ("observations", "expected")},
            })  # fmt: skip
        named = [n for link in links for n in (link["from"], link["to"])]
        return {"seen": dict(sorted(seen.items())), "named": named, "links": links, "identities": len(journeys)}
