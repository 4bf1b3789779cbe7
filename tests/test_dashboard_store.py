"""The dashboard over the sightings store: identity pages, searches (attributes, a picture), the
camera graph, thumbnails and kept frames; the token off loopback, refused paths and uploads; the
`mtmc dashboard` command; and the pages in headless Chromium, a search by picture driven through
the page's file input (Chrome DevTools protocol over --remote-debugging-pipe)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.config import MtmcConfig
from mtmc.dashboard import LiveState, StoreView, id_color, serve
from mtmc.dashboard import auth as auth_module
from mtmc.dashboard.images import MAX_UPLOAD_BYTES, PLACEHOLDER_SIZE
from mtmc.dashboard.pictures import picture_search_for
from mtmc.errors import MtmcError
from mtmc.reid.attributes import VEHICLE_ATTRIBUTES
from mtmc.store import SQLiteStore
from mtmc.types import Tracklet

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install chromium)")
REID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vehicle-reid-2cam"
needs_reid = pytest.mark.skipif(not (REID / "val.txt").is_file(), reason=f"vehicle-reid-2cam not found at {REID}")
CAMERAS = {1: "north-gate", 2: "south-gate", 3: "depot"}
# Six real vehicles of vehicle-reid-2cam's validation split (each seen by both of its cameras):
# (global id, name, colour, type). North-gate sightings carry the cam1 crop's feature; south-gate
# ones only the cam2 crop as their thumbnail, so a cam2 crop as the query is a real re-id.
VEHICLES = [
    (11, "car_0139", "red", "car"),
    (12, "motorcycle_0287", "black", None),
    (13, "car_0129", "white", "car"),
    (14, "truck_0011", "blue", "truck"),
    (15, "motorcycle_0152", "black", None),
    (16, "truck_0033", "red", "truck"),
]
QUERY = (14, "truck_0011")
TOKEN = "s3cret-token-for-tests-0123"
WINDOW = (1400, 900)


def scores(name: str, value: str | None) -> np.ndarray | None:
    if value is None:
        return None
    classes = VEHICLE_ATTRIBUTES[name]
    out = np.full(len(classes), 0.02, np.float32)
    out[classes.index(value)] = 0.9
    return out


def tracklet(camera: int, track: int, t0: float, t1: float, *, feature=None, thumbnail=None, **attributes) -> Tracklet:
    times = np.arange(t0, t1 + 1e-9, 0.5)
    frames = np.round(times * 10).astype(np.int64) + 1  # 10 frames a second
    boxes = np.tile([100.0, 60.0, 80.0, 50.0], (len(times), 1))
    attrs = {k: v for k, v in attributes.items() if v is not None}
    return Tracklet(camera, track, frames, boxes, times, feature=feature, feature_count=len(times) if feature is not None else 0,
                    attributes=attrs, ended=True, thumbnail=thumbnail)  # fmt: skip


def crop(name: str, cam: str) -> bytes:
    return (REID / "images" / "train" / f"{name}_{cam}.jpg").read_bytes()


def travel(k: int) -> float:
    return 6.0 + k  # north-gate end -> south-gate start of vehicle k


@pytest.fixture(scope="module")
def embedder():
    if not (REID / "val.txt").is_file():
        pytest.skip(f"vehicle-reid-2cam not found at {REID}")
    from mtmc.reid import build_embedder

    part = MtmcConfig().embedder
    return build_embedder(part.name, **{"threads": 1, **part.options()})


def embed(embedder, data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return embedder.embed(image, np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32))[0]


@pytest.fixture(scope="module")
def database(tmp_path_factory, embedder) -> Path:
    """A small store: six vehicles north-gate -> south-gate (travel 6..11 s), the odd ones (12, 14, 16) on to
    the depot (20 s after); one sighting still undecided."""
    path = tmp_path_factory.mktemp("store") / "sightings.db"
    store = SQLiteStore(path, cameras=CAMERAS, labels=VEHICLE_ATTRIBUTES, embedder=MtmcConfig().embedder.model_dump(mode="json"))
    for k, (gid, name, colour, kind) in enumerate(VEHICLES):
        t0 = 30.0 * k
        north = tracklet(1, 100 + k, t0, t0 + 4, feature=embed(embedder, crop(name, "cam1")), thumbnail=crop(name, "cam1"),
                         colour=scores("colour", colour), type=scores("type", kind))  # fmt: skip
        south_start = t0 + 4 + travel(k)
        south = tracklet(2, 200 + k, south_start, south_start + 3, thumbnail=crop(name, "cam2"),
                         colour=scores("colour", colour), type=scores("type", kind))  # fmt: skip
        parts = [north, south]
        if k % 2 == 1:
            parts.append(tracklet(3, 300 + k, south_start + 23, south_start + 25, colour=scores("colour", colour)))
        for t in parts:
            store.record(t)
            store.assign(t.key, gid)
    store.record(tracklet(1, 999, 200.0, 201.0))  # undecided: in no journey, no search
    store.close()
    return path


LEARNT = {  # the network the matcher learnt, as its learner gives it (camera names)
    "links": [
        {"from": "north-gate", "to": "south-gate", "min_s": 7.2, "max_s": 16.8, "mean_s": 12.0, "std_s": 1.6, "observations": 6, "expected": 0.12},
        {"from": "depot", "to": "north-gate", "min_s": 40.0, "max_s": 60.0, "mean_s": 50.0, "std_s": 3.3, "observations": 3, "expected": 0.05},
    ],
    "overlaps": [{"cameras": ["north-gate", "depot"], "observations": 4, "expected": 0.2}],
}  # fmt: skip


def view_of(database: Path, **kw) -> StoreView:
    kw.setdefault("learnt", lambda: LEARNT)
    return StoreView(lambda: SQLiteStore.read(database), str(database), **kw)


@contextlib.contextmanager
def served(state: LiveState | None, view: StoreView | None, **kw) -> Iterator[int]:
    server, port = serve(state, "127.0.0.1", 0, view=view, **kw)
    try:
        yield port
    finally:
        server.close()


def call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one raw request: the path goes out exactly as written."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True, skip_host="Host" in (headers or {}))
    for k, v in (headers or {}).items():
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, response.headers, data  # headers: case-insensitive


def get_json(port: int, path: str, **kw):
    status, headers, body = call(port, "GET", path, **kw)
    return status, json.loads(body)


# ---- the JSON behind the pages --------------------------------------------------------------------


def test_identity_journey_and_unknown_identity(database: Path) -> None:
    with served(LiveState(list(CAMERAS.values())), view_of(database)) as port:
        status, j = get_json(port, "/api/identity/16")
        assert status == 200
        assert j["cameras"] == ["north-gate", "south-gate", "depot"] and j["camera_count"] == 3
        first, second, third = j["sightings"]
        assert [s["track"] for s in j["sightings"]] == [105, 205, 305]
        assert first["travel_s"] is None and second["travel_s"] == pytest.approx(travel(5))
        assert third["travel_s"] == pytest.approx(20.0)
        assert first["colour"] == "red" and first["type"] == "truck"
        assert first["thumbnail"] == "/api/thumbnail/1/105.jpg" and first["frame"] == "/api/sighting/1/105.jpg?id=16"
        assert first["frame_shown"]["kind"] == "thumbnail" and "not kept" in first["frame_shown"]["why"]
        assert j["color"] == id_color(16)

        status, missing = get_json(port, "/api/identity/404")
        assert status == 404 and missing["error"] == f"no identity 404 in {database} (6 identities stored)"
        for bad in ("/api/identity/x", "/api/identity/-1", "/api/identity/1.5", "/api/identity/"):
            assert call(port, "GET", bad)[0] == 404, bad


def test_search_by_attributes(database: Path) -> None:
    with served(None, view_of(database)) as port:
        status, found = get_json(port, "/api/search?colour=red")
        assert status == 200 and [i["global_id"] for i in found["identities"]] == [11, 16]
        assert found["sightings"] == 5  # 11: north, south, depot; 16: north, south
        _, found = get_json(port, "/api/search?colour=red&type=truck&camera=south-gate")
        assert [(i["global_id"], [s["track"] for s in i["sightings"]]) for i in found["identities"]] == [(16, [205])]
        _, found = get_json(port, "/api/search?camera=depot&since=60&until=100")
        assert [i["global_id"] for i in found["identities"]] == [12]
        _, found = get_json(port, "/api/search?camera=depot&limit=2")
        assert found["sightings"] == 2 and found["truncated"]
        for bad, why in [("since=soon", "since must be a number"), ("until=nan", "finite"), ("limit=0", "limit must be"),
                         ("colour=" + "x" * 80, "at most 64")]:  # fmt: skip
            status, answer = get_json(port, f"/api/search?{bad}")
            assert status == 400 and why in answer["error"], bad


def test_camera_graph_from_the_journeys_and_the_learnt_network(database: Path) -> None:
    with served(LiveState(["depot", "north-gate", "south-gate", "west"]), view_of(database)) as port:
        status, g = get_json(port, "/api/graph")
    assert status == 200
    assert [n["id"] for n in g["nodes"]] == ["depot", "north-gate", "south-gate", "west"]  # the run's cameras, in order
    assert {n["id"]: n["sightings"] for n in g["nodes"]} == {"depot": 3, "north-gate": 6, "south-gate": 6, "west": 0}
    links = {(link["kind"], link["from"], link["to"]): link for link in g["links"]}
    assert set(links) == {("travel", "north-gate", "south-gate"), ("travel", "south-gate", "depot"),
                          ("travel", "depot", "north-gate"), ("overlap", "depot", "north-gate")}  # fmt: skip
    ns = links[("travel", "north-gate", "south-gate")]
    assert ns["count"] == 6 and ns["travel_s"] == {"min": 6.0, "median": 8.5, "max": 11.0}
    assert sum(ns["histogram"]["counts"]) == 6 and ns["histogram"]["edges"][0] == 6.0 and ns["histogram"]["edges"][-1] == 11.0
    assert ns["learnt"] == {"min_s": 7.2, "max_s": 16.8, "mean_s": 12.0, "std_s": 1.6, "observations": 6, "expected": 0.12}
    sd = links[("travel", "south-gate", "depot")]
    assert sd["count"] == 3 and sd["travel_s"]["median"] == 20.0 and sd["learnt"] is None
    dn = links[("travel", "depot", "north-gate")]  # learnt, no journey went that way
    assert dn["count"] == 0 and dn["travel_s"] is None and dn["learnt"]["mean_s"] == 50.0 and dn["learnt"]["observations"] == 3
    overlap = links[("overlap", "depot", "north-gate")]  # learnt, no journey saw both at once
    assert overlap["cameras"] == ["depot", "north-gate"] and overlap["count"] == 0
    assert overlap["learnt"] == {"observations": 4, "expected": 0.2}
    assert g["identities"] == 6


def overlapping_store(path: Path) -> Path:
    """Four identities: #21 and #22 seen by north-gate and south-gate at once, then on the depot
    15-16 s after south-gate; #23 south-gate then north-gate, overlapping; #24 north-gate, then
    south-gate 15 s after."""
    store = SQLiteStore(path, cameras={**CAMERAS, 4: "west"}, labels=VEHICLE_ATTRIBUTES)
    journeys = {
        21: [(1, 0.0, 10.0), (2, 8.0, 14.0), (3, 30.0, 32.0)],
        22: [(1, 40.0, 50.0), (2, 49.0, 55.0), (3, 70.0, 71.0)],
        23: [(2, 100.0, 105.0), (1, 103.0, 110.0)],
        24: [(1, 200.0, 205.0), (2, 220.0, 225.0)],
    }
    for gid, journey in journeys.items():
        for k, (camera, t0, t1) in enumerate(journey):
            t = tracklet(camera, 10 * gid + k, t0, t1)
            store.record(t)
            store.assign(t.key, gid)
    store.close()
    return path


def test_overlapping_sightings_are_an_overlap_not_a_negative_travel_time(tmp_path: Path) -> None:
    path = overlapping_store(tmp_path / "sightings.db")
    g = StoreView(lambda: SQLiteStore.read(path), str(path)).graph(["north-gate", "south-gate", "depot", "west"])
    links = {(link["kind"], link["from"], link["to"]): link for link in g["links"]}
    assert set(links) == {("overlap", "north-gate", "south-gate"), ("travel", "north-gate", "south-gate"), ("travel", "south-gate", "depot")}
    overlap = links[("overlap", "north-gate", "south-gate")]  # #21, #22 and #23 (the other way round): one undirected edge
    assert overlap["count"] == 3 and overlap["cameras"] == ["north-gate", "south-gate"] and overlap["travel_s"] is None
    assert overlap["learnt"] is None
    assert links[("travel", "north-gate", "south-gate")]["count"] == 1  # #24 only
    assert links[("travel", "north-gate", "south-gate")]["travel_s"] == {"min": 15.0, "median": 15.0, "max": 15.0}
    assert links[("travel", "south-gate", "depot")]["travel_s"] == {"min": 15.0, "median": 15.5, "max": 16.0}
    assert all(link["travel_s"]["min"] > 0 and link["histogram"]["edges"][0] >= 0 for link in g["links"] if link["kind"] == "travel")
    assert g["identities"] == 4 and [n["id"] for n in g["nodes"]] == ["north-gate", "south-gate", "depot", "west"]


def learnt_file(out: Path) -> Path:
    """OUT/topology.learnt.yaml as the matcher writes it: south-gate -> depot at ~17 s, depot and
    west overlapping."""
    from mtmc.match.config import NetworkConfig
    from mtmc.match.network import NetworkLearner
    from mtmc.runtime.matcher import LEARNT_TOPOLOGY

    learner = NetworkLearner(NetworkConfig(min_pairs=1), 60.0, names={**CAMERAS, 4: "west"})
    learner.negatives = [1000, 0]
    learner.opportunities[(2, 3)] = np.zeros(61, np.int64)
    learner.travel[(2, 3)].extend([16.0, 17.0, 18.0])
    learner.together[(3, 4)] = [10, 5]
    assert learner.write(out / LEARNT_TOPOLOGY) == 2
    return out / LEARNT_TOPOLOGY


def test_the_learnt_network_from_topology_learnt_yaml(tmp_path: Path) -> None:
    from mtmc.commands.dashboard import store_view
    from mtmc.dashboard.sightings import read_learnt

    overlapping_store(tmp_path / "sightings.db")  # the store store_view(tmp_path) reads
    written = learnt_file(tmp_path)
    network = read_learnt(written)
    assert [(link["from"], link["to"], link["mean_s"], link["observations"]) for link in network["links"]] == [("south-gate", "depot", 17.0, 3)]
    assert network["overlaps"] == [{"cameras": ["depot", "west"], "observations": 5, "expected": 0.01}]
    g = store_view(tmp_path).graph([])  # as `mtmc dashboard OUT` reads it
    links = {(link["kind"], link["from"], link["to"]): link for link in g["links"]}
    assert set(links) == {("overlap", "north-gate", "south-gate"), ("travel", "north-gate", "south-gate"),
                          ("travel", "south-gate", "depot"), ("overlap", "depot", "west")}  # fmt: skip
    sd = links[("travel", "south-gate", "depot")]
    assert sd["count"] == 2 and sd["learnt"]["mean_s"] == 17.0 and sd["learnt"]["std_s"] == 1.0 and sd["learnt"]["observations"] == 3
    dw = links[("overlap", "depot", "west")]
    assert dw["count"] == 0 and dw["learnt"] == {"observations": 5, "expected": 0.01}
    assert "west" in [n["id"] for n in g["nodes"]]
    assert links[("overlap", "north-gate", "south-gate")]["learnt"] is None  # seen at once, not learnt
    # a garbled file, another YAML, or none: nothing learnt, the journeys still drawn
    for text in ("links: [oops\n", "- 1\n- 2\n", "links: 3\noverlaps: [[a], [b, b], 7, {cameras: x}]\n", "\xff\xfe"):
        written.write_text(text, encoding="latin-1")
        assert read_learnt(written) == {"links": [], "overlaps": []}, text
    assert store_view(tmp_path).graph([])["links"][0]["learnt"] is None
    written.unlink()
    assert read_learnt(written) == {"links": [], "overlaps": []}
    assert len(store_view(tmp_path).graph([])["links"]) == 3


def test_the_live_learner_answers_while_the_matcher_changes_it(tmp_path: Path) -> None:
    from mtmc.dashboard.live import learnt_network

    class Learner:  # the matcher's NetworkLearner as the dashboard reads it, mutated by another thread
        def __init__(self) -> None:
            self.fail = 1

        def links(self) -> list[dict]:
            if self.fail:
                self.fail -= 1
                raise RuntimeError("deque mutated during iteration")
            return [{"from": "south-gate", "to": "depot", "min_s": 10.0, "max_s": 22.0, "mean_s": 16.0, "std_s": 2.0,
                     "observations": 9, "expected": 0.3}]  # fmt: skip

        def overlaps(self) -> list[dict]:
            return [{"cameras": ["west", "depot"], "observations": 7, "expected": 0.1}]

    learner = Learner()
    current: list = [None]  # none yet, as before an offline run's end, or with a given topology
    network = learnt_network(lambda: current[0])
    assert network() == {"links": [], "overlaps": []}
    current[0] = learner
    got = network()  # the first read meets a change, the second answers
    assert learner.fail == 0 and got["links"][0]["mean_s"] == 16.0 and got["overlaps"][0]["cameras"] == ["west", "depot"]
    learner.fail = 5  # always changing: the last good answer
    assert network() == got

    path = overlapping_store(tmp_path / "sightings.db")
    learner.fail = 1
    g = StoreView(lambda: SQLiteStore.read(path), str(path), learnt=learnt_network(lambda: learner)).graph([])
    links = {(link["kind"], link["from"], link["to"]): link for link in g["links"]}
    assert links[("travel", "south-gate", "depot")]["learnt"]["mean_s"] == 16.0
    assert links[("overlap", "depot", "west")]["learnt"] == {"observations": 7, "expected": 0.1}  # the pair sorted


def test_thumbnails_and_a_kept_frame(database: Path, data_dir: Path) -> None:
    state = LiveState(list(CAMERAS.values()))
    capture = cv2.VideoCapture(str(data_dir / "videos" / "street-b.mp4"))
    ok, image = capture.read()
    capture.release()
    assert ok
    image = cv2.resize(image, (480, round(image.shape[0] * 480 / image.shape[1])))
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    # vehicle 14 (k = 3) on south-gate: frames 1+10*(90+4+9) = 1031 .. 1061; a preview at 1040 shows its track
    state.frame("south-gate", 1040, 104.0, jpeg, np.array([[100, 60, 80, 50], [300, 100, 40, 40]]), [14, None], [203, 77])
    state.frame("south-gate", 1300, 130.0, jpeg, np.zeros((0, 4)), [])  # the latest preview: another frame
    with served(state, view_of(database)) as port:
        status, headers, body = call(port, "GET", "/api/thumbnail/1/103.jpg")
        assert (status, headers["Content-Type"], body) == (200, "image/jpeg", crop("truck_0011", "cam1"))
        status, headers, body = call(port, "GET", "/api/thumbnail/3/303.jpg")  # no thumbnail stored
        placeholder = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and placeholder.shape[:2] == (PLACEHOLDER_SIZE[1], PLACEHOLDER_SIZE[0])
        assert call(port, "GET", "/api/thumbnail/9/9.jpg")[0] == 200  # unknown: the placeholder too

        _, j = get_json(port, "/api/identity/14")
        shown = {s["camera"]: s["frame_shown"] for s in j["sightings"]}
        assert shown["south-gate"] == {"kind": "frame", "frame": 1040, "time_s": 104.0}
        assert shown["north-gate"]["kind"] == "thumbnail"
        status, _, body = call(port, "GET", "/api/sighting/2/203.jpg")
        drawn = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert status == 200 and drawn.shape == image.shape
        expected = [int(id_color(14)[i : i + 2], 16) for i in (5, 3, 1)]  # BGR
        assert np.abs(drawn[85, 100].astype(int) - expected).max() < 40  # the box's left edge, in #14's colour
        # a sighting whose frame is not kept: its thumbnail
        assert call(port, "GET", "/api/sighting/1/103.jpg")[2] == crop("truck_0011", "cam1")


def test_without_a_store_and_an_unreadable_store(tmp_path: Path) -> None:
    with served(LiveState(["c01"]), None) as port:
        status, answer = get_json(port, "/api/identity/1")
        assert status == 404 and "no sightings store" in answer["error"]
        assert get_json(port, "/api/info")[1]["store"] is None
    missing = StoreView(lambda: SQLiteStore.read(tmp_path / "none.db"), "none.db")
    with served(LiveState(["c01"]), missing) as port:
        status, answer = get_json(port, "/api/graph")
        assert status == 503 and answer["error"].startswith("no sightings database at")


# ---- security -----------------------------------------------------------------------------------


def test_non_loopback_needs_a_token() -> None:
    with pytest.raises(MtmcError, match=r"refusing to serve the dashboard on 0\.0\.0\.0 without a token.*dashboard\.token"):
        serve(LiveState([]), "0.0.0.0", 0)
    with pytest.raises(MtmcError, match="at least 16"):
        serve(LiveState([]), "127.0.0.1", 0, token="short")
    with pytest.raises(MtmcError, match="letters, digits"):
        serve(LiveState([]), "127.0.0.1", 0, token="a token; with=spaces")
    assert auth_module.is_loopback("127.0.0.1") and auth_module.is_loopback("::1") and auth_module.is_loopback("localhost")
    assert not auth_module.is_loopback("0.0.0.0") and not auth_module.is_loopback("192.168.1.10")
    assert auth_module.token_from(None, {"MTMC_DASHBOARD_TOKEN": TOKEN}) == TOKEN
    assert auth_module.token_from("given-token-0123456", {"MTMC_DASHBOARD_TOKEN": TOKEN}) == "given-token-0123456"
    server, _ = serve(LiveState([]), "0.0.0.0", 0, token=TOKEN)  # with a token it starts
    server.close()


def test_requests_without_the_token_are_refused(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compared = []
    real = auth_module.hmac.compare_digest
    monkeypatch.setattr(auth_module.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    with served(LiveState(["c01"]), view_of(database), token=TOKEN) as port:
        for path in ("/", "/identity/11", "/static/app.js", "/api/state", "/api/identity/11", "/api/graph", "/api/thumbnail/1/100.jpg"):
            status, headers, body = call(port, "GET", path)
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            assert b"needs its token" in body
        assert call(port, "POST", "/api/search/image", b"\xff\xd8\xff")[0] == 401
        assert call(port, "GET", "/api/state", headers={"Authorization": "Bearer wrong-token-0123456789"})[0] == 401
        assert call(port, "GET", "/api/state?token=wrong-token-0123456789")[0] == 401
        assert call(port, "GET", "/api/state", headers={"Cookie": "mtmc_token=wrong"})[0] == 401
        assert call(port, "GET", "/healthz")[0] == 200  # liveness only, no data

        assert call(port, "GET", "/api/identity/11", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        status, headers, _ = call(port, "GET", f"/identity/11?token={TOKEN}&x=1")
        assert status == 303 and headers["Location"] == "/identity/11?x=1"  # the token leaves the address bar
        cookie = headers["Set-Cookie"]
        assert cookie.startswith(f"mtmc_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert call(port, "GET", "/api/graph", headers={"Cookie": f"other=1; mtmc_token={TOKEN}"})[0] == 200
    assert compared  # tokens compared in constant time


def test_no_request_reaches_files_outside_the_static_folder(database: Path) -> None:
    attempts = [
        "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e%2fserver.py", "/static/../server.py", "/static/..%5cserver.py", "/static/%252e%252e%252fserver.py",
        "/static/style.css/../../server.py", "/static/", "/static/.", "/static/%00app.js", "/static//etc/passwd",
        "//etc/passwd", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/identity/..%2f..%2fetc%2fpasswd",
        "/api/thumbnail/..%2f..%2fetc/passwd.jpg", "/api/thumbnail/1/../../../etc/passwd.jpg", "/api/sighting/1/%2e%2e.jpg",
        "/api/identity/1/../../etc/passwd", "/api/frame/..%2f..%2fserver.py.jpg", "/api/frame/../../etc/passwd.jpg",
        "/static/app.js%00.png", "/static/APP.JS", "/static/sightings.db", "/sightings.db", "/api/../sightings.db",
    ]  # fmt: skip
    with served(LiveState(["c01"]), view_of(database)) as port:
        for path in attempts:
            status, _, body = call(port, "GET", path)
            assert status in (400, 404), (path, status)
            assert b"root:" not in body and b"import " not in body and b"SQLite" not in body, path
        assert call(port, "GET", "/static/app.js")[0] == 200


def png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 64


def test_uploads_are_size_and_type_checked(database: Path) -> None:
    seen = []
    view = view_of(database, image_search=lambda store, picture, k: seen.append(picture.shape) or [(12, 0.25)])
    picture = cv2.imencode(".png", np.full((40, 60, 3), 200, np.uint8))[1].tobytes()
    with served(LiveState([]), view) as port:
        def upload(body: bytes, kind: str = "application/octet-stream"):
            status, _, data = call(port, "POST", "/api/search/image", body, {"Content-Type": kind})
            return status, json.loads(data)

        status, answer = upload(b"\xff\xd8\xff" + b"\0" * (MAX_UPLOAD_BYTES + 1))
        assert status == 413 and "at most 4,194,304 bytes (4 MiB)" in answer["error"]
        status, answer = upload(b"GIF89a" + b"\0" * 100)
        assert status == 415 and "not a JPEG or PNG" in answer["error"]
        status, answer = upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
        assert status == 415
        status, answer = upload(b"")
        assert status == 415 and "empty" in answer["error"]
        status, answer = upload(b"\xff\xd8\xff\xe0 broken" * 10)
        assert status == 415 and "broken JPEG" in answer["error"]
        status, answer = upload(png_header(30000, 30000))  # 100 bytes claiming 900 M pixels: never decoded
        assert status == 413 and "30000x30000" in answer["error"]
        status, answer = upload(png_header(50, 50))  # a header and no pixels
        assert status == 415 and "cannot be decoded" in answer["error"]
        assert seen == []

        status, answer = upload(picture, "image/png")
        assert status == 200 and answer["results"][0]["global_id"] == 12 and answer["results"][0]["cameras"] == ["north-gate", "south-gate", "depot"]
        boundary = "----mtmc-test"
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"picture\"; filename=\"q.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode() + picture + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
        status, answer = upload(form, f"multipart/form-data; boundary={boundary}")
        assert status == 200 and answer["picture"] == {"width": 60, "height": 40}
        assert seen == [(40, 60, 3), (40, 60, 3)]
        status, _, _ = call(port, "GET", "/api/search/image")
        assert status == 405
    with served(LiveState([]), view_of(database)) as port:  # no picture search configured
        status, _, data = call(port, "POST", "/api/search/image", picture, {"Content-Type": "image/png"})
        assert status == 503 and "not available" in json.loads(data)["error"]


@needs_reid
def test_search_by_picture_finds_the_vehicle(database: Path) -> None:
    search, why = picture_search_for(MtmcConfig().embedder)  # the run's (default) embedder, built on first use
    assert why == ""
    with served(LiveState([]), view_of(database, image_search=search)) as port:
        for gid, name, _, _ in VEHICLES:
            status, _, data = call(port, "POST", "/api/search/image", crop(name, "cam2"), {"Content-Type": "image/jpeg"})
            answer = json.loads(data)
            assert status == 200 and answer["results"][0]["global_id"] == gid, (name, answer["results"][:3])
        assert [r["rank"] for r in answer["results"]] == list(range(1, 7))
        assert answer["results"][0]["thumbnail"] == "/api/thumbnail/1/105.jpg"


# ---- the matcher's live dashboard and `mtmc dashboard` ---------------------------------------------


def test_matcher_dashboard_reads_the_store_it_writes(tmp_path: Path) -> None:
    from mtmc.dashboard.live import start_dashboard
    from mtmc.match.config import NetworkConfig
    from mtmc.match.network import NetworkLearner

    config = MtmcConfig.model_validate({"cameras": [{"id": name, "source": "x.mp4"} for name in CAMERAS.values()]})
    store = SQLiteStore(tmp_path / "sightings.db", cameras=CAMERAS, labels=VEHICLE_ATTRIBUTES)
    store.open()
    live, server, url = start_dashboard(config, store, lambda: NetworkLearner(NetworkConfig(), 60.0, names=CAMERAS), 0)
    port = server.port
    try:
        assert url == f"http://127.0.0.1:{port}/"
        assert get_json(port, "/api/identity/5")[0] == 404
        store.record(tracklet(1, 1, 0.0, 2.0))
        store.assign((1, 1), 5)
        store.record(tracklet(2, 1, 10.0, 12.0))
        store.assign((2, 1), 5)
        assert get_json(port, "/api/identity/5")[0] == 404  # not committed yet
        store.commit()
        status, j = get_json(port, "/api/identity/5")  # the matcher writing, the dashboard reading
        assert status == 200 and j["cameras"] == ["north-gate", "south-gate"] and j["sightings"][1]["travel_s"] == 8.0
        info = get_json(port, "/api/info")[1]
        assert info["live"] and info["picture_search"]
        status, g = get_json(port, "/api/graph")  # the learner, nothing learnt yet: the journey's link alone
        assert status == 200 and [(link["kind"], link["from"], link["to"], link["learnt"]) for link in g["links"]] == [
            ("travel", "north-gate", "south-gate", None)]  # fmt: skip
    finally:
        server.close()
        store.close()


def start_command(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mtmc", "dashboard", *args], stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    line = process.stderr.readline()
    return process, line


def test_dashboard_command_serves_a_finished_run(database: Path) -> None:
    process, line = start_command(str(database.parent), "--port", "0")
    try:
        assert line.startswith("dashboard: http://127.0.0.1:") and "a finished run" in line, line
        port = int(line.split(":")[3].split("/")[0])
        info = get_json(port, "/api/info")[1]
        assert info["live"] is False and info["store"] == str(database) and info["cameras"] == ["depot", "north-gate", "south-gate"]
        assert get_json(port, "/api/identity/14")[1]["cameras"] == ["north-gate", "south-gate", "depot"]
        assert get_json(port, "/api/graph")[0] == 200
        assert call(port, "GET", "/identity/13")[0] == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_dashboard_command_errors_are_one_line(tmp_path: Path, database: Path) -> None:
    from mtmc.cli import main

    env = {k: v for k, v in os.environ.items() if k != "MTMC_DASHBOARD_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "mtmc", "dashboard", str(database), "--host", "0.0.0.0", "--port", "0"],
                          capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "without a token" in done.stderr
    assert main(["dashboard", str(tmp_path / "nothing")]) == 2


# ---- the pages in headless Chromium -----------------------------------------------------------------


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    JSON messages ending in NUL, commands on fd 3, answers on fd 4); no extra package."""

    def __init__(self, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def fds() -> None:
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)

        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                   "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}"]  # fmt: skip
        self.process = subprocess.Popen(command, preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next = 0
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1, mobile=False)

    def send(self, method: str, session: bool = False, timeout: float = 30.0, **params) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError(f"no answer to {method}")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk

    def evaluate(self, expression: str):
        return self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True, awaitPromise=True)["result"].get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", session=True, url=url)
        self.wait("document.readyState === 'complete'")

    def wait(self, condition: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"Boolean({condition})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never had {condition}: {self.evaluate('document.body.innerText')[:500]}")
            time.sleep(0.1)

    def upload(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument", session=True)["root"]["nodeId"]
        node = self.send("DOM.querySelector", session=True, nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", session=True, nodeId=node, files=[str(path)])

    def screenshot(self, path: Path) -> np.ndarray:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", session=True, format="png")["data"]))
        return cv2.imread(str(path), cv2.IMREAD_COLOR)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._write)
        os.close(self._read)


def colour_pixels(screen: np.ndarray, color: str, tolerance: int = 4) -> int:
    bgr = np.array([int(color[i : i + 2], 16) for i in (5, 3, 1)])
    return int((np.abs(screen.astype(int) - bgr).max(axis=2) <= tolerance).sum())


def find_picture(data: bytes, screen: np.ndarray) -> float:
    """Best normalised correlation of the JPEG ``data`` anywhere in ``screen``, at the sizes the page may show it."""
    picture = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    gray = cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY)
    best = -1.0
    for scale in np.arange(0.3, 1.31, 0.02):
        t = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if t.shape[0] < 16 or t.shape[0] > gray.shape[0] or t.shape[1] > gray.shape[1]:
            continue
        best = max(best, float(cv2.minMaxLoc(cv2.matchTemplate(gray, t, cv2.TM_CCOEFF_NORMED))[1]))
    return best


