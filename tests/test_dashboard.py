"""The live dashboard: LiveState, the HTTP routes, and the page as headless Chromium renders it."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.dashboard import STALE_AFTER_S, LiveState, id_color, jpeg_dimensions, serve
from mtmc.dashboard import server as server_module
from mtmc.dashboard import state as state_module
from mtmc.dashboard.images import PLACEHOLDER_SIZE
from mtmc.dashboard.state import Preview
from mtmc.errors import MtmcError

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not on PATH (Debian: apt-get install chromium)"
)
WINDOW = (1400, 900)


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def jpeg(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def synthetic_jpeg(h: int = 120, w: int = 160) -> bytes:
    return jpeg(np.full((h, w, 3), 90, np.uint8))


def jpeg_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A real tiny JPEG whose frame header (SOF0) claims ``width`` x ``height`` pixels."""
    data = bytearray(synthetic_jpeg(8, 8))
    sof = data.find(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    assert sof > 0
    data[sof + 5 : sof + 7] = height.to_bytes(2, "big")
    data[sof + 7 : sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


@contextlib.contextmanager
def served(state: LiveState, **kw: float) -> Iterator[int]:
    server, port = serve(state, **kw)
    try:
        yield port
    finally:
        server.close()


def get(port: int, path: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


# --- LiveState ---------------------------------------------------------------------------------


def test_snapshot_content_is_json() -> None:
    clock = FakeClock(100.0)
    state = LiveState(["c01", "c02"], clock=clock, wall=FakeClock(1.8e9))
    state.frame(
        "c01", 42, 1.75, synthetic_jpeg(), np.array([[1, 2, 30, 40], [5, 6, 7, 8]]), [7, None], [3, 4]
    )
    state.heartbeat("c01", 42, float("nan"), 3, 0.25)
    state.counters(10, {"garbage": 2}, 1, 5, 1, 0.012, float("inf"))
    state.identity(7, "c01", 1.75)

    snap = json.loads(json.dumps(state.snapshot(), allow_nan=False))
    c01, c02 = snap["cameras"]
    assert c01 == {
        "id": "c01",
        "seq": 1,
        "frame": 42,
        "time_s": 1.75,
        "wall": 1.8e9,
        "boxes": 2,
        "assigned": 1,
        "labels": [7, None],
        "provisional": [None, None],
        "frames_done": 42,
        "fps": None,
        "outbox": 3,
        "lag_s": 0.25,
        "heartbeat_age_s": 0.0,
        "stale": False,
    }
    assert c02["id"] == "c02" and c02["seq"] is None and c02["heartbeat_age_s"] is None
    assert snap["identities"] == [
        {
            "id": 7,
            "color": id_color(7),
            "ink": "#111111",
            "cameras": ["c01"],
            "last_camera": "c01",
            "last_seen_s": 1.75,
            "last_seen_wall": 1.8e9,
        }
    ]
    assert snap["counters"] == {
        "received": 10,
        "dropped": {"garbage": 2},
        "identities_active": 1,
        "identities_total": 5,
        "revisions": 1,
        "latency_p50_s": 0.012,
        "latency_p99_s": None,
    }
    assert snap["refused"] == {"unknown_camera": 0, "unreadable_preview": 0, "oversized_preview": 0}


def test_unknown_cameras_and_bad_previews_are_refused_and_counted() -> None:
    state = LiveState(["c01", "c02"], max_preview_size=(640, 640))
    state.heartbeat("c09", 1, 10.0, 0, 0.0)
    state.frame("c09", 1, 0.0, synthetic_jpeg(), np.zeros((0, 4)), [])
    state.frame("c01", 1, 0.0, synthetic_jpeg(), np.zeros((0, 4)), [])
    state.frame("c01", 2, 0.1, jpeg_bomb(), np.zeros((0, 4)), [])
    state.frame("c01", 3, 0.2, synthetic_jpeg(480, 641), np.zeros((0, 4)), [])  # one pixel too wide
    state.frame("c02", 4, 0.3, b"not a jpeg", np.zeros((0, 4)), [])
    snap = state.snapshot()
    assert [c["id"] for c in snap["cameras"]] == ["c01", "c02"]  # no tile for c09
    assert snap["refused"] == {"unknown_camera": 2, "unreadable_preview": 1, "oversized_preview": 2}
    assert state.preview("c09") is None and state.preview("c02") is None
    assert state.preview("c01").frame == 1  # the refused ones did not replace it
    with pytest.raises(ValueError, match="max_preview_size"):
        LiveState([], max_preview_size=(0, 100))


# --- preview images ----------------------------------------------------------------------------


def test_jpeg_dimensions_from_the_header() -> None:
    assert jpeg_dimensions(synthetic_jpeg(120, 160)) == (160, 120)
    assert jpeg_dimensions(jpeg_bomb()) == (20000, 20000)
    assert jpeg_dimensions(jpeg_bomb(30000, 7)) == (30000, 7)
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    for junk in [b"", b"\xff\xd8", b"hello", synthetic_jpeg()[:40], png.tobytes(), jpeg_bomb(20, 0)]:
        assert jpeg_dimensions(junk) is None, junk[:20]


def test_bomb_preview_is_refused_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real_imdecode = cv2.imdecode

    def imdecode(buf: np.ndarray, flags: int) -> np.ndarray | None:
        decoded.append(len(buf))
        return real_imdecode(buf, flags)

    monkeypatch.setattr(server_module.cv2, "imdecode", imdecode)
    bomb = jpeg_bomb()
    assert len(bomb) < 1000

    def preview(data: bytes) -> Preview:
        return Preview(1, 1, 0.0, data, [[20.0, 30.0, 60.0, 50.0]], [12], [1])

    for data in (bomb, b"not a jpeg", synthetic_jpeg(2000, 100)):
        refused = server_module.annotate(preview(data), (1920, 1920))
        shown = real_imdecode(np.frombuffer(refused, np.uint8), cv2.IMREAD_COLOR)
        assert shown.shape[:2] == PLACEHOLDER_SIZE[::-1]  # the small "preview refused" placeholder
    assert decoded == []  # no decoder ever saw them

    image = np.full((120, 160, 3), 90, np.uint8)
    drawn = server_module.annotate(preview(jpeg(image)), (1920, 1920))
    assert len(decoded) == 1
    drawn = real_imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    expected = [int(id_color(12)[i : i + 2], 16) for i in (5, 3, 1)]  # BGR
    assert drawn.shape == image.shape and np.abs(drawn[55, 20].astype(int) - expected).max() < 30


def test_frame_rejects_mismatched_ids() -> None:
    state = LiveState(["c01"])
    with pytest.raises(ValueError, match="2 boxes but 1 global ids"):
        state.frame("c01", 1, 0.0, b"", np.zeros((2, 4)), [1])
    with pytest.raises(ValueError, match="and 3 track ids"):
        state.frame("c01", 1, 0.0, b"", np.zeros((2, 4)), [1, 2], [1, 2, 3])


def test_stale_after_five_seconds_without_heartbeat() -> None:
    clock = FakeClock()
    state = LiveState(["c01", "c02"], clock=clock)
    state.heartbeat("c01", 1, 10.0, 0, 0.1)
    clock.now = STALE_AFTER_S - 0.5
    assert [c["stale"] for c in state.snapshot()["cameras"]] == [False, False]  # c02: still starting
    clock.now = STALE_AFTER_S + 0.5
    c01, c02 = state.snapshot()["cameras"]
    assert c01["stale"] and c01["heartbeat_age_s"] == STALE_AFTER_S + 0.5
    assert c02["stale"] and c02["heartbeat_age_s"] is None  # never heard from
    state.heartbeat("c01", 2, 10.0, 0, 0.1)
    assert not state.snapshot()["cameras"][0]["stale"]


def test_identities_keep_camera_order_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    state = LiveState(["a", "b", "c"], history_s=10)
    for camera, t in [("a", 0.0), ("a", 1.0), ("b", 2.0), ("a", 3.0), ("c", 4.0)]:
        state.identity(1, camera, t)
    state.identity(2, "b", 4.5)
    ident2, ident1 = state.snapshot()["identities"]  # most recently seen first
    assert ident1["cameras"] == ["a", "b", "a", "c"] and ident1["last_camera"] == "c"
    assert ident1["last_seen_s"] == 4.0 and ident2["id"] == 2
    # Unseen for more than history_s of stream time: gone.
    state.identity(3, "a", 14.2)
    assert [i["id"] for i in state.snapshot()["identities"]] == [3, 2]
    # A path keeps its latest MAX_PATH cameras; the list keeps at most MAX_IDENTITIES.
    for k in range(100):
        state.identity(3, "ab"[k % 2], 14.2)
    assert len(state.snapshot()["identities"][0]["cameras"]) == state_module.MAX_PATH
    monkeypatch.setattr(state_module, "MAX_IDENTITIES", 5)
    for gid in range(10, 30):
        state.identity(gid, "a", 15.0)
    snap = state.snapshot()
    assert snap["identities_listed"] == 5 and [i["id"] for i in snap["identities"]] == [29, 28, 27, 26, 25]


def test_throughput_from_received_deltas_with_bounded_history() -> None:
    clock = FakeClock(1000.0)
    state = LiveState([], history_s=20, clock=clock)
    assert state.snapshot()["throughput"] == {"messages_per_s": None, "history": []}
    for second in range(60):
        clock.now = 1000.0 + second
        state.counters(50 * second, {}, 0, 0, 0, None, None)
        state.counters(50 * second + 10, {}, 0, 0, 0, None, None)  # same second: replaces the sample
    throughput = state.snapshot()["throughput"]
    assert throughput["messages_per_s"] == 50.0
    assert throughput["history"] == [50.0] * 20  # 21 one-second samples, not 60


def test_concurrent_writers_and_readers() -> None:
    state = LiveState(["c0", "c1", "c2"], history_s=5)
    errors: list[BaseException] = []
    stop = threading.Event()
    data = synthetic_jpeg()

    def write(camera: str) -> None:
        try:
            for i in range(2000):
                state.frame(camera, i, i / 10, data, np.array([[0, 0, 10, 10]]), [i % 50])
                state.heartbeat(camera, i, 10.0, i % 7, 0.1)
                state.identity(i % 50, camera, i / 10)
                state.counters(i, {"garbage": i}, 5, 50, i, 0.01, 0.02)
        except BaseException as e:
            errors.append(e)

    def read() -> None:
        try:
            while not stop.is_set():
                json.dumps(state.snapshot(), allow_nan=False)
                state.preview("c1")
        except BaseException as e:
            errors.append(e)

    writers = [threading.Thread(target=write, args=(c,)) for c in ("c0", "c1", "c2")]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    snap = state.snapshot()
    assert [c["frame"] for c in snap["cameras"]] == [1999, 1999, 1999]
    assert sorted(c["seq"] for c in snap["cameras"])[-1] == 6000
    assert len(snap["identities"]) == 50


def test_id_colors_are_stable_and_distinct() -> None:
    colors = [id_color(g) for g in range(1, 13)]
    assert colors == [id_color(g) for g in range(1, 13)]
    assert all(len(c) == 7 and c.startswith("#") for c in colors)
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], float)
    nearest = min(np.abs(a - b).sum() for i, a in enumerate(rgb) for b in rgb[i + 1 :])
    assert nearest > 40


# --- HTTP --------------------------------------------------------------------------------------


def test_routes() -> None:
    state = LiveState(["c01", "cam two"])
    image = np.full((120, 160, 3), 90, np.uint8)
    state.frame(
        "c01", 5, 0.2, jpeg(image), np.array([[20, 30, 60, 50], [100, 60, 40, 40]]), [12, None], [1, 2]
    )
    state.frame("cam two", 6, 0.25, jpeg(image), np.zeros((0, 4)), [])
    with served(state) as port:
        assert get(port, "/healthz")[:2] == (200, "text/plain; charset=utf-8")

        status, kind, body = get(port, "/api/state")
        assert (status, kind) == (200, "application/json")
        assert [c["id"] for c in json.loads(body)["cameras"]] == ["c01", "cam two"]

        status, kind, body = get(port, "/")
        assert (status, kind) == (200, "text/html; charset=utf-8") and b"/static/app.js" in body
        for path, kind in [("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")]:
            assert get(port, path)[:2] == (200, f"{kind}; charset=utf-8")

        status, kind, body = get(port, "/api/frame/c01.jpg")
        assert (status, kind) == (200, "image/jpeg")
        drawn = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert drawn.shape == image.shape
        expected = [int(id_color(12)[i : i + 2], 16) for i in (5, 3, 1)]  # BGR
        assert np.abs(drawn[55, 20].astype(int) - expected).max() < 30  # left edge of #12's box
        assert np.abs(drawn[80, 100].astype(int) - 138).max() < 30  # unassigned: grey
        assert get(port, "/api/frame/c01.jpg")[2] == body  # drawn once per preview

        assert get(port, "/api/frame/cam%20two.jpg")[0] == 200
        for path in ["/api/frame/c99.jpg", "/nope", "/static/../state.py", "/static/missing.js"]:
            status, _, body = get(port, path)
            assert status == 404, path
        assert b"c99" in get(port, "/api/frame/c99.jpg")[2]


def request(port: int, method: str, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path)
    response = conn.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    conn.close()
    return response


def test_head_methods_and_cache_headers() -> None:
    with served(LiveState(["c01"])) as port:
        for path, cache in [("/", "no-cache"), ("/static/app.js", "no-cache"), ("/api/state", "no-store")]:
            got, head = request(port, "GET", path), request(port, "HEAD", path)
            assert got.status == head.status == 200 and got.getheader("Cache-Control") == cache
            assert head.body == b""
            if path == "/api/state":  # live numbers (uptime): the next body may be a digit longer
                assert abs(int(head.getheader("Content-Length")) - len(got.body)) <= 8
            else:
                assert head.getheader("Content-Length") == str(len(got.body))
            assert head.getheader("Content-Type") == got.getheader("Content-Type")
        missing = request(port, "HEAD", "/nope")
        assert missing.status == 404 and missing.body == b""
        post = request(port, "POST", "/api/state")
        assert post.status == 405 and post.getheader("Allow") == "GET, HEAD"
        assert request(port, "GET", "/healthz").getheader("Server") == "mtmc-dashboard"


def test_idle_connections_take_no_threads() -> None:
    before = threading.active_count()
    server, port = serve(LiveState(["c01"]))
    idle: list[socket.socket] = []
    try:
        assert threading.active_count() == before + server_module.THREADS + 1
        for i in range(300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(sock)
        time.sleep(0.5)  # let the server accept them all
        assert threading.active_count() == before + server_module.THREADS + 1
        assert get(port, "/healthz")[:2] == (200, "text/plain; charset=utf-8")
        assert get(port, "/api/state")[0] == 200
    finally:
        for sock in idle:
            sock.close()
        server.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before  # close() ended the loop and every worker
    server.close()  # idempotent


def test_idle_connections_are_closed_and_the_limit_holds() -> None:
    with served(LiveState([]), idle_timeout_s=1, connection_limit=12) as port:
        quiet = socket.create_connection(("127.0.0.1", port), timeout=10)
        partial = socket.create_connection(("127.0.0.1", port), timeout=10)
        partial.sendall(b"GET /healthz HTTP/1.1\r\n")
        start = time.monotonic()
        assert quiet.recv(100) == b"" and partial.recv(100) == b""  # closed by the server
        assert time.monotonic() - start < 8
        quiet.close()
        partial.close()
        # More idle clients than the limit: the rest wait in the backlog, and are served once
        # idle ones are closed.
        crowd = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(15)]
        assert get(port, "/healthz")[0] == 200
        for sock in crowd:
            sock.close()


def test_slow_clients_cannot_lock_the_dashboard_out() -> None:
    """1,000 clients each trickling a header line every 0.5 s (issue 32): ``/healthz`` still
    answers at once, and each trickler is closed once its request's headers are late, though its
    connection is never quiet long enough for the idle timeout. A keep-alive client between
    requests is left to the idle timeout."""
    header_timeout_s, period_s, clients = 3.0, 0.5, 1000
    resource = pytest.importorskip("resource")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 2 * clients + server_module.FD_RESERVE + 100:
        pytest.skip("the hard file-descriptor limit cannot fit both ends of 1,000 connections")
    with served(LiveState([]), header_timeout_s=header_timeout_s) as port:
        kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        kept.request("GET", "/healthz")
        assert kept.getresponse().read() == b"ok\n"
        kept_sock, t_kept = kept.sock, time.monotonic()
        slow: dict[socket.socket, float] = {}  # socket: when it sent its first header byte
        blank: set[socket.socket] = set()  # these send blank lines only: empty requests, never headers
        for i in range(clients):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            slow[sock] = time.monotonic()
            if i % 10 == 0:
                blank.add(sock)
            sock.sendall(b"\r\n" if sock in blank else b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.setblocking(False)
        lasted: list[float] = []  # how long each closed trickler was kept open
        checks: list[tuple[int, float]] = []  # (tricklers open, seconds /healthz took)
        start = time.monotonic()
        line = 0
        while slow and time.monotonic() - start < header_timeout_s + 5:  # the keep-alive one idles 10 s
            line += 1
            for sock, began in list(slow.items()):  # one thread drives every socket
                try:
                    got = sock.recv(1)
                except BlockingIOError:  # open, and nothing said
                    with contextlib.suppress(OSError):  # a reset shows on the next round's recv
                        sock.send(b"\r\n" if sock in blank else b"X-Slow-%d: 1\r\n" % line)
                    continue
                except OSError:
                    got = b""
                assert got == b"", "a trickler got an answer to headers it never finished"
                lasted.append(time.monotonic() - began)
                sock.close()
                del slow[sock]
            asked = time.monotonic()
            health = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                health.request("GET", "/healthz")
                reply = health.getresponse()
                assert (reply.status, reply.read()) == (200, b"ok\n")
            finally:
                health.close()
            checks.append((len(slow), time.monotonic() - asked))
            time.sleep(max(0.0, period_s - (time.monotonic() - asked)))
        for sock in slow:
            sock.close()
        assert checks[0][0] == clients  # answered with all 1,000 holding connections open
        assert max(took for _, took in checks) < 2.0, checks
        assert not slow and len(lasted) == clients  # every trickler closed by the header deadline
        assert min(lasted) >= header_timeout_s - 0.05  # not before it
        assert time.monotonic() - t_kept > header_timeout_s  # the keep-alive client was quiet that long
        kept.request("GET", "/healthz")
        assert kept.getresponse().read() == b"ok\n" and kept.sock is kept_sock  # the same connection
        kept.close()


def test_close_frees_the_port() -> None:
    server, port = serve(LiveState([]))
    assert server.port == port and server.url == f"http://127.0.0.1:{port}/"
    assert get(port, "/healthz")[0] == 200
    server.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with served(LiveState([]), port=port) as again:  # the same port, at once
        assert again == port and get(port, "/healthz")[0] == 200


def test_port_in_use_is_a_user_error() -> None:
    before = threading.active_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MtmcError, match=rf"port {port} on 127\.0\.0\.1 is already in use.*another port"):
            serve(LiveState([]), port=port)
    assert threading.active_count() == before  # nothing started


# --- the page in headless Chromium -------------------------------------------------------------

CAMERAS = {  # camera: (video, frame, [(x, y, w, h, global id, track id)])
    "c01": (
        "street-a",
        40,
        [
            (210, 118, 38, 28, 3, 1),
            (268, 106, 40, 24, 5, 2),
            (352, 130, 62, 30, 4, 3),
            (308, 118, 44, 24, None, 4),
            (598, 156, 42, 30, 13, 5),
        ],
    ),
    "c02": (
        "street-b",
        150,
        [
            (206, 116, 46, 32, 4, 8),
            (184, 102, 30, 22, 1, 9),
            (340, 92, 32, 22, None, 11),
            (598, 156, 42, 30, 13, 12),
        ],
    ),
    "c03": (
        "street-a",
        400,
        [
            (226, 120, 70, 56, 6, 2),
            (268, 106, 40, 24, 5, 5),
            (352, 130, 62, 30, 10, 6),
            (598, 156, 42, 30, 13, 7),
        ],
    ),
}
SIGHTINGS = [  # (stream time, global id, camera), in the order the matcher reports them
    (0.5, 3, "c01"),
    (1.0, 5, "c03"),
    (2.0, 13, "c01"),
    (3.5, 4, "c01"),
    (4.0, 10, "c03"),
    (5.0, 5, "c01"),
    (6.5, 4, "c02"),
    (7.0, 13, "c02"),
    (8.0, 1, "c02"),
    (9.5, 13, "c03"),
    (11.0, 6, "c03"),
]
IDENTITIES = sorted({gid for _, gid, _ in SIGHTINGS})


def demo_state(data_dir: Path) -> LiveState:
    """Three cameras with real frames; c03 has not sent a heartbeat for 12 s."""
    clock = FakeClock(0.0)
    state = LiveState(list(CAMERAS), clock=clock)
    for camera, (video, index, boxes) in CAMERAS.items():
        capture = cv2.VideoCapture(str(data_dir / "videos" / f"{video}.mp4"))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
        capture.release()
        assert ok, f"cannot read frame {index} of {video}.mp4"
        rows = np.array([b[:4] for b in boxes], float)
        state.frame(
            camera, index, index / 24, jpeg(image), rows, [b[4] for b in boxes], [b[5] for b in boxes]
        )
    for second in range(61):
        clock.now = float(second)
        received = sum(40 + 15 * math.sin(s / 6) for s in range(second))
        state.counters(int(received), {"wrong_version": 2, "garbage": 5}, 7, 42, 3, 0.018, 0.094)
        if second == 48:
            state.heartbeat("c03", 1140, 23.9, 4, 0.31)
    state.heartbeat("c01", 1410, 24.0, 1, 0.12)
    state.heartbeat("c02", 1398, 23.7, 0, 0.09)
    state.heartbeat("c77", 10, 24.0, 0, 0.1)  # not configured: refused, and counted on the page
    for time_s, gid, camera in SIGHTINGS:
        state.identity(gid, camera, time_s)
    return state


def chromium(user_data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={user_data}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def find(template: np.ndarray, screen: np.ndarray) -> tuple[float, tuple[int, int]]:
    """Best normalised correlation of ``template`` anywhere in ``screen`` at any displayed scale."""
    best = (-1.0, (0, 0))
    small = cv2.resize(screen, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    for scale in np.arange(0.30, 1.01, 0.02):
        t = cv2.resize(template, None, fx=scale / 2, fy=scale / 2, interpolation=cv2.INTER_AREA)
        if t.shape[0] > small.shape[0] or t.shape[1] > small.shape[1]:
            break
        _, score, _, at = cv2.minMaxLoc(cv2.matchTemplate(small, t, cv2.TM_CCOEFF_NORMED))
        best = max(best, (score, (at[0] * 2, at[1] * 2)))
    return best


@needs_chromium
def test_page_in_headless_chromium(data_dir: Path, tmp_path: Path) -> None:
    state = demo_state(data_dir)
    png = tmp_path / "dashboard.png"
    with served(state) as port:
        url = f"http://127.0.0.1:{port}/"
        shot = chromium(tmp_path / "profile-shot", f"--screenshot={png}", url)
        dom = chromium(tmp_path / "profile-dom", "--dump-dom", url)
        drawn = {c: get(port, f"/api/frame/{c}.jpg")[2] for c in CAMERAS}
    assert png.is_file(), f"no screenshot: {shot.stderr[-2000:]}"
    shutil.copy(png, Path("/tmp/dashboard.png"))  # to look at by hand
    screen = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert screen.shape[:2] == (WINDOW[1], WINDOW[0])

    # Each camera's annotated frame is on the page, in its own place (c03's dimmed: stale).
    gray = cv2.cvtColor(screen, cv2.COLOR_BGR2GRAY)
    places = {}
    for camera, data in drawn.items():
        frame = cv2.cvtColor(
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY
        )
        score, places[camera] = find(frame, gray)
        assert score > 0.8, f"{camera}'s frame not found in the screenshot (best match {score:.2f})"
    assert len(set(places.values())) == 3

    # Every identity's colour appears (its chip in the identities panel, its boxes on the tiles).
    for gid in IDENTITIES:
        bgr = np.array([int(id_color(gid)[i : i + 2], 16) for i in (5, 3, 1)])
        pixels = (np.abs(screen.astype(int) - bgr).max(axis=2) <= 4).sum()
        assert pixels > 300, f"colour of #{gid} ({id_color(gid)}) hardly on the page: {pixels} pixels"
    stale_red = (np.abs(screen.astype(int) - [0x5D, 0x5D, 0xFF]).max(axis=2) <= 4).sum()
    assert stale_red > 500, "the stale camera's red border is missing"

    # The DOM after the scripts ran names every camera and identity, and marks c03 stale.
    html = dom.stdout
    for camera in CAMERAS:
        assert f'data-camera="{camera}"' in html
    for gid in IDENTITIES:
        assert f'data-gid="{gid}"' in html and f"#{gid}</span>" in html
    assert '<article class="tile stale" data-camera="c03">' in html and "STALE · 12 s" in html
    assert 'c01<span class="arrow">→</span>c02<span class="arrow">→</span>c03' in html  # #13's path
    assert 'data-camera="c77"' not in html and "<li>unknown_camera<b>1</b></li>" in html
