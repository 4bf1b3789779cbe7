"""The worker <-> matcher wire codec: exact round trips, one error type for bad bytes, idempotent
rebuilding of tracks from their updates."""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest

from mtmc.transport import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Ack,
    Batch,
    Heartbeat,
    TrackletBuilder,
    TrackletUpdate,
    UpdateGap,
    WireError,
    decode,
    encode,
    make_update,
)
from mtmc.transport.codec import Message, Preview
from mtmc.types import Tracklet


def _tracklet(rows: int = 30, dim: int = 512, seed: int = 0, ended: bool = True) -> Tracklet:
    rng = np.random.default_rng(seed)
    feature = rng.normal(size=dim)
    return Tracklet(
        camera=6,
        track=42,
        frames=np.arange(1, 3 * rows + 1, 3),
        boxes=rng.uniform(0, 1900, size=(rows, 4)),
        times=100.0 + np.arange(rows) / 10.0,
        feature=feature / np.linalg.norm(feature),
        feature_count=rows,
        attributes={"colour": rng.uniform(size=12), "type": rng.uniform(size=6)},
        ended=ended,
    )


def _update(dim: int | None = 512, rows: int = 10) -> TrackletUpdate:
    tracklet = _tracklet(rows, dim or 8, ended=False)
    update = make_update(tracklet, seq=3, first_row=0)
    if dim is None:
        return TrackletUpdate(6, 42, 3, 0, update.frames, update.boxes, update.times)
    return update


def _batch(*updates: TrackletUpdate, number: int = 1) -> Batch:
    return Batch(camera=6, number=number, closed_s=100.0, frames_done=30, updates=updates)


def _wire(update: TrackletUpdate) -> TrackletUpdate:
    """``update`` sent alone in a batch and decoded."""
    got = decode(encode(_batch(update)))
    assert isinstance(got, Batch) and len(got.updates) == 1
    return got.updates[0]


def _body(message: Message) -> dict:
    return msgpack.unpackb(encode(message))


def _reason(data: bytes, **kwargs: int) -> str:
    with pytest.raises(WireError) as caught:
        decode(data, **kwargs)
    return caught.value.reason


@pytest.mark.parametrize("dim", [512, 1280, None])
def test_update_round_trip(dim: int | None) -> None:
    sent = _update(dim)
    got = _wire(sent)
    assert isinstance(got, TrackletUpdate)
    assert got.key == sent.key == (6, 42, 3)
    assert (got.first_row, got.feature_count, got.ended) == (sent.first_row, sent.feature_count, sent.ended)
    np.testing.assert_array_equal(got.frames, sent.frames)
    np.testing.assert_array_equal(got.boxes, sent.boxes)
    np.testing.assert_array_equal(got.times, sent.times)
    assert (got.frames.dtype, got.boxes.dtype, got.times.dtype) == (np.int32, np.float32, np.float64)
    if dim is None:
        assert got.feature is None and got.attributes == {}
    else:
        np.testing.assert_array_equal(got.feature, sent.feature)
        assert got.attributes.keys() == sent.attributes.keys()
        for name in sent.attributes:
            np.testing.assert_array_equal(got.attributes[name], sent.attributes[name])


def test_float16_feature_is_close_to_the_tracklets() -> None:
    tracklet = _tracklet(dim=1280)
    merged = _built(_wire(make_update(tracklet, 0, 0))).tracklet()
    assert merged.feature is not None and merged.feature.dtype == np.float32
    np.testing.assert_allclose(merged.feature, tracklet.feature, atol=1e-3, rtol=1e-3)
    assert float(merged.feature @ tracklet.feature) == pytest.approx(1.0, abs=1e-4)


def test_heartbeat_ack_and_batch_round_trip() -> None:
    heartbeat = Heartbeat(camera=3, sent=1712345678.123456, frames_done=901, outbox_size=17)
    assert decode(encode(heartbeat)) == heartbeat
    assert decode(encode(Ack(6, 2**40))) == Ack(6, 2**40)
    mark = decode(encode(Batch(camera=2, number=77, closed_s=-1.5, frames_done=300, done=True)))
    assert isinstance(mark, Batch) and mark.updates == ()
    assert (mark.camera, mark.number, mark.closed_s, mark.frames_done, mark.done) == (2, 77, -1.5, 300, True)
    assert mark.frame_size is None
    sized = decode(encode(Batch(camera=2, number=78, closed_s=0.0, frames_done=1, frame_size=(1920, 1080))))
    assert sized.frame_size == (1920, 1080)


