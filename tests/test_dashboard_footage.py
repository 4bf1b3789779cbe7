"""Issue 34 on the dashboard: live boxes labelled with their tracklet's global id once decided, one
clock, each sighting's frame and clip cut from the run's videos, and corrections (split, merge,
flag, undo) from the identity page; in headless Chromium at 1280 px (screenshots in /tmp/shots/)."""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_dashboard_store import Browser, call, colour_pixels, served

from mtmc.dashboard import LiveState, StoreView, id_color
from mtmc.dashboard import footage as footage_module
from mtmc.dashboard.footage import Footage, sources_from_csv
from mtmc.reid.attributes import VEHICLE_ATTRIBUTES
from mtmc.store import SQLiteStore
from mtmc.types import Tracklet

SHOTS = Path("/tmp/shots")
WIDTH, HEIGHT = 1280, 800
FPS = 24.0  # street-a.mp4 and street-b.mp4
CAMERAS = {1: "c01", 2: "c02"}
# (camera, track, first second, last second, global id, box x, y, w, h): #1 crosses c01 -> c02, #2 and #3 one camera each
SIGHTINGS = [
    (1, 1, 1.0, 4.0, 1, 226, 134, 62, 42),
    (2, 2, 6.0, 9.0, 1, 200, 110, 70, 50),
    (1, 3, 10.0, 13.0, 2, 210, 118, 38, 28),
    (2, 4, 14.0, 17.0, 3, 340, 92, 32, 22),
]


def frame_of(video: Path, second: float) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, round(second * FPS))
    ok, image = capture.read()
    capture.release()
    assert ok
    return image


def tracklet(camera: int, track: int, t0: float, t1: float, box: tuple[int, ...], thumbnail: bytes) -> Tracklet:
    times = np.arange(t0, t1 + 1e-9, 0.5)
    frames = np.round(times * FPS).astype(np.int64) + 1
    boxes = np.tile(np.array(box, np.float32), (len(times), 1))
    return Tracklet(camera, track, frames, boxes, times, ended=True, thumbnail=thumbnail)