@needs_chromium
def test_identity_page_in_chromium(database: Path, browser: Browser, tmp_path: Path) -> None:
    with served(LiveState(list(CAMERAS.values())), view_of(database)) as port:
        browser.open(f"http://127.0.0.1:{port}/identity/16")
        browser.wait("document.querySelectorAll('#journey .sighting').length === 3")
        browser.wait("[...document.querySelectorAll('#journey img')].every((i) => i.complete && i.naturalWidth > 0)")
        screen = browser.screenshot(tmp_path / "identity.png")
        html = browser.evaluate("document.documentElement.outerHTML")
    shutil.copy(tmp_path / "identity.png", "/tmp/dashboard-identity.png")  # to look at by hand
    cards = [(c, t) for c, t in re.findall(r'<li class="sighting" data-camera="([^"]+)" data-track="(\d+)"', html)]
    assert cards == [("north-gate", "105"), ("south-gate", "205"), ("depot", "305")]  # in time order
    assert "travel 11.0 s" in html and "travel 20.0 s" in html and "3 sightings on 3 cameras" in html
    assert "Frame not shown: the frame is not kept" in html  # says plainly what is shown
    assert colour_pixels(screen, id_color(16)) > 150  # the identity's chip
    # both thumbnails stored for #16 are on the page; the depot's placeholder too
    assert find_picture(crop("truck_0033", "cam1"), screen) > 0.9
    assert find_picture(crop("truck_0033", "cam2"), screen) > 0.9