def test_batch_keeps_many_updates_apart() -> None:
    """Updates with and without features, attributes and rows come back each with its own columns."""
    plain = _update(None)
    empty = TrackletUpdate(6, 7, 2, 30, [], np.zeros((0, 4)), [], ended=True)
    featured = make_update(Tracklet(6, 9, [5, 6], np.ones((2, 4)), [1.0, 2.0], np.ones(8), 2, {"type": np.ones(6)}), 0, 0)
    sent = (_update(8), plain, empty, featured)
    got = decode(encode(_batch(*sent, number=5)))
    assert isinstance(got, Batch) and got.number == 5 and len(got.updates) == 4
    for a, b in zip(sent, got.updates):
        assert (a.key, a.first_row, a.feature_count, a.ended) == (b.key, b.first_row, b.feature_count, b.ended)
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        assert (a.feature is None) == (b.feature is None) and a.attributes.keys() == b.attributes.keys()
        if a.feature is not None:
            np.testing.assert_array_equal(a.feature, b.feature)
        for name in a.attributes:
            np.testing.assert_array_equal(a.attributes[name], b.attributes[name])
    last_empty = decode(encode(_batch(_update(8), empty)))  # a row-less update last: no boundary after it
    assert isinstance(last_empty, Batch) and [len(u.frames) for u in last_empty.updates] == [10, 0]
    with pytest.raises(ValueError, match="camera 7 in a batch of camera 6"):
        Batch(6, 1, 0.0, 0, updates=(TrackletUpdate(7, 1, 0, 0, [], np.zeros((0, 4)), []),))
    with pytest.raises(ValueError, match="features of one size"):
        encode(_batch(_update(8), _update(16)))


def test_preview_round_trip() -> None:
    sent = Preview(4, 120, 12.5, b"\xff\xd8jpeg", np.arange(8).reshape(2, 4), [7, 9])
    got = decode(encode(sent))
    assert isinstance(got, Preview)
    assert (got.camera, got.frame, got.time_s, got.jpeg) == (4, 120, 12.5, b"\xff\xd8jpeg")
    np.testing.assert_array_equal(got.boxes, sent.boxes)
    assert got.tracks.tolist() == [7, 9]
    with pytest.raises(ValueError, match="2 boxes but 1"):
        Preview(4, 120, 12.5, b"", np.zeros((2, 4)), [1])


def test_constructor_refuses_what_the_decoder_would() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        TrackletUpdate(1, 1, 0, 0, [1, 2], np.zeros((1, 4)), [0.0, 1.0])
    with pytest.raises(ValueError, match="2\\*\\*31"):
        TrackletUpdate(1, 1, 0, 0, [2**31], np.zeros((1, 4)), [0.0])
    with pytest.raises(ValueError, match="NaN"):
        TrackletUpdate(1, 1, 0, 0, [1], np.zeros((1, 4)), [0.0], feature=[70000.0], feature_count=1)
    with pytest.raises(ValueError, match="camera"):
        Heartbeat(camera=-1, sent=0.0, frames_done=0, outbox_size=0)
    with pytest.raises(ValueError, match="seq must be an int"):
        TrackletUpdate(1, 1, True, 0, [], np.zeros((0, 4)), [])


def test_numpy_scalars_become_python_values() -> None:
    tracklet = Tracklet(np.int64(3), np.int64(9), [1, 2], np.zeros((2, 4)), [0.0, 0.1], ended=np.bool_(True))
    update = make_update(tracklet, np.int64(0), 0)
    assert (type(update.camera), type(update.seq), type(update.ended)) == (int, int, bool)
    assert decode(encode(Batch(3, 1, 0.0, 0, updates=(update,)))).updates[0].key == (3, 9, 0)
    assert Heartbeat(np.int32(3), np.float32(2.5), 1, 0).sent == 2.5
    assert Ack(np.int64(1), np.uint8(3)) == Ack(1, 3)


