"""Provisional ids on the live view: a vehicle still in view shows the identity the matcher would
give it now (``#17?``, dashed, in that identity's colour), ``new?`` when it would start a new one,
``? t5`` only without an answer; a decision always wins. In headless Chromium at 1280 px."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from test_dashboard import synthetic_jpeg
from test_dashboard_footage import at_1280, live_state, shot
from test_dashboard_store import Browser, call, colour_pixels, served

from mtmc.dashboard import LiveState, id_color
from mtmc.dashboard import server as server_module
from mtmc.dashboard.state import NEW, UNASSIGNED_COLOR


def test_a_provisional_answer_marks_a_box_until_its_decision() -> None:
    state = LiveState(["c01"])
    state.frame("c01", 1, 1.0, synthetic_jpeg(), np.array([[1, 2, 30, 40], [5, 6, 7, 8], [9, 9, 9, 9]]), [None] * 3, [1, 2, 3])
    preview = state.preview("c01")
    assert state.marks("c01", preview) == ([None, None, None], [None, None, None])
    state.provisional({("c01", 1): 17, ("c01", 2): None})
    assert state.marks("c01", preview) == ([None, None, None], [17, NEW, None])
    camera = state.snapshot()["cameras"][0]
    assert (camera["labels"], camera["provisional"], camera["assigned"]) == ([None, None, None], [17, "new", None], 0)
    state.identity(4, "c01", 2.0, track=1)  # the decision differs: it wins, for good
    state.provisional({("c01", 1): 17})  # a late answer for a decided track is ignored
    assert state.marks("c01", preview) == ([4, None, None], [None, NEW, None])


def test_a_provisional_box_is_dashed_in_its_identitys_colour() -> None:
    image = np.full((240, 320, 3), 90, np.uint8)
    preview = server_module.Preview(1, 1, 0.0, cv2.imencode(".jpg", image)[1].tobytes(), [[40.0, 60.0, 200.0, 120.0]], [None], [5])

    def drawn(labels: list, guesses: list) -> np.ndarray:
        data = server_module.annotate(preview, (1920, 1920), labels, guesses)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    decided, guessed, new, pending = drawn([17], [None]), drawn([None], [17]), drawn([None], [NEW]), drawn([None], [None])
    edge = (slice(178, 183), slice(60, 230))  # the bottom edge, clear of the label
    assert colour_pixels(decided[edge], id_color(17), 40) > 0.9 * 5 * 170 * 0.4  # solid
    along = colour_pixels(guessed[edge], id_color(17), 40)
    assert 0.2 * colour_pixels(decided[edge], id_color(17), 40) < along < 0.8 * colour_pixels(decided[edge], id_color(17), 40)  # dashed
    assert colour_pixels(new, id_color(17), 40) == 0
    assert 0 < colour_pixels(new[edge], UNASSIGNED_COLOR, 30) < 0.7 * colour_pixels(pending[edge], UNASSIGNED_COLOR, 30)  # "new?" dashed, "? t5" solid


def test_the_matcher_feeds_provisional_ids_to_the_dashboard_and_its_own_feed_topic(tmp_path: Path) -> None:
    import msgpack
    from test_runtime_core import _config, _stream

    from mtmc.runtime.matcher import MatcherService

    config = _config(tmp_path)
    config.store.enabled = False
    service = MatcherService(config, tmp_path)
    service.live = LiveState(["c001", "c002"])
    sent: list = []
    service.publisher = type("Publisher", (), {"send_multipart": lambda self, frames, flags=0: sent.append(frames)})()
    one, two = _stream(1, [1, 0, 0, 0, 0], 0.0), _stream(2, [1, 0, 0, 0, 0], 3.0)
    decided = []
    for batch in [*one[:4], two[0]]:  # vehicles 1 and 2 ended on c001; vehicle 1 live on c002 (3.0-3.4 s)
        decided += service.state.apply(batch)
    assert [(a.key, a.kind) for a in decided] == [((1, 1), "assign")]  # the watermark (3.4 s) decided c001's first
    service._provisional()
    first = decided[0].global_id
    service.live.frame("c002", 80, 3.3, synthetic_jpeg(), np.array([[1, 2, 30, 40]]), [None], [1])
    assert service.live.marks("c002", service.live.preview("c002")) == ([None], [first])
    assert [(topic, msgpack.unpackb(body)) for topic, body in sent] == [
        (b"provisional", {"camera": 2, "name": "c002", "track": 1, "global_id": first, "kind": "provisional"})
    ]
    service._provisional()  # nothing changed since: not computed again, nothing sent
    assert len(sent) == 1
    for batch in [two[1], *one[4:], *two[2:]]:
        service._publish(service.state.apply(batch), 0.0)
    assert service.live.marks("c002", service.live.preview("c002"))[0] == [first]  # the decision agrees


def test_live_view_shows_a_provisional_id(data_dir: Path, browser: Browser) -> None:  # noqa: F811
    state = live_state(data_dir)  # c01: tracks 1 and 5, c02: track 2; none decided
    at_1280(browser)
    with served(state, None) as port:
        browser.open(f"http://127.0.0.1:{port}/")
        browser.wait("document.querySelector('[data-camera=c01] .foot') && document.querySelector('[data-camera=c01] .foot').textContent.includes('2 (0 matched, 0 provisional, 2 pending)')")
        state.provisional({("c01", 1): 3, ("c01", 5): None})  # track 1 would join #3; track 5 would be new
        browser.wait("document.querySelector('[data-camera=c01] .foot').textContent.includes('2 (0 matched, 2 provisional, 0 pending)')")
        browser.wait("(() => { const i = document.querySelector('[data-camera=c01] img'); return i.src.endsWith('-p3.n') && i.complete && i.naturalWidth > 0; })()")
        screen = shot(browser, "live-provisional.png")
        x, y, w, h = browser.evaluate("(() => { const r = document.querySelector('[data-camera=c01] img').getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); })()")
        legend = browser.evaluate("document.querySelector('.legend').textContent")
        _, _, drawn = call(port, "GET", "/api/frame/c01.jpg")
    frame = cv2.imdecode(np.frombuffer(drawn, np.uint8), cv2.IMREAD_COLOR)
    assert colour_pixels(frame, id_color(3), 40) > 100  # #3?'s dashed box and label, in #3's colour
    assert colour_pixels(screen[y : y + h, x : x + w], id_color(3), 40) > 80  # on the page's tile too
    assert "#id?" in legend and "new?" in legend


def test_a_failing_provisional_answer_never_stops_the_matcher(tmp_path: Path, caplog) -> None:
    from test_runtime_core import _config, _stream

    from mtmc.runtime.matcher import MatcherService

    config = _config(tmp_path)
    config.store.enabled = False
    service = MatcherService(config, tmp_path)
    service.live = LiveState(["c001", "c002"])
    service.state.apply(_stream(1, [1, 0, 0, 0, 0], 0.0)[0])  # c001's first vehicle, live

    def broken() -> dict:
        raise ValueError("a bug in the provisional query")

    service.state.provisional = broken
    service._provisional()
    assert "provisional ids for the live view failed" in caplog.text
    assert service._provisional_due > 0  # tried again later, not on every poll