@needs_chromium
def test_identity_page_unknown_id(database: Path, browser: Browser) -> None:
    with served(LiveState([]), view_of(database)) as port:
        browser.open(f"http://127.0.0.1:{port}/identity/404")
        browser.wait("document.querySelector('#journey-head .error')")
        assert browser.evaluate("document.querySelector('#journey-head .error').textContent") == (
            f"no identity 404 in {database} (6 identities stored)"
        )


@needs_chromium
def test_graph_page_in_chromium(database: Path, browser: Browser, tmp_path: Path) -> None:
    with served(LiveState(list(CAMERAS.values())), view_of(database)) as port:
        browser.open(f"http://127.0.0.1:{port}/graph")
        browser.wait("document.querySelectorAll('#graph .node').length === 3")
        screen = browser.screenshot(tmp_path / "graph.png")
        nodes = browser.evaluate("[...document.querySelectorAll('#graph .node')].map((n) => n.dataset.camera)")
        links = browser.evaluate(
            "[...document.querySelectorAll('#graph .link')].map((l) => [l.dataset.kind, l.dataset.from, l.dataset.to, +l.dataset.count])"
        )
        bars = browser.evaluate("[...document.querySelectorAll('#links tr')].map((r) => r.querySelectorAll('.hist .bar').length)")
        labels = browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#graph .link')].map((l) => [l.dataset.kind + ' ' + l.dataset.from,"
            " [...l.querySelectorAll('text')].map((t) => t.textContent)]))"
        )
        dashed = browser.evaluate("getComputedStyle(document.querySelector('#graph .link.overlap path')).strokeDasharray")
        arrows = browser.evaluate("[...document.querySelectorAll('#graph .link.overlap path[marker-end]')].length")
    shutil.copy(tmp_path / "graph.png", "/tmp/dashboard-graph.png")
    assert nodes == ["north-gate", "south-gate", "depot"]
    assert sorted(links) == [["overlap", "depot", "north-gate", 0], ["travel", "depot", "north-gate", 0],
                             ["travel", "north-gate", "south-gate", 6], ["travel", "south-gate", "depot", 3]]  # fmt: skip
    assert labels["travel north-gate"] == ["6 · 8.5 s", "learnt: 12.0 ± 1.6 s (6)"]
    assert labels["travel south-gate"] == ["3 · 20.0 s"]
    assert labels["travel depot"] == ["learnt: 50.0 ± 3.3 s (3)"]  # learnt, no journey went that way
    assert labels["overlap depot"] == ["overlap (learnt 4)"]
    assert dashed not in ("", "none") and arrows == 0  # an overlap: dashed, no direction
    assert bars == [12, 12, 0, 0]  # the table: three links and one overlap
    assert colour_pixels(screen, "#6cb6ff", 10) > 600  # the nodes' rings (--accent)
    assert colour_pixels(screen, "#e0a040", 10) > 300  # the links and the histograms' bars
    assert colour_pixels(screen, "#7fd1b9", 10) > 25  # the learnt overlap's thin dotted line and its label