def test_garbage() -> None:
    assert _reason(b"") == "garbage"
    assert _reason(b"\xc1") == "garbage"  # a byte msgpack never uses
    assert _reason(msgpack.packb([1, 2, 3])) == "garbage"
    assert _reason(msgpack.packb({"k": "hb"})) == "garbage"  # no version
    assert _reason(encode(Ack(1, 1)) + b"\x00") == "garbage"  # trailing bytes
    assert _reason(b"\x91" * 5000) == "garbage"  # nested too deep


def test_wrong_version() -> None:
    for version in (0, WIRE_VERSION + 1, "1", True, None):
        body = {**_body(Heartbeat(1, 0.0, 0, 0)), "v": version}
        assert _reason(msgpack.packb(body)) == "wrong_version"


@pytest.mark.parametrize(
    "field, value",
    [
        ("k", "bogus"),
        ("k", [1]),
        ("c", -1),
        ("c", 2**64 - 1),
        ("c", True),
        ("c", 1.0),
        ("m", None),
        ("cs", float("inf")),
        ("d", 1),
        ("u", np.array([[42, 3, 0, 10, 10, 0]] * 2, "<i8").tobytes()),  # two updates, one's rows
        ("u", np.array([[-1, 3, 0, 10, 10, 0]], "<i8").tobytes()),
        ("u", np.array([[42, 3, 0, 10, 10, 2]], "<i8").tobytes()),
        ("u", np.array([[42, 3, 0, 10, -5, 0]], "<i8").tobytes()),  # a negative count
        ("u", np.array([[42, 3, 0, 10, 0, 0]], "<i8").tobytes()),  # feature without a count
        ("u", np.array([[42, 3, 0, 11, 10, 0]], "<i8").tobytes()),  # more rows claimed than sent
        ("u", np.zeros(5, "<i8").tobytes()),  # not a whole row of the table
        ("u", None),
        ("f", b"\x01\x00\x00"),  # not a whole int32
        ("f", np.array([1, 2] * 5, "<i4").tobytes()),  # frames not increasing
        ("f", np.arange(1, 12, dtype="<i4").tobytes()),  # 11 frames, 10 boxes
        ("f", np.arange(-1, 9, dtype="<i4").tobytes()),  # increasing from a negative frame
        ("ts", np.append(np.arange(9.0), np.inf).tobytes()),  # one value of a few is not finite
        ("b", np.append(np.zeros(39, "<f4"), np.float32("nan")).tobytes()),
        ("b", np.zeros(41, "<f4").tobytes()),  # not whole boxes
        ("ts", np.full(10, np.nan).tobytes()),
        ("b", np.full(40, np.inf, "<f4").tobytes()),
        ("x", np.full(512, np.nan, "<f2").tobytes()),
        ("x", b""),
        ("x", [0.5] * 512),  # a list instead of raw bytes
        ("a", {"colour": [0.5]}),
        ("a", {b"colour": {"h": b"\x01", "v": b"\x00\x3c"}}),
        ("a", {"colour": {"h": b"\x01", "v": b""}}),
        ("a", {"colour": {"h": b"\x00", "v": b"\x00\x3c"}}),
        ("a", [b"\x00\x3c"]),
        ("fs", [0, 1080]),
        ("fs", [1920]),
        ("fs", [1920.0, 1080]),
        ("fs", [70000, 1080]),
        ("fs", "1920x1080"),
    ],
)
def test_malformed_batch(field: str, value: object) -> None:
    body = {**_body(_batch(_update())), field: value}
    assert _reason(msgpack.packb(body)) == "malformed"


