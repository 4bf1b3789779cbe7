"""Thumbnails: the worker's emitter crops each track's best box as a small JPEG and sends it only
when it changes; the codec carries it (bounded: an oversized or non-JPEG one is dropped with a log
line, the update kept; messages without thumbnails decode as before); the matcher keeps it and the
store writes it."""

from __future__ import annotations

import logging

import cv2
import msgpack
import numpy as np
import pytest

from mtmc.runtime.emitter import TrackletEmitter, thumbnail_jpeg
from mtmc.store import SQLiteStore
from mtmc.transport.codec import MAX_THUMBNAIL_BYTES, THUMBNAIL_SIDE, Batch, TrackletBuilder, TrackletUpdate, decode, encode
from mtmc.types import Tracklet


def jpeg(width: int = 40, height: int = 30, colour: tuple[int, int, int] = (0, 0, 255)) -> bytes:
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = colour
    return cv2.imencode(".jpg", image)[1].tobytes()


def _update(track: int, seq: int = 0, thumbnail: bytes | None = None) -> TrackletUpdate:
    return TrackletUpdate(1, track, seq, 2 * seq, [2 * seq + 1, 2 * seq + 2], np.tile([1, 2, 30, 40], (2, 1)),
                          [seq, seq + 0.5], thumbnail=thumbnail)  # fmt: skip


def _batch(*updates: TrackletUpdate) -> Batch:
    return Batch(1, 1, 0.0, 2, updates=updates)


def test_codec_round_trips_thumbnails_and_messages_without_them() -> None:
    picture = jpeg()
    back = decode(encode(_batch(_update(1), _update(2, thumbnail=picture), _update(3))))
    assert [u.thumbnail for u in back.updates] == [None, picture, None]
    plain = encode(_batch(_update(1)))
    assert b"\xa1j" not in plain  # no thumbnail column when none is sent: old decoders see the old message
    assert decode(plain).updates[0].thumbnail is None


def test_codec_drops_an_oversized_or_non_jpeg_thumbnail_with_a_log_line_and_keeps_the_update(caplog) -> None:
    body = msgpack.unpackb(encode(_batch(_update(1, thumbnail=jpeg()), _update(2, thumbnail=jpeg()))))
    big = b"\xff\xd8\xff" + bytes(MAX_THUMBNAIL_BYTES) + b"\xff\xd9"
    body["j"]["v"] = [big, b"GIF89a not a jpeg"]
    with caplog.at_level(logging.WARNING, logger="mtmc.transport.codec"):
        back = decode(msgpack.packb(body))
    assert [(u.track, u.thumbnail) for u in back.updates] == [(1, None), (2, None)]
    assert "over the 16384 limit" in caplog.text and "not a JPEG" in caplog.text
    body["j"] = {"h": b"\x01", "v": []}  # a broken column: the thumbnails go, the batch stays
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mtmc.transport.codec"):
        assert len(decode(msgpack.packb(body)).updates) == 2
    assert "thumbnails dropped" in caplog.text
    with pytest.raises(ValueError, match="over the 16384 limit"):  # a sender cannot make one
        _update(1, thumbnail=big)
    with pytest.raises(ValueError, match="not a JPEG"):
        _update(1, thumbnail=b"\x89PNG")


def test_builder_keeps_the_newest_thumbnail_and_a_resend_changes_nothing() -> None:
    old, new = jpeg(colour=(0, 255, 0)), jpeg(colour=(255, 0, 0))
    builder = TrackletBuilder(1, 7)
    builder.add(_update(7, 0, old))
    builder.add(_update(7, 1, new))
    builder.add(_update(7, 0, old))  # a stale resend
    builder.add(_update(7, 2))  # an update without one keeps the one held
    assert builder.tracklet().thumbnail == new


def test_thumbnail_is_a_small_jpeg_of_the_box() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    image[100:400, 200:800] = (0, 0, 255)  # a red vehicle, 600 x 300
    data = thumbnail_jpeg(image, np.array([200, 100, 800, 400], np.float64))
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[:2] == (64, THUMBNAIL_SIDE) and len(data) <= MAX_THUMBNAIL_BYTES
    assert picture[32, 64].tolist() == pytest.approx([0, 0, 255], abs=8)
    noise = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), np.uint8)  # the worst case for JPEG
    assert len(thumbnail_jpeg(noise, np.array([0, 0, 1280, 720]))) <= MAX_THUMBNAIL_BYTES
    assert thumbnail_jpeg(image, np.array([1300, 10, 1400, 50])) is None  # outside the frame


def test_emitter_sends_a_thumbnail_only_when_a_better_box_comes() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :, 1] = np.arange(320) * 255 // 320  # a gradient: each box's crop differs
    emitter = TrackletEmitter(camera=1)

    def frame(k: int, box: list[float]) -> None:
        emitter.add(k, k / 10, np.array([[*box, 4, 0.9, 2, 0]], np.float64), None, {4}, image=image)

    frame(1, [0, 50, 40, 90])  # cut by the frame's left border
    [first] = emitter.flush(first_number=1)
    assert first.updates[0].thumbnail is not None
    frame(2, [10, 50, 50, 90])  # whole now, though no larger: better
    [second] = emitter.flush(first_number=2)
    whole = second.updates[0].thumbnail
    assert whole is not None and whole != first.updates[0].thumbnail
    frame(3, [12, 50, 52, 92])  # barely larger: kept as it is, nothing sent
    frame(4, [0, 40, 100, 120])  # much larger but clipped: a whole one is better
    [third] = emitter.flush(first_number=3)
    assert third.updates[0].thumbnail is None
    frame(5, [20, 40, 120, 140])  # whole and much larger
    emitter.end_all()
    [last] = emitter.flush(first_number=4, done=True)
    update = decode(encode(last)).updates[0]
    picture = cv2.imdecode(np.frombuffer(update.thumbnail, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[:2] == (100, 100)


def test_store_writes_the_thumbnail_and_reads_it_back(tmp_path) -> None:
    picture = jpeg()
    store = SQLiteStore(tmp_path / "s.db")
    store.record(Tracklet(1, 2, [1, 2], np.ones((2, 4)), [0.0, 0.5], ended=True, thumbnail=picture))
    store.record(Tracklet(1, 3, [1, 2], np.ones((2, 4)), [0.0, 0.5], ended=True))
    store.assign((1, 2), 5)
    store.close()
    reader = SQLiteStore.read(tmp_path / "s.db")
    assert reader.thumbnail((1, 2)) == picture and reader.thumbnail((1, 3)) is None and reader.thumbnail((9, 9)) is None
    [sighting] = reader.journey(5)
    assert sighting.thumbnail == picture and sighting.as_dict()["thumbnail_bytes"] == len(picture)
    assert "thumbnail" not in sighting.as_dict()
    reader.close()
