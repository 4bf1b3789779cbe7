"""The versioned wire format between per-camera workers and the central matcher.

Every message is one msgpack map: ``{"v": WIRE_VERSION, "k": kind, ...fields}``. Arrays travel as
raw little-endian bytes (msgpack ``bin``), never as lists, so a 1280-d feature costs 2.5 kB and
decodes with one ``np.frombuffer`` instead of 1280 Python floats.

=================  ====  ===========================================================================
message            kind  fields
=================  ====  ===========================================================================
``TrackletUpdate`` upd   c camera, m number, t track, s seq, r first_row, f frames <i4,
                         b boxes <f4 x4, ts times <f8, x feature <f2 | nil, n feature_count,
                         a {name: <f2}, e ended
``Progress``       prg   c camera, m number, cs closed_s, fd frames done, d done
``Heartbeat``      hb    c camera, at sent time, fd frames done, ob outbox size
``Ack``            ack   c camera, m through (cumulative)
``Preview``        pv    c camera, fr frame, ts time, j JPEG, b boxes <f4 x4, t tracks <i8
=================  ====  ===========================================================================

Fields a decoder does not know are ignored, so adding a field needs no version bump; changing
the meaning of one does. :func:`decode` turns every kind of bad input into one :class:`WireError`
whose ``reason`` the matcher counts before dropping the message (DESIGN.md, "Reliability model").

The outbox protocol is go-back-N: ``TrackletUpdate`` and ``Progress`` are numbered per camera
(``number`` 1, 2, 3 ... as the worker's outbox commits them); the matcher applies a camera's
messages strictly in that order, journals them, and acknowledges cumulatively ("all of camera c
through m"); a worker resends from the oldest unacknowledged message when acks stop coming. So a
resend is harmless and every replay of a journal sees the same sequence. A ``TrackletUpdate`` is a
delta of rows (``first_row`` says where they start in the track, so a gap is detected rather than
silently merged) plus a snapshot of the appearance, keyed ``(camera, track, seq)``. ``Heartbeat``
(liveness) and ``Preview`` (the dashboard's latest frame) are neither numbered nor journaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import index
from typing import Any, Literal

import msgpack
import numpy as np

from mtmc.errors import MtmcError
from mtmc.types import Tracklet

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_I4, _I8, _F2, _F4, _F8 = (np.dtype(code) for code in ("<i4", "<i8", "<f2", "<f4", "<f8"))

Reason = Literal["garbage", "oversized", "wrong_version", "malformed"]


class WireError(MtmcError):
    """Bytes that are not a message this version understands; ``reason`` is the counter to bump.

    ``garbage``: not msgpack or not an envelope; ``oversized``: longer than the limit;
    ``wrong_version``: an envelope of another version; ``malformed``: a known version whose fields
    are missing, of the wrong type, or inconsistent.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"wire message dropped ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


class UpdateGap(MtmcError):
    """An update starts after rows the matcher has not seen: wait for the resend, do not ack."""