@pytest.mark.parametrize(
    "frames",
    [np.r_[np.arange(50), 49, np.arange(51, 99)], np.arange(-1, 98), np.r_[np.arange(1, 99), np.int32(-5)]],
    ids=["repeated", "negative-first", "negative-last"],
)
def test_malformed_frames_of_a_long_update(frames: np.ndarray) -> None:
    """Past a few rows the frame checks run in numpy: the same refusals."""
    update = _update()
    n = len(frames)
    long = TrackletUpdate(update.camera, update.track, 0, 0, np.arange(n), np.ones((n, 4)), np.arange(n) / 10.0)
    body = {**_body(_batch(long)), "f": np.asarray(frames, "<i4").tobytes()}
    assert _reason(msgpack.packb(body)) == "malformed"
    assert decode(msgpack.packb(_body(_batch(long)))).updates[0].frames.tolist() == list(range(n))


def test_malformed_missing_fields_and_other_kinds() -> None:
    for name in ("c", "m", "cs", "fd", "d", "u", "f", "b", "ts", "x", "a"):
        body = _body(_batch(_update()))
        del body[name]
        assert _reason(msgpack.packb(body)) == "malformed", name
    assert _reason(msgpack.packb({**_body(Heartbeat(1, 0.0, 0, 0)), "at": float("nan")})) == "malformed"
    assert _reason(msgpack.packb({**_body(Heartbeat(1, 0.0, 0, 0)), "at": 5})) == "malformed"
    assert _reason(msgpack.packb({**_body(Ack(1, 1)), "m": -3})) == "malformed"
    preview = _body(Preview(1, 1, 0.0, b"", np.zeros((1, 4)), [1]))
    assert _reason(msgpack.packb({**preview, "t": b"\x00" * 7})) == "malformed"
    assert _reason(msgpack.packb({**preview, "b": b"\x00" * 20})) == "malformed"
    ext = msgpack.packb({**_body(Heartbeat(1, 0.0, 0, 0)), "c": msgpack.ExtType(5, b"x")})
    assert _reason(ext) == "malformed"


def test_unknown_fields_are_ignored() -> None:
    body = {**_body(Heartbeat(1, 0.0, 0, 0)), "future": [1, 2, 3]}
    assert decode(msgpack.packb(body)) == Heartbeat(1, 0.0, 0, 0)


def test_size_limit() -> None:
    data = encode(_batch(_update(1280)))
    assert len(data) < MAX_MESSAGE_BYTES
    assert _reason(data, max_bytes=len(data) - 1) == "oversized"
    assert isinstance(decode(data, max_bytes=len(data)), Batch)
    assert _reason(b"\x00" * (MAX_MESSAGE_BYTES + 1)) == "oversized"
    with pytest.raises(ValueError, match="over the 1000 limit"):
        encode(_batch(_update(1280)), max_bytes=1000)


def test_huge_claimed_sizes_fail_fast() -> None:
    headers = [
        b"\xc6\xff\xff\xff\xff",  # bin32 of 4 GiB
        b"\xdb\xff\xff\xff\xff",  # str32
        b"\xdd\xff\xff\xff\xff",  # array32
        b"\xdf\xff\xff\xff\xff",  # map32
        b"\xc9\xff\xff\xff\xff\x01",  # ext32
    ]
    start = time.perf_counter()
    for header in headers:
        assert _reason(header + b"\x00" * 64) == "garbage"
        # inside a valid envelope too: a feature field claiming 4 GiB
        prefix = encode(_batch(_update()))[:-1]
        assert _reason(prefix + header) == "garbage"
    assert time.perf_counter() - start < 0.5