@needs_chromium
def test_overlaps_on_the_graph_page_in_chromium(tmp_path: Path, browser: Browser) -> None:
    """Views that saw vehicles at once and a learnt network from topology.learnt.yaml, as `mtmc
    dashboard OUT` shows them."""
    from mtmc.commands.dashboard import store_view

    overlapping_store(tmp_path / "sightings.db")
    learnt_file(tmp_path)
    with served(LiveState(["north-gate", "south-gate", "depot", "west"]), store_view(tmp_path)) as port:
        browser.open(f"http://127.0.0.1:{port}/graph")
        browser.wait("document.querySelectorAll('#graph .node').length === 4")
        screen = browser.screenshot(tmp_path / "graph-overlaps.png")
        labels = browser.evaluate(
            "[...document.querySelectorAll('#graph .link')].map((l) => [l.dataset.kind, l.dataset.from, l.dataset.to,"
            " [...l.querySelectorAll('text')].map((t) => t.textContent).join(' / ')])"
        )
        rows = browser.evaluate("[...document.querySelectorAll('#links tr')].map((r) => r.textContent)")
    shutil.copy(tmp_path / "graph-overlaps.png", "/tmp/dashboard-graph-overlaps.png")  # to look at by hand
    assert sorted(labels) == [
        ["overlap", "depot", "west", "overlap (learnt 5)"],
        ["overlap", "north-gate", "south-gate", "overlap · 3"],
        ["travel", "north-gate", "south-gate", "1 · 15.0 s"],
        ["travel", "south-gate", "depot", "2 · 15.5 s / learnt: 17.0 ± 1.0 s (3)"],
    ]
    assert not any("-" in text.split("·")[-1] for *_, text in labels)  # no negative travel time drawn
    assert sum("overlap: seen on both at once" in row for row in rows) == 2
    assert colour_pixels(screen, "#7fd1b9", 10) > 150  # the overlaps' dashed lines and labels