def _id(name: str, value: Any) -> int:
    """``value`` as a non-negative int64 (ids, counts); numpy ints pass, bools and floats do not."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be an int, got {value!r}")
    try:
        number = index(value)
    except TypeError:
        raise ValueError(f"{name} must be an int, got {value!r}") from None
    if not 0 <= number <= _INT64_MAX:
        raise ValueError(f"{name} must lie in [0, 2**63 - 1], got {number}")
    return number


def _as_array(name: str, value: Any, dtype: np.dtype, width: int = 0) -> np.ndarray:
    """``value`` as a C-contiguous array of the wire dtype, one row per item; finite values only."""
    array = np.asarray(value)
    if array.dtype != dtype:
        with np.errstate(over="ignore"):  # a float16 overflow becomes inf, refused just below
            array = array.astype(dtype)
    array = np.ascontiguousarray(array).reshape((-1, width) if width else -1)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinity")
    return array


def _as_frames(value: Any) -> np.ndarray:
    """Frame numbers as int32, refusing what int32 cannot hold instead of wrapping it."""
    frames = np.asarray(value).reshape(-1)
    if frames.dtype != _I4 and frames.size:
        if frames.dtype.kind not in "iu":
            raise ValueError(f"frames must be integers, got {frames.dtype}")
        if frames.min() < 0 or frames.max() > _INT32_MAX:
            raise ValueError("frames must lie in [0, 2**31 - 1]")
    frames = np.ascontiguousarray(frames, dtype=_I4)
    if frames.size and (frames[0] < 0 or (np.diff(frames) <= 0).any()):
        raise ValueError("frames must be non-negative and increase strictly")
    return frames


def _seconds(name: str, value: Any) -> float:
    """``value`` as a finite float (bools refused: they are ints to Python)."""
    real = int | float | np.integer | np.floating
    if isinstance(value, bool | np.bool_) or not isinstance(value, real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class TrackletUpdate:
    """The rows a worker's track gained since its last update, plus its current appearance.

    ``seq`` counts the track's updates from 0 and ``(camera, track, seq)`` is the idempotency key;
    ``number`` is the message's place in its camera's outbox (0: not sent through one).
    ``first_row`` is the index, within the whole track, of ``frames[0]``. ``feature`` (float16) is
    the running mean over ``feature_count`` embeddings and ``attributes`` the current per-class
    scores: both are snapshots, so the latest update carries everything the matcher needs.
    """

    camera: int
    track: int
    seq: int
    first_row: int
    frames: np.ndarray
    boxes: np.ndarray
    times: np.ndarray
    feature: np.ndarray | None = None
    feature_count: int = 0
    attributes: Mapping[str, np.ndarray] = field(default_factory=dict)
    ended: bool = False
    number: int = 0

    def __post_init__(self) -> None:
        for name in ("camera", "track", "seq", "first_row", "feature_count", "number"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))
        frames = _as_frames(self.frames)
        boxes = _as_array("boxes", self.boxes, _F4, width=4)
        times = _as_array("times", self.times, _F8)
        if not len(frames) == len(boxes) == len(times):
            raise ValueError(
                f"frames, boxes and times differ in length ({len(frames)}, {len(boxes)}, {len(times)})"
            )
        if (self.feature is None) != (self.feature_count == 0):
            raise ValueError("feature and feature_count must be given together")
        feature = None if self.feature is None else _as_array("feature", self.feature, _F2)
        if feature is not None and not feature.size:
            raise ValueError("feature is empty")
        attributes = {}
        for name, scores in self.attributes.items():
            if type(name) is not str:
                raise ValueError(f"attribute name {name!r} is not a str")
            attributes[name] = _as_array(f"attribute {name!r}", scores, _F2)
        if not isinstance(self.ended, bool | np.bool_):
            raise ValueError(f"ended must be a bool, got {self.ended!r}")
        object.__setattr__(self, "ended", bool(self.ended))
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "feature", feature)
        object.__setattr__(self, "attributes", attributes)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.camera, self.track, self.seq)


@dataclass(frozen=True)
class Heartbeat:
    """A worker's sign of life, sent even when it has nothing else to say.

    ``sent`` is the worker's wall clock (seconds); ``outbox_size`` the number of messages still
    unacknowledged, which tells the operator that the worker is falling behind the matcher.
    """

    camera: int
    sent: float
    frames_done: int
    outbox_size: int

    def __post_init__(self) -> None:
        for name in ("camera", "frames_done", "outbox_size"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))
        object.__setattr__(self, "sent", _seconds("sent", self.sent))


@dataclass(frozen=True)
class Progress:
    """A camera's promise: every tracklet of it that ended at or before ``closed_s`` (global
    seconds) has been sent, in messages numbered below ``number``. ``done``: the camera has ended.

    The matcher's online mode decides only behind the slowest camera's promise, so its decisions
    do not depend on when messages happened to arrive.
    """

    camera: int
    number: int
    closed_s: float
    frames_done: int
    done: bool = False

    def __post_init__(self) -> None:
        for name in ("camera", "number", "frames_done"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))
        object.__setattr__(self, "closed_s", _seconds("closed_s", self.closed_s))
        if not isinstance(self.done, bool | np.bool_):
            raise ValueError(f"done must be a bool, got {self.done!r}")
        object.__setattr__(self, "done", bool(self.done))


@dataclass(frozen=True)
class Ack:
    """The matcher's word that camera ``camera``'s messages numbered ``<= through`` are journaled."""

    camera: int
    through: int

    def __post_init__(self) -> None:
        for name in ("camera", "through"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))


@dataclass(frozen=True, eq=False)
class Preview:
    """A camera's latest frame for the live dashboard: JPEG bytes and the boxes of its tracks."""

    camera: int
    frame: int
    time_s: float
    jpeg: bytes
    boxes: np.ndarray
    tracks: np.ndarray

    def __post_init__(self) -> None:
        for name in ("camera", "frame"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))
        object.__setattr__(self, "time_s", _seconds("time_s", self.time_s))
        if type(self.jpeg) is not bytes:
            raise ValueError("jpeg must be bytes")
        boxes = _as_array("boxes", self.boxes, _F4, width=4)
        tracks = np.ascontiguousarray(np.asarray(self.tracks).reshape(-1), dtype=_I8)
        if len(tracks) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(tracks)} track ids")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "tracks", tracks)