@pytest.fixture
def out(tmp_path: Path, data_dir: Path) -> Path:
    """A finished run's folder: sightings.db (no attributes stored) and cameras.csv naming the
    sources, no annotated videos."""
    folder = tmp_path / "out"
    folder.mkdir()
    videos = {1: data_dir / "videos" / "street-a.mp4", 2: data_dir / "videos" / "street-b.mp4"}
    with (folder / "cameras.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "number", "source"])
        for number, name in CAMERAS.items():
            writer.writerow([name, number, str(videos[number])])
    store = SQLiteStore(folder / "sightings.db", cameras=CAMERAS, labels=VEHICLE_ATTRIBUTES)
    for camera, track, t0, t1, gid, *box in SIGHTINGS:
        x, y, w, h = box
        crop = frame_of(videos[camera], (t0 + t1) / 2)[y : y + h, x : x + w]
        store.record(tracklet(camera, track, t0, t1, tuple(box), cv2.imencode(".jpg", crop)[1].tobytes()))
        store.assign((camera, track), gid)
    store.close()
    return folder


def view_of(out: Path) -> StoreView:
    database = out / "sightings.db"
    return StoreView(lambda: SQLiteStore.read(database), str(database), footage=Footage(sources_from_csv(out), out / "videos"))


def post(port: int, body: dict, **headers: str) -> tuple[int, dict]:
    status, _, data = call(port, "POST", "/api/corrections", json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    return status, json.loads(data)


def at_1280(browser: Browser) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", session=True, width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)


def fits_width(browser: Browser) -> bool:
    """No horizontal scrollbar: neither the page nor any panel or table is wider than it shows."""
    return browser.evaluate(
        "document.documentElement.scrollWidth <= innerWidth && [...document.querySelectorAll('.panel, table, .cameras-wrap')]"
        ".filter((e) => e.offsetParent).every((e) => e.scrollWidth <= e.clientWidth + 1)"
    )


def shot(browser: Browser, name: str) -> np.ndarray:
    SHOTS.mkdir(exist_ok=True)
    return browser.screenshot(SHOTS / name)


# ---- the live view --------------------------------------------------------------------------------


def live_state(data_dir: Path) -> LiveState:
    """Two cameras; c01's preview shows tracks 1 (decided later: #1) and 5 (pending); c02's none decided."""
    state = LiveState(["c01", "c02"], wall=lambda: 1.8e9)
    for camera, video, second, boxes in (
        ("c01", "street-a", 2.5, [(226, 134, 62, 42, 1), (210, 118, 38, 28, 5)]),
        ("c02", "street-b", 7.0, [(200, 110, 70, 50, 2)]),
    ):
        image = frame_of(data_dir / "videos" / f"{video}.mp4", second)
        rows = np.array([b[:4] for b in boxes], float)
        state.frame(camera, round(second * FPS) + 1, second, cv2.imencode(".jpg", image)[1].tobytes(), rows, [None] * len(boxes), [b[4] for b in boxes])
        state.heartbeat(camera, 100, 24.0, 0, 0.1)
    return state


def test_a_decision_labels_the_boxes_already_previewed(data_dir: Path) -> None:
    state = live_state(data_dir)
    assert [c["assigned"] for c in state.snapshot()["cameras"]] == [0, 0]
    preview = state.preview("c01")
    state.identity(1, "c01", 4.0, track=1)  # the matcher decides track 1 after its preview arrived
    state.identity(9, "c02", 5.0, track=5)  # another camera's track 5: not c01's
    assert state.marks("c01", preview) == ([1, None], [None, None])
    cameras = state.snapshot()["cameras"]
    assert [(c["boxes"], c["assigned"]) for c in cameras] == [(2, 1), (1, 0)]
    ident = state.snapshot()["identities"][1]
    assert (ident["id"], ident["last_seen_s"], ident["last_seen_wall"]) == (1, 4.0, 1.8e9)  # data time, wall time aside


def test_the_matcher_feeds_each_decision_with_its_tracklet_and_data_time(tmp_path: Path) -> None:
    from test_runtime_core import _config, _stream

    from mtmc.runtime.matcher import MatcherService

    config = _config(tmp_path)
    config.store.enabled = False
    service = MatcherService(config, tmp_path)
    service.live = LiveState(["c001", "c002"])
    fed: list = []
    service.live.identity = lambda gid, camera, time_s, track=None: fed.append((camera, track, time_s, gid))
    for batch in [*_stream(1, [1, 0, 0, 0, 0], 0.0), *_stream(2, [1, 0, 0, 0, 0], 3.0)]:
        service._publish(service.state.apply(batch), 0.0)
    # vehicle k: camera 1 from 10k s, camera 2 from 10k + 3 s, 1 s long; one id on both cameras
    ends = {(camera, track): time_s for camera, track, time_s, _ in fed}
    assert ends == pytest.approx({("c001", k + 1): 10 * k + 0.9 for k in range(3)} | {("c002", k + 1): 10 * k + 3.9 for k in range(3)})
    ids = {(camera, track): gid for camera, track, _, gid in fed}
    assert all(ids[("c001", k)] == ids[("c002", k)] for k in (1, 2, 3)) and len(set(ids.values())) == 3


def test_live_view_shows_global_ids(data_dir: Path, browser: Browser) -> None:
    state = live_state(data_dir)
    at_1280(browser)
    with served(state, None) as port:
        browser.open(f"http://127.0.0.1:{port}/")
        browser.wait("document.querySelector('[data-camera=c01] .foot') && document.querySelector('[data-camera=c01] .foot').textContent.includes('0 matched')")
        state.identity(1, "c01", 4.0, track=1)  # decided while the preview is on screen
        browser.wait("document.querySelector('[data-camera=c01] .foot').textContent.includes('2 (1 matched, 0 provisional, 1 pending)')")
        browser.wait("document.querySelector('#identities tr[data-gid=\"1\"]')")
        # the frame on screen is the one drawn after the decision (its address names the labels)
        browser.wait("(() => { const i = document.querySelector('[data-camera=c01] img'); return i.src.endsWith('-1.') && i.complete && i.naturalWidth > 0; })()")
        screen = shot(browser, "live.png")
        x, y, w, h = browser.evaluate("(() => { const r = document.querySelector('[data-camera=c01] img').getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); })()")
        when = browser.evaluate("(() => { const w = document.querySelector('#identities tr[data-gid=\"1\"] .when'); return [w.textContent, w.title]; })()")
        meta = browser.evaluate("(() => { const m = document.querySelector('[data-camera=c01] .meta'); return [m.textContent, m.title]; })()")
        fits = fits_width(browser)
        _, _, drawn = call(port, "GET", "/api/frame/c01.jpg")
    frame = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert colour_pixels(frame, id_color(1), 40) > 200  # #1's box and label, in its colour
    assert colour_pixels(screen[y : y + h, x : x + w], id_color(1), 40) > 150  # on the page's tile too
    assert when[0] == "0:04.0c01" and "run time 0:04.0" in when[1] and "decided" in when[1]  # one clock; wall time on hover
    assert meta[0] == "frame 61 · t 0:02.5" and "received" in meta[1]
    assert fits, "a horizontal scrollbar at 1280 px"


# ---- a sighting's frame and clip ------------------------------------------------------------------


def test_clips_are_cut_from_the_right_video_and_only_from_it(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    footage = Footage({**sources_from_csv(out), "../evil": "/etc/passwd", "cam": "rtsp://example/stream"}, out / "videos")
    assert "../evil" not in footage.sources and footage.video_of("cam") is None and footage.video_of("nope") is None
    assert footage.video_of("c01")[0] == "source"
    (out / "videos").mkdir()
    shutil.copy(footage.sources["c01"], out / "videos" / "c01.mp4")  # as mtmc run writes it after the run
    assert footage.video_of("c01") == ("annotated", out / "videos" / "c01.mp4")
    view = view_of(out)
    with served(LiveState(list(CAMERAS.values())), view) as port:
        for path in ("/api/clip/../../etc/passwd", "/api/clip/1/1.mp4", "/api/clip/1/x.webm", "/api/clip/%2e%2e/1.webm"):
            assert call(port, "GET", path)[0] == 404, path
        status, _, body = call(port, "GET", "/api/clip/1/77.webm")
        assert status == 404 and "no sighting camera 1 track 77" in json.loads(body)["error"]
        info = json.loads(call(port, "GET", "/api/info")[2])
        assert info["footage"] == {"c01": "annotated", "c02": "source"}
        assert info["attributes_stored"] == {"colour": False, "type": False}
        monkeypatch.setattr(footage_module, "MAKE_WAIT_S", 0.05)
        with view.footage._making:  # another clip being made: a request is not held for long
            status, _, body = call(port, "GET", "/api/clip/2/2.webm")
        assert status == 503 and "busy making other clips" in json.loads(body)["error"]


def test_a_sightings_clip_plays_in_chromium(out: Path, browser: Browser) -> None:
    at_1280(browser)
    with served(LiveState(list(CAMERAS.values())), view_of(out), live=False) as port:
        started = time.monotonic()
        status, headers, clip = call(port, "GET", "/api/clip/2/2.webm")
        made = time.monotonic() - started
        started = time.monotonic()
        assert call(port, "GET", "/api/clip/2/2.webm")[2] == clip
        cached = time.monotonic() - started
        browser.open(f"http://127.0.0.1:{port}/identity/1")
        browser.wait("document.querySelectorAll('#journey .sighting').length === 2")
        browser.wait("[...document.querySelectorAll('#journey img')].every((i) => i.complete && i.naturalWidth > 0)")
        browser.evaluate("document.querySelectorAll('#journey .sighting')[1].querySelector('button.play').click()")
        browser.wait("(() => { const v = document.querySelector('video.clip-video'); return v && v.readyState >= 2 && v.videoWidth > 0; })()")
        video = browser.evaluate("(() => { const v = document.querySelector('video.clip-video'); return [v.videoWidth, v.videoHeight, v.duration]; })()")
        sizes = browser.evaluate("[...document.querySelectorAll('img.thumb')].map((i) => [i.clientWidth, i.clientHeight])")
        screen = shot(browser, "identity.png")
        fits = fits_width(browser)
        browser.open(f"http://127.0.0.1:{port}/search")
        browser.wait("document.getElementById('attributes-note').textContent")
        hidden = browser.evaluate("[document.getElementById('f-colour').closest('label').hidden, document.getElementById('f-camera').closest('label').hidden]")
    assert status == 200 and headers["Content-Type"] == "video/webm" and clip[:4] == b"\x1a\x45\xdf\xa3"  # EBML: WebM
    assert 100_000 < len(clip) < 8 * 2**20 and cached < made / 5, (len(clip), made, cached)
    assert video[0] == 640 and 4.5 <= video[2] <= 5.5  # 3 s sighting, a second either side
    assert len(set(map(tuple, sizes))) == 1  # thumbnails of one size
    assert colour_pixels(screen, id_color(1), 40) > 300  # the chip and the box drawn on the frames
    assert fits, "a horizontal scrollbar at 1280 px"
    assert hidden == [True, False]  # no colours stored: no colour filter; cameras still


# ---- corrections ----------------------------------------------------------------------------------


def test_correction_requests_are_checked(out: Path) -> None:
    with served(LiveState(list(CAMERAS.values())), view_of(out)) as port:
        assert post(port, {"action": "merge", "keep": 2, "other": 2}) == (400, {"error": "cannot merge identity 2 with itself: name two different identities", "status": 400})
        assert post(port, {"action": "split", "camera": 1, "track": "x"})[1]["error"] == "split: track must be a whole number, got 'x'"
        assert post(port, {"action": "rm -rf"})[0] == 400
        status, _, _ = call(port, "POST", "/api/corrections", b"action=merge", {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 415  # a form from another page cannot send JSON without CORS
        assert post(port, {"action": "flag", "global_id": 3}, Origin="http://evil.example")[0] == 403
        assert call(port, "DELETE", "/api/corrections")[0] == 405
        assert post(port, {"action": "flag", "global_id": 3, "note": "two cars"}) == (200, {"action": "flag", "global_id": 3})
        assert json.loads(call(port, "GET", "/api/corrections")[2])["flagged"] == {"3": "two cars"}
    token = "s3cret-token-for-tests-0123"
    with served(LiveState([]), view_of(out), token=token) as port:
        assert post(port, {"action": "unflag", "global_id": 3})[0] == 401
        assert post(port, {"action": "unflag", "global_id": 3}, Authorization=f"Bearer {token}")[0] == 200


def test_split_and_merge_from_the_identity_page(out: Path, browser: Browser) -> None:
    at_1280(browser)
    with served(LiveState(list(CAMERAS.values())), view_of(out), live=False) as port:
        browser.open(f"http://127.0.0.1:{port}/identity/1")
        browser.wait("document.querySelectorAll('#journey .sighting').length === 2")
        browser.evaluate("document.querySelectorAll('#journey .sighting')[1].querySelector('button.split').click()")
        browser.wait("document.getElementById('correction-note').textContent.includes('now #4')")
        after_split = browser.evaluate("document.querySelectorAll('#journey .sighting').length")
        assert json.loads(call(port, "GET", "/api/identity/4")[2])["cameras"] == ["c02"]

        browser.open(f"http://127.0.0.1:{port}/identity/2")
        browser.wait("document.getElementById('merge-other')")
        browser.evaluate("document.getElementById('merge-other').value = '4'; document.querySelector('button.merge-go').click()")
        browser.wait("document.querySelectorAll('#journey .sighting').length === 2")
        browser.evaluate("document.getElementById('flag-note').value = 'c02 looks like another car'; document.querySelector('button.flag-go').click()")
        browser.wait("document.querySelector('.flag') && document.querySelector('.flag').textContent.includes('another car')")
        listed = browser.evaluate("[...document.querySelectorAll('#corrections-list tr')].map((r) => r.textContent)")
        shot(browser, "corrections.png")
        browser.evaluate("document.getElementById('corrections').scrollIntoView()")
        shot(browser, "corrections-list.png")
        fits = fits_width(browser)
        merged = json.loads(call(port, "GET", "/api/identity/2")[2])
        # undo the merge (the second correction): #4 stands alone again
        browser.evaluate("document.querySelector('#corrections-list tr[data-correction=\"2\"] button.undo').click()")
        browser.wait("document.querySelectorAll('#journey .sighting').length === 1")
        undone = json.loads(call(port, "GET", "/api/identity/4")[2])["cameras"]
    assert after_split == 1
    assert [(s["camera"], s["track"]) for s in merged["sightings"]] == [("c02", 2), ("c01", 3)]
    assert listed[0].startswith("3flagged #2: c02 looks like another car")  # latest first
    assert listed[1].startswith("2merged #4 into #2") and listed[2].startswith("1split #1 at camera 2 track 2 → #4")
    assert undone == ["c02"]
    assert fits, "a horizontal scrollbar at 1280 px"