@needs_chromium
@needs_reid
def test_search_by_picture_through_the_page(database: Path, browser: Browser, tmp_path: Path) -> None:
    search, _ = picture_search_for(MtmcConfig().embedder)
    query = tmp_path / "query.jpg"
    query.write_bytes(crop(QUERY[1], "cam2"))
    with served(LiveState(list(CAMERAS.values())), view_of(database, image_search=search)) as port:
        browser.open(f"http://127.0.0.1:{port}/search")
        browser.wait("document.querySelector('#picture') && !document.querySelector('#picture').disabled")
        browser.upload("#picture", query)  # the file input's change event sends it
        browser.wait("document.querySelectorAll('#results .nearest').length > 0", timeout=60)
        browser.wait("[...document.querySelectorAll('#results img, #picture-query img')].every((i) => i.complete && i.naturalWidth > 0)")
        screen = browser.screenshot(tmp_path / "search.png")
        query_shown = browser.evaluate("(() => { const q = document.getElementById('picture-query'); return [q.hidden, q.querySelector('img').naturalWidth, q.textContent]; })()")
        first = browser.evaluate("(() => { const r = document.querySelector('#results .nearest'); return [+r.dataset.rank, +r.dataset.gid]; })()")
        note = browser.evaluate("document.getElementById('picture-note').textContent")
        title = browser.evaluate("document.getElementById('results-title').textContent")

        # the attribute search through the same page
        browser.open(f"http://127.0.0.1:{port}/search?colour=red&type=truck")
        browser.wait("document.querySelectorAll('#results .result').length > 0")
        found = browser.evaluate("[...document.querySelectorAll('#results .result')].map((r) => +r.dataset.gid)")
    shutil.copy(tmp_path / "search.png", "/tmp/dashboard-search.png")
    assert query_shown == [False, 121, "searched with query.jpg"]  # the picture searched with, beside its results
    assert find_picture(crop(QUERY[1], "cam2"), screen) > 0.8
    assert first == [1, QUERY[0]] and note == "searched with query.jpg" and "(121×92 px)" in title
    assert colour_pixels(screen, id_color(QUERY[0])) > 100
    assert find_picture(crop(QUERY[1], "cam1"), screen) > 0.8  # the found identity's thumbnail
    assert found == [16]