Message = TrackletUpdate | Progress | Heartbeat | Ack | Preview


def encode(message: Message, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """The wire bytes of ``message``.

    Raises ValueError when they exceed ``max_bytes``: a receiver would drop such a message on
    every resend, so the sender must split it instead.
    """
    if isinstance(message, TrackletUpdate):
        body = {
            "k": "upd",
            "c": message.camera,
            "m": message.number,
            "t": message.track,
            "s": message.seq,
            "r": message.first_row,
            "f": message.frames.tobytes(),
            "b": message.boxes.tobytes(),
            "ts": message.times.tobytes(),
            "x": None if message.feature is None else message.feature.tobytes(),
            "n": message.feature_count,
            "a": {name: scores.tobytes() for name, scores in message.attributes.items()},
            "e": message.ended,
        }
    elif isinstance(message, Heartbeat):
        body = {
            "k": "hb",
            "c": message.camera,
            "at": message.sent,
            "fd": message.frames_done,
            "ob": message.outbox_size,
        }
    elif isinstance(message, Progress):
        body = {
            "k": "prg",
            "c": message.camera,
            "m": message.number,
            "cs": message.closed_s,
            "fd": message.frames_done,
            "d": message.done,
        }
    elif isinstance(message, Ack):
        body = {"k": "ack", "c": message.camera, "m": message.through}
    elif isinstance(message, Preview):
        body = {
            "k": "pv",
            "c": message.camera,
            "fr": message.frame,
            "ts": message.time_s,
            "j": message.jpeg,
            "b": message.boxes.tobytes(),
            "t": message.tracks.tobytes(),
        }
    else:
        raise TypeError(f"not a wire message: {type(message).__name__}")
    data = msgpack.packb({"v": WIRE_VERSION, **body})
    if len(data) > max_bytes:
        raise ValueError(f"{type(message).__name__} encodes to {len(data)} bytes, over the {max_bytes} limit")
    return data


def _get(body: dict, name: str, kind: type) -> Any:
    """Field ``name`` of exactly type ``kind`` (so a bool never passes as an int)."""
    if name not in body:
        raise WireError("malformed", f"missing field {name!r}")
    value = body[name]
    if type(value) is not kind:
        raise WireError("malformed", f"field {name!r} is {type(value).__name__}, expected {kind.__name__}")
    return value


def _decode_update(body: dict) -> TrackletUpdate:
    feature = body.get("x")
    if feature is not None and type(feature) is not bytes:
        raise WireError("malformed", "field 'x' is neither bytes nor nil")
    attributes = _get(body, "a", dict)
    for scores in attributes.values():
        if type(scores) is not bytes:
            raise WireError("malformed", "an attribute's scores are not bytes")
    return TrackletUpdate(
        camera=_get(body, "c", int),
        track=_get(body, "t", int),
        seq=_get(body, "s", int),
        first_row=_get(body, "r", int),
        frames=np.frombuffer(_get(body, "f", bytes), _I4),
        boxes=np.frombuffer(_get(body, "b", bytes), _F4),
        times=np.frombuffer(_get(body, "ts", bytes), _F8),
        feature=None if feature is None else np.frombuffer(feature, _F2),
        feature_count=_get(body, "n", int),
        attributes={name: np.frombuffer(scores, _F2) for name, scores in attributes.items()},
        ended=_get(body, "e", bool),
        number=_get(body, "m", int),
    )


def _decode_heartbeat(body: dict) -> Heartbeat:
    return Heartbeat(
        camera=_get(body, "c", int),
        sent=_get(body, "at", float),
        frames_done=_get(body, "fd", int),
        outbox_size=_get(body, "ob", int),
    )


def _decode_progress(body: dict) -> Progress:
    return Progress(
        camera=_get(body, "c", int),
        number=_get(body, "m", int),
        closed_s=_get(body, "cs", float),
        frames_done=_get(body, "fd", int),
        done=_get(body, "d", bool),
    )


def _decode_ack(body: dict) -> Ack:
    return Ack(camera=_get(body, "c", int), through=_get(body, "m", int))


def _decode_preview(body: dict) -> Preview:
    return Preview(
        camera=_get(body, "c", int),
        frame=_get(body, "fr", int),
        time_s=_get(body, "ts", float),
        jpeg=_get(body, "j", bytes),
        boxes=np.frombuffer(_get(body, "b", bytes), _F4),
        tracks=np.frombuffer(_get(body, "t", bytes), _I8),
    )


_DECODERS: dict[str, Callable[[dict], Message]] = {
    "upd": _decode_update,
    "prg": _decode_progress,
    "hb": _decode_heartbeat,
    "ack": _decode_ack,
    "pv": _decode_preview,
}


def decode(data: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """The message in ``data``; any bad input raises :class:`WireError` and nothing else.

    The size is checked before parsing, and msgpack bounds every claimed length by the input's
    length, so a forged header cannot make the matcher allocate.
    """
    if len(data) > max_bytes:
        raise WireError("oversized", f"{len(data)} bytes, over the {max_bytes} limit")
    try:
        envelope = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack signals corrupt input with several unrelated types
        raise WireError("garbage", f"not msgpack ({type(exc).__name__}: {exc})") from exc
    if type(envelope) is not dict or "v" not in envelope:
        raise WireError("garbage", "not a message envelope")
    version = envelope["v"]
    if version != WIRE_VERSION or type(version) is not int:
        raise WireError("wrong_version", f"version {version!r}, this end speaks {WIRE_VERSION}")
    kind = envelope.get("k")
    decoder = _DECODERS.get(kind) if type(kind) is str else None
    if decoder is None:
        raise WireError("malformed", f"unknown kind {kind!r}")
    try:
        return decoder(envelope)
    except (ValueError, TypeError) as exc:  # a field failed the message's own checks
        raise WireError("malformed", str(exc)) from exc


def make_update(tracklet: Tracklet, seq: int, first_row: int, number: int = 0) -> TrackletUpdate:
    """The update carrying ``tracklet``'s rows from ``first_row`` on and its current appearance.

    A worker keeps, per track, the next ``seq`` and the number of rows already sent.
    """
    rows = slice(first_row, None)
    return TrackletUpdate(
        camera=tracklet.camera,
        track=tracklet.track,
        seq=seq,
        first_row=first_row,
        frames=tracklet.frames[rows],
        boxes=tracklet.boxes[rows],
        times=tracklet.times[rows],
        feature=tracklet.feature,
        feature_count=tracklet.feature_count if tracklet.feature is not None else 0,
        attributes=tracklet.attributes,
        ended=tracklet.ended,
        number=number,
    )


def merge_update(tracklet: Tracklet | None, update: TrackletUpdate) -> Tracklet:
    """``tracklet`` with ``update`` applied, as a new Tracklet (None: the track's first update).

    Idempotent: rows the tracklet already holds are skipped, and the appearance snapshot is taken
    only when it is not older than the tracklet's, so a resent or stale update changes nothing.
    Raises UpdateGap when earlier rows are missing.
    """
    if tracklet is None:
        tracklet = Tracklet(update.camera, update.track, np.zeros(0), np.zeros((0, 4)), np.zeros(0))
    if tracklet.key != (update.camera, update.track):
        raise ValueError(f"update for c{update.camera:03d}/{update.track} applied to {tracklet.key}")
    have = len(tracklet.frames)
    if update.first_row > have:
        raise UpdateGap(
            f"c{update.camera:03d}/{update.track} seq {update.seq} starts at row {update.first_row}, "
            f"only {have} rows are known"
        )
    new = slice(have - update.first_row, None)
    fresh = update.first_row + len(update.frames) >= have and update.feature_count >= tracklet.feature_count
    return Tracklet(
        camera=tracklet.camera,
        track=tracklet.track,
        frames=np.concatenate([tracklet.frames, update.frames[new]]),
        boxes=np.concatenate([tracklet.boxes, update.boxes[new]]),
        times=np.concatenate([tracklet.times, update.times[new]]),
        feature=(None if update.feature is None else update.feature.astype(np.float32))
        if fresh
        else tracklet.feature,
        feature_count=update.feature_count if fresh else tracklet.feature_count,
        attributes={name: s.astype(np.float32) for name, s in update.attributes.items()}
        if fresh
        else tracklet.attributes,
        ended=tracklet.ended or update.ended,
    )