def test_fuzz_never_raises_anything_but_wire_error() -> None:
    rng = np.random.default_rng(7)
    valid = [
        encode(_batch(_update(512))),
        encode(_batch(_update(None), _update(8))),
        encode(Heartbeat(2, 5.0, 9, 1)),
        encode(Ack(1, 3)),
        encode(Batch(1, 4, 2.5, 10)),
        encode(Preview(1, 1, 0.0, b"jpeg", np.zeros((2, 4)), [1, 2])),
    ]
    inputs: list[bytes] = [rng.bytes(int(n)) for n in rng.integers(0, 300, 1500)]
    for data in valid:
        inputs += [data[:cut] for cut in range(0, len(data), 7)]  # truncations
        for _ in range(500):  # random byte overwrites
            mutated = bytearray(data)
            for at in rng.integers(0, len(data), rng.integers(1, 6)):
                mutated[at] = int(rng.integers(0, 256))
            inputs.append(bytes(mutated))
    oddities = [None, True, -1, 2**64 - 1, -(2**63), 1.5, float("nan"), "x", b"\x00" * 7, [], {}, {"a": 1}]
    for message in (_batch(_update()), Heartbeat(2, 5.0, 9, 1), Ack(1, 3), Batch(1, 4, 2.5, 10)):
        body = _body(message)
        inputs += [msgpack.packb({**body, name: odd}) for name in body for odd in oddities]
    start = time.perf_counter()
    decoded = 0
    for data in inputs:
        try:
            decode(data)
            decoded += 1
        except WireError as error:
            assert error.reason in ("garbage", "oversized", "wrong_version", "malformed")
    assert time.perf_counter() - start < 2.0
    assert len(inputs) > 4000 and decoded < len(inputs)


def _built(*updates: TrackletUpdate) -> TrackletBuilder:
    builder = TrackletBuilder(updates[0].camera, updates[0].track)
    for update in updates:
        builder.add(update)
    return builder


def test_updates_rebuild_the_tracklet() -> None:
    tracklet = _tracklet(rows=25)
    builder = TrackletBuilder(tracklet.camera, tracklet.track)
    for seq, first_row in enumerate(range(0, 25, 10)):
        rows = slice(0, first_row + 10)
        partial = Tracklet(
            tracklet.camera,
            tracklet.track,
            tracklet.frames[rows],
            tracklet.boxes[rows],
            tracklet.times[rows],
            tracklet.feature,
            tracklet.feature_count,
            tracklet.attributes,
            ended=first_row + 10 >= 25,
        )
        builder.add(_wire(make_update(partial, seq, first_row)))
    merged = builder.tracklet()
    assert merged.key == tracklet.key and merged.ended and builder.rows == 25
    np.testing.assert_array_equal(merged.frames, tracklet.frames)
    np.testing.assert_array_equal(merged.boxes, tracklet.boxes)
    np.testing.assert_array_equal(merged.times, tracklet.times)
    assert merged.feature_count == tracklet.feature_count
    np.testing.assert_allclose(merged.attributes["colour"], tracklet.attributes["colour"], atol=1e-3)
    assert not builder.tracklet(ended=False).ended  # a run stopped early decides the state


def _three_updates() -> list[TrackletUpdate]:
    tracklet = _tracklet(rows=30)
    updates = []
    for seq, (first_row, count) in enumerate([(0, 10), (10, 20), (20, 30)]):
        rows = slice(0, first_row + 10)
        partial = Tracklet(6, 42, tracklet.frames[rows], tracklet.boxes[rows], tracklet.times[rows],
                           tracklet.feature * count, count, ended=seq == 2)  # fmt: skip
        updates.append(make_update(partial, seq, first_row))
    return updates


def _same(a: Tracklet, b: Tracklet) -> bool:
    return (
        np.array_equal(a.frames, b.frames)
        and np.array_equal(a.boxes, b.boxes)
        and np.array_equal(a.times, b.times)
        and np.array_equal(a.feature, b.feature)
        and (a.feature_count, a.ended, a.attributes.keys()) == (b.feature_count, b.ended, b.attributes.keys())
    )


def test_rebuilding_is_idempotent_for_resends_and_stale_updates() -> None:
    first, second, third = _three_updates()
    once = _built(first, second).tracklet()
    assert _same(_built(first, second, second).tracklet(), once)  # the same seq again
    assert _same(_built(first, second, first).tracklet(), once)  # an older seq, resent late
    done = _built(first, second, third).tracklet()
    assert _same(_built(first, second, third, first, second, third).tracklet(), done)  # a replayed outbox
    assert len(done.frames) == 30 and done.feature_count == 30 and done.ended
    np.testing.assert_array_equal(done.feature, third.feature.astype(np.float32))