def test_picture_search_with_another_embedder_is_one_line(database: Path) -> None:
    from mtmc.dashboard.pictures import picture_search

    picture = cv2.imencode(".png", np.full((40, 60, 3), 200, np.uint8))[1].tobytes()
    view = view_of(database, image_search=picture_search(lambda image: np.ones(7, np.float32)))
    with served(LiveState([]), view) as port:
        status, _, data = call(port, "POST", "/api/search/image", picture, {"Content-Type": "image/png"})
    assert status == 503 and json.loads(data)["error"].startswith("the store's features are 1280-d but the embedder gives 7-d")


def test_without_a_token_only_loopback_host_names_are_served(database: Path) -> None:
    with served(LiveState(["c01"]), view_of(database)) as port:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "127.0.0.2"):
            assert call(port, "GET", "/api/graph", headers={"Host": host})[0] == 200, host
        for host in (f"evil.example:{port}", "attacker.test", f"0.0.0.0:{port}", ""):
            status, _, body = call(port, "GET", "/api/identity/11", headers={"Host": host})
            assert status == 403 and b"not a loopback name" in body, host  # DNS rebinding gets nothing
        assert call(port, "GET", "/healthz", headers={"Host": "evil.example"})[0] == 200


def test_matcher_dashboard_host_and_token_from_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mtmc.dashboard.live import start_dashboard

    cameras = [{"id": "c01", "source": "x.mp4"}]
    monkeypatch.delenv("MTMC_DASHBOARD_TOKEN", raising=False)
    open_config = MtmcConfig.model_validate({"cameras": cameras, "dashboard": {"host": "0.0.0.0"}})
    with pytest.raises(MtmcError, match="without a token"):
        start_dashboard(open_config, None, lambda: None, 0)
    monkeypatch.setenv("MTMC_DASHBOARD_TOKEN", TOKEN)
    _, server, url = start_dashboard(open_config, None, lambda: None, 0)
    try:
        assert url == f"http://0.0.0.0:{server.port}/"
        assert call(server.port, "GET", "/api/state")[0] == 401
        assert call(server.port, "GET", "/api/state", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        server.close()
    configured = MtmcConfig.model_validate({"cameras": cameras, "dashboard": {"token": "from-the-config-0123456"}})
    _, server, _ = start_dashboard(configured, None, lambda: None, 0)
    try:
        assert call(server.port, "GET", "/api/state", headers={"Authorization": "Bearer from-the-config-0123456"})[0] == 200
    finally:
        server.close()


def test_an_upload_from_another_sites_page_is_refused(database: Path) -> None:
    view = view_of(database, image_search=lambda store, picture, k: [(12, 0.25)])
    picture = cv2.imencode(".png", np.full((40, 60, 3), 200, np.uint8))[1].tobytes()
    with served(LiveState([]), view) as port:
        status, _, body = call(port, "POST", "/api/search/image", picture, {"Origin": "http://evil.example", "Content-Type": "image/png"})
        assert status == 403 and b"another site" in body
        own = {"Origin": f"http://127.0.0.1:{port}", "Content-Type": "image/png"}
        assert call(port, "POST", "/api/search/image", picture, own)[0] == 200


def test_offline_dashboard_embeds_with_the_embedder_the_store_recorded(tmp_path, monkeypatch) -> None:
    """``mtmc dashboard OUT`` without --config: the run's embedder as the matcher recorded it; a
    motion-only run's store says search by picture is off."""
    from mtmc.commands.dashboard import store_view
    from mtmc.store import image_search

    motion = tmp_path / "motion.db"
    store = SQLiteStore(motion, cameras=CAMERAS, embedder=None)
    store.record(tracklet(1, 1, 0.0, 1.0))
    store.close()
    view = store_view(motion)
    assert view.image_search is None and "embedder: null" in view.image_search_missing
    recorded = tmp_path / "recorded.db"
    store = SQLiteStore(recorded, cameras=CAMERAS, embedder={"name": "reid", "weights": "run-own-weights"})
    store.record(tracklet(1, 1, 0.0, 1.0))
    store.close()
    asked = []
    monkeypatch.setattr(image_search, "embedder_part", lambda config, store=None: asked.append(store.recorded_embedder()))
    store_view(recorded)
    assert asked == [{"name": "reid", "weights": "run-own-weights"}]
