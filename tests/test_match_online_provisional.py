"""The online matcher's provisional answer for live tracklets: what a live box shows before its
tracklet has ended and been decided. It must foretell the decision in plain cases and never
change one."""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_match_online import angle, calibrated, cosine_config, random_scene, tracklet

from mtmc.match.config import TopologyConfig
from mtmc.match.online import OnlineAssociator
from mtmc.types import Tracklet


def so_far(t: Tracklet, at: float) -> Tracklet | None:
    """``t`` as the matcher holds it at data time ``at`` while it is still live (None: not begun)."""
    keep = t.times <= at
    if not keep.any():
        return None
    return Tracklet(t.camera, t.track, t.frames[keep], t.boxes[keep], t.times[keep], feature=t.feature)


def test_a_live_vehicle_seen_on_another_camera_gets_that_id_and_the_decision_agrees():
    a1 = tracklet(1, 1, 0.0, 3.0, angle(0))
    b1 = tracklet(1, 2, 1.0, 4.0, angle(90))
    online = calibrated(cosine_config())
    for t in (a1, b1):
        online.add(t)
    online.advance(6.0)
    a2 = tracklet(2, 7, 10.0, 13.0, angle(5))  # a1 again, live on camera 2
    x2 = tracklet(2, 8, 10.0, 13.0, angle(225))  # unlike anything decided
    live = [so_far(a2, 11.0), so_far(x2, 11.0)]
    answer = online.provisional(live)
    assert answer == {a2.key: online.global_id(a1.key), x2.key: None}
    for t in (a2, x2):
        online.add(t)
    online.advance(20.0)
    assert online.global_id(a2.key) == answer[a2.key]
    assert online.global_id(x2.key) not in {online.global_id(a1.key), online.global_id(b1.key)}
    assert online.provisional([a2]) == {}  # added: decided, no longer provisional


def test_two_live_tracks_of_one_camera_at_once_never_share_a_provisional_id():
    a1 = tracklet(1, 1, 0.0, 3.0, angle(0))
    online = calibrated(cosine_config())
    online.add(a1)
    online.advance(6.0)
    c = tracklet(2, 1, 10.0, 12.0, angle(1))
    d = tracklet(2, 2, 10.5, 12.0, angle(3))  # overlaps c on camera 2: at most one of them is a1
    answer = online.provisional([c, d])
    assert sorted(answer.values(), key=str) == sorted([online.global_id(a1.key), None], key=str)
    assert answer[c.key] == online.global_id(a1.key)  # the closer one


def test_a_live_tracklet_without_a_feature_has_no_provisional_id():
    a1 = tracklet(1, 1, 0.0, 3.0, angle(0))
    online = calibrated(cosine_config())
    online.add(a1)
    online.advance(6.0)
    assert online.provisional([tracklet(2, 1, 10.0, 11.0)]) == {(2, 1): None}
    assert online.provisional([]) == {}


def replay(tracklets: list[Tracklet], topology: TopologyConfig | None, ask: bool) -> tuple[list, dict, int]:
    """Feed ``tracklets`` as a run would (each added once ended, the watermark a second behind);
    with ``ask``, query every live one provisionally at each step. Every decision, the final
    ids, and how many live tracklets got a provisional id."""
    online = calibrated(cosine_config(window_s=20.0), topology)
    pending = sorted(tracklets, key=lambda t: (t.end, t.key))
    decisions, final, answered = [], {}, 0
    for w in np.arange(0.0, 70.0, 1.0).tolist():
        while pending and pending[0].end <= w:
            online.add(pending.pop(0))
        if ask:
            live = [s for t in pending if (s := so_far(t, w)) is not None]
            answered += sum(g is not None for g in online.provisional(live).values())
        found, finals = online.advance(w)
        decisions += found
        final.update({t.key: g for t, g in finals})
    for t in pending:
        online.add(t)
    found, finals = online.finish()
    return decisions + found, final | {t.key: g for t, g in finals}, answered


@pytest.mark.parametrize("linked", [False, True])
def test_provisional_queries_change_no_decision(linked):
    topology = TopologyConfig.model_validate(
        {"links": [{"from": f"c00{a}", "to": f"c00{b}", "min_s": 0, "max_s": 30} for a, b in ((1, 2), (2, 3), (3, 4))]}
    ) if linked else None  # fmt: skip
    tracklets = random_scene(0)
    plain, final, _ = replay(tracklets, topology, ask=False)
    asked, asked_final, answered = replay(tracklets, topology, ask=True)
    assert answered > 0  # the queries did find identities, and still changed nothing
    assert [(d.key, d.global_id, d.kind, d.decided_at_s) for d in asked] == [
        (d.key, d.global_id, d.kind, d.decided_at_s) for d in plain
    ]
    assert asked_final == final


def test_provisional_cost_is_bounded_by_the_window(capsys):
    """200 live tracklets against a window of about 2,000 decided ones: timed against deciding one
    epoch of 200 (printed with -s); must stay well under a second here."""
    rng = np.random.default_rng(3)
    looks = rng.standard_normal((400, 16))
    online = OnlineAssociator(cosine_config(window_s=600.0), calibrated(cosine_config()).scene)
    count = 0
    for second in range(100):  # 20 tracklets a second on 4 cameras, each 3 s long
        for _ in range(20):
            count += 1
            t0 = second + float(rng.uniform(0, 1))
            online.add(tracklet(1 + count % 4, count, t0, t0 + 3.0, looks[count % 400] + 0.3 * rng.standard_normal(16)))
        online.advance(second - 1.0)
    online.advance(110.0)  # every background tracklet decided: only the live ones are timed below
    live = [tracklet(1 + k % 4, 10_000 + k, 112.0, 114.0, looks[k] + 0.3 * rng.standard_normal(16)) for k in range(200)]
    started = time.perf_counter()
    answer = online.provisional(live)
    asked = time.perf_counter() - started
    window = online.window_size
    for t in live:
        online.add(t)
    started = time.perf_counter()
    online.advance(120.0)
    decided = time.perf_counter() - started
    print(f"provisional: 200 live against a window of {window}: {asked * 1000:.0f} ms; deciding them: {decided * 1000:.0f} ms")
    assert window == 2000 and len(answer) == 200
    assert asked < 2.0


def test_a_live_builder_is_read_without_changing_it(tmp_path):
    from mtmc.transport.codec import TrackletBuilder, TrackletUpdate

    def update(seq: int, rows: range) -> TrackletUpdate:
        frames = np.array(list(rows)) + 1
        return TrackletUpdate(1, 7, seq, rows.start, frames, np.tile([1.0, 2, 30, 40], (len(frames), 1)),
                              frames / 10.0, np.ones(4, np.float16), seq + 1)  # fmt: skip

    builder = TrackletBuilder(1, 7, spill_dir=tmp_path, spill_rows=8)
    assert builder.so_far() is None  # no row yet
    builder.add(update(0, range(0, 5)))
    live = builder.so_far()
    assert live is not None and len(live.times) == 5 and not live.ended and live.feature_count == 1
    live.times[:] = -1.0  # a copy: the builder's rows are its own
    builder.add(update(1, range(5, 10)))  # spills (over 8 rows held)
    assert builder.so_far() is None  # not read back from disk for a provisional answer
    whole = builder.tracklet()
    assert whole.times.tolist() == (np.arange(1, 11) / 10.0).tolist()