def test_rebuilding_refuses_a_gap_and_a_foreign_track_and_stays_as_it_was() -> None:
    first, _, third = _three_updates()
    builder = _built(first)
    before = builder.tracklet()
    with pytest.raises(UpdateGap, match="starts at row 20, only 10 rows"):
        builder.add(third)
    foreign = TrackletUpdate(7, 42, 0, 0, [], np.zeros((0, 4)), [])
    with pytest.raises(ValueError, match="applied to"):
        builder.add(foreign)
    assert _same(builder.tracklet(), before) and builder.rows == 10


def test_a_long_tracklet_holds_its_own_rows_not_every_message_it_came_in() -> None:
    """A vehicle parked in view for hours: its builder must not keep each decoded batch alive
    nor a chunk per update (1,500 batches of 31 tracks: 7.75 MB held with views, 0.8 MB with a
    copied chunk per update, the rows' own 0.36 MB plus a little with chunks merged)."""
    import gc
    import tracemalloc

    from mtmc.transport.codec import TrackletBuilder

    def update(track: int, seq: int, first: int, feature: np.ndarray) -> TrackletUpdate:
        frames = np.arange(first + 1, first + 6)
        return TrackletUpdate(1, track, seq, first, frames, np.tile([1, 2, 30, 40], (5, 1)), frames * 0.1, feature, first + 5)

    builder = TrackletBuilder(1, 7)
    feature = np.ones(256, np.float32)
    tracemalloc.start()
    try:
        for k in range(1500):
            others = tuple(update(100 + j, 0, 0, feature) for j in range(30))
            message = decode(encode(Batch(1, k + 1, float(k), 0, updates=(update(7, k, 5 * k, feature), *others))))
            builder.add(message.updates[0])
            del message, others
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert builder.rows == 7500
    rows = sum(a.nbytes for chunks in (builder._frames, builder._boxes, builder._times) for a in chunks)
    print(f"{held / 1e6:.2f} MB held for {rows / 1e6:.2f} MB of rows in {len(builder._frames)} chunks")
    assert held < 1.5 * rows + 50_000, f"{held / 1e6:.2f} MB held for {rows / 1e6:.2f} MB of rows"
    assert len(builder._frames) <= 13  # log2(1,500 updates) + 1
    assert builder.tracklet().frames.tolist() == list(range(1, 7501))


def test_a_track_past_its_spill_rows_keeps_them_on_disk_and_gives_them_all_back(tmp_path) -> None:
    """Memory bounded for a track that never ends: rows past the limit go to unnamed files in the
    spill folder, the tracklet at the end has every row in order, resends still skip held rows."""
    from mtmc.transport.codec import TrackletBuilder

    def update(seq: int, first: int, n: int, ended: bool = False) -> TrackletUpdate:
        frames = np.arange(first + 1, first + n + 1)
        boxes = np.column_stack([frames, frames + 1, frames + 2, frames + 3]).astype(np.float32)
        return TrackletUpdate(1, 7, seq, first, frames, boxes, frames * 0.1, ended=ended)

    with pytest.raises(ValueError, match="spill_rows must be >= 1"):
        TrackletBuilder(1, 7, spill_rows=0)
    spill = tmp_path / "out"
    builder = TrackletBuilder(1, 7, spill_dir=spill, spill_rows=50)
    first = 0
    for seq in range(40):
        n = 3 + seq % 5
        builder.add(update(seq, first, n))
        if seq % 7 == 3:  # a resend overlapping what is held
            builder.add(update(seq, max(0, first - 2), n + 2))
        first += n
    held = sum(len(c) for c in builder._frames)
    assert builder._spill is not None and held < 50 and builder.rows == first
    assert spill.is_dir() and list(spill.iterdir()) == []  # unnamed: nothing to clean up after a crash
    builder.add(update(40, first, 4, ended=True))
    tracklet = builder.tracklet()
    rows = np.arange(1, first + 5)
    assert tracklet.ended and tracklet.frames.tolist() == rows.tolist()
    assert np.array_equal(tracklet.boxes, np.column_stack([rows, rows + 1, rows + 2, rows + 3]).astype(np.float32))
    assert np.allclose(tracklet.times, rows * 0.1) and builder._spill is None
