"""The versioned wire format between per-camera workers and the central matcher.

Every message is one msgpack map: ``{"v": WIRE_VERSION, "k": kind, ...fields}``. Arrays travel as
raw little-endian bytes (msgpack ``bin``), never as lists, so a 1280-d feature costs 2.5 kB and
decodes with one ``np.frombuffer`` instead of 1280 Python floats.

=================  ====  ===========================================================================
message            kind  fields
=================  ====  ===========================================================================
``Batch``          bat   c camera, m number, cs closed_s, fd frames done, d done, fs [width, height]
                         (optional), and its updates
                         column-wise: u <i8 x6, per update (track, seq, first row, rows, feature
                         count, ended); f frames <i4, b boxes <f4 x4, ts times <f8 (the updates'
                         rows one after another); x features <f2 (one per update whose count is
                         not 0); a {name: {h has <u1 per update, v scores <f2 per update that has}};
                         j thumbnails {h has <u1 per update, v [JPEG bytes per update that has]}
                         (only when one is sent); a batch without updates may leave its empty
                         columns out
``Heartbeat``      hb    c camera, at sent time, fd frames done, ob outbox size
``Ack``            ack   c camera, m through (cumulative)
``Preview``        pv    c camera, fr frame, ts time, j JPEG, b boxes <f4 x4, t tracks <i8
=================  ====  ===========================================================================

Fields a decoder does not know are ignored, so adding a field needs no version bump; changing
the meaning of one does. A thumbnail (a track's JPEG crop, sent when the worker picked a better
one) is at most ``MAX_THUMBNAIL_BYTES``; one that is bigger or not a JPEG is dropped with a log
line and its update kept, so a bad picture never costs the matcher a tracklet. :func:`decode` turns every kind of bad input into one :class:`WireError`
whose ``reason`` the matcher counts before dropping the message (DESIGN.md, "Reliability model").

The outbox protocol is go-back-N: a worker's ``Batch`` messages are numbered (``number`` 1, 2, 3 ...
as its outbox commits them); the matcher applies a camera's batches strictly in that order,
journals them, and acknowledges cumulatively ("all of camera c through m"); a worker resends from
the oldest unacknowledged one when acks stop coming. So a resend is harmless and every replay of a
journal sees the same sequence. A batch carries what a camera's tracks gained since the last one
(a ``TrackletUpdate`` per track: a delta of rows, ``first_row`` saying where they start in the
track so that a gap is detected rather than silently merged, plus a snapshot of the appearance,
keyed ``(camera, track, seq)``) and then the camera's progress promise. One message per commit
rather than one per track keeps the matcher's per-message cost (socket, journal, ack) off the
per-track path; the columns are checked with a handful of numpy calls per batch, not per track.
``Heartbeat`` (liveness) and ``Preview`` (the dashboard's latest frame) are neither numbered nor
journaled.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import index
from pathlib import Path
from typing import IO, Any, Literal

import msgpack
import numpy as np

from mtmc.errors import MtmcError
from mtmc.types import Tracklet

log = logging.getLogger(__name__)

WIRE_VERSION = 2
MAX_MESSAGE_BYTES = 1 << 20
MAX_THUMBNAIL_BYTES = 16 << 10  # a 128-pixel JPEG at quality 80 takes 3-8 KiB
THUMBNAIL_SIDE = 128  # the longest side of a thumbnail, pixels

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_SMALL = 64  # arrays up to this many values are checked in Python (_finite)
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


def thumbnail_problem(data: Any) -> str | None:
    """Why ``data`` is not a thumbnail the wire carries (None: it is one): JPEG bytes (start and
    end markers) of at most ``MAX_THUMBNAIL_BYTES``."""
    if type(data) is not bytes:
        return f"a thumbnail is bytes, got {type(data).__name__}"
    if len(data) > MAX_THUMBNAIL_BYTES:
        return f"a {len(data)}-byte thumbnail, over the {MAX_THUMBNAIL_BYTES} limit"
    if not (data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9")):
        return "a thumbnail that is not a JPEG"
    return None


MAX_FRAME_SIDE = 1 << 16  # pixels: no camera frame is wider or taller


def _frame_size(value: Any) -> tuple[int, int]:
    """(width, height): two ints in [1, :data:`MAX_FRAME_SIDE`]."""
    if type(value) not in (list, tuple) or len(value) != 2 or any(type(side) is not int for side in value):
        raise ValueError(f"frame_size must be [width, height] in pixels, got {value!r}")
    if not all(1 <= side <= MAX_FRAME_SIDE for side in value):
        raise ValueError(f"frame_size sides must lie in [1, {MAX_FRAME_SIDE}], got {list(value)}")
    return (value[0], value[1])


def _seconds(name: str, value: Any) -> float:
    """``value`` as a finite float (bools refused: they are ints to Python)."""
    real = int | float | np.integer | np.floating
    if isinstance(value, bool | np.bool_) or not isinstance(value, real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class TrackletUpdate:
    """The rows a worker's track gained since its last update, plus its current appearance.

    ``seq`` counts the track's updates from 0 and ``(camera, track, seq)`` is the idempotency key.
    ``first_row`` is the index, within the whole track, of ``frames[0]``. ``feature`` (float16) is
    the running mean over ``feature_count`` embeddings and ``attributes`` the current per-class
    scores: both are snapshots, so the latest update carries everything the matcher needs.
    ``thumbnail``: a JPEG crop of the vehicle, only in the updates where the worker chose a new one.
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
    thumbnail: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("camera", "track", "seq", "first_row", "feature_count"):
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
        if self.thumbnail is not None and (problem := thumbnail_problem(self.thumbnail)) is not None:
            raise ValueError(problem)
        object.__setattr__(self, "ended", bool(self.ended))
        object.__setattr__(self, "frames", frames)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "feature", feature)
        object.__setattr__(self, "attributes", attributes)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.camera, self.track, self.seq)

    @classmethod
    def _checked(cls, fields: dict[str, Any]) -> TrackletUpdate:
        """An update from fields the batch decoder has already checked column-wise."""
        update = object.__new__(cls)
        update.__dict__.update(fields)
        return update


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


@dataclass(frozen=True, eq=False)
class Batch:
    """A camera's numbered commit: the updates of its tracks that gained rows or ended, then its
    promise that every tracklet of it ending at or before ``closed_s`` (global seconds) has been
    sent, in this batch or an earlier one. ``done``: the camera has ended.

    The matcher's online mode decides only behind the slowest camera's promise, so its decisions
    do not depend on when messages happened to arrive. ``frame_size``: the camera's (width,
    height) in pixels, against which the matcher checks the boxes (None: not said).
    """

    camera: int
    number: int
    closed_s: float
    frames_done: int
    done: bool = False
    updates: tuple[TrackletUpdate, ...] = ()
    frame_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        for name in ("camera", "number", "frames_done"):
            object.__setattr__(self, name, _id(name, getattr(self, name)))
        object.__setattr__(self, "closed_s", _seconds("closed_s", self.closed_s))
        if self.frame_size is not None:
            object.__setattr__(self, "frame_size", _frame_size(self.frame_size))
        if not isinstance(self.done, bool | np.bool_):
            raise ValueError(f"done must be a bool, got {self.done!r}")
        object.__setattr__(self, "done", bool(self.done))
        updates = tuple(self.updates)
        for update in updates:
            if not isinstance(update, TrackletUpdate):
                raise ValueError(f"a batch holds TrackletUpdates, got {type(update).__name__}")
            if update.camera != self.camera:
                raise ValueError(f"an update of camera {update.camera} in a batch of camera {self.camera}")
        object.__setattr__(self, "updates", updates)

    @classmethod
    def _checked(cls, fields: dict[str, Any]) -> Batch:
        """A batch from fields the decoder has already checked."""
        batch = object.__new__(cls)
        batch.__dict__.update(fields)
        return batch


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


Message = Batch | Heartbeat | Ack | Preview


def encode(message: Message, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """The wire bytes of ``message``.

    Raises ValueError when they exceed ``max_bytes``: a receiver would drop such a message on
    every resend, so the sender must split it instead.
    """
    if isinstance(message, Batch):
        body = {"k": "bat", "c": message.camera, "m": message.number, "cs": message.closed_s,
                "fd": message.frames_done, "d": message.done, **_update_columns(message.updates)}  # fmt: skip
        if message.frame_size is not None:
            body["fs"] = list(message.frame_size)
    elif isinstance(message, Heartbeat):
        body = {
            "k": "hb",
            "c": message.camera,
            "at": message.sent,
            "fd": message.frames_done,
            "ob": message.outbox_size,
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


_UPDATE_FIELDS = 6  # track, seq, first row, rows, feature count, ended


def _update_columns(updates: tuple[TrackletUpdate, ...]) -> dict[str, Any]:
    """The batch's updates as the wire's columns (module docstring)."""
    featured = [u.feature for u in updates if u.feature is not None]
    if len({f.size for f in featured}) > 1:
        raise ValueError("the updates of one batch must have features of one size")
    attributes: dict[str, Any] = {}
    for name in sorted({name for u in updates for name in u.attributes}):
        scores = [u.attributes[name] for u in updates if name in u.attributes]
        if len({a.size for a in scores}) > 1:
            raise ValueError(f"the updates of one batch must have attribute {name!r} of one size")
        attributes[name] = {"h": np.array([name in u.attributes for u in updates], np.uint8).tobytes(),
                            "v": np.concatenate(scores).astype(_F2).tobytes()}  # fmt: skip
    table = [(u.track, u.seq, u.first_row, len(u.frames), u.feature_count, u.ended) for u in updates]
    empty = np.zeros(0)
    columns = {
        "u": np.asarray(table, _I8).reshape(-1, _UPDATE_FIELDS).tobytes(),
        "f": np.concatenate([u.frames for u in updates] or [empty]).astype(_I4).tobytes(),
        "b": np.concatenate([u.boxes for u in updates] or [empty]).astype(_F4).tobytes(),
        "ts": np.concatenate([u.times for u in updates] or [empty]).astype(_F8).tobytes(),
        "x": np.concatenate(featured).astype(_F2).tobytes() if featured else b"",
        "a": attributes,
    }
    if any(u.thumbnail is not None for u in updates):
        columns["j"] = {"h": np.array([u.thumbnail is not None for u in updates], np.uint8).tobytes(),
                        "v": [u.thumbnail for u in updates if u.thumbnail is not None]}  # fmt: skip
    return columns


def _thumbnails(body: dict, updates: int, camera: int) -> dict[int, bytes]:
    """The batch's thumbnails by update index; a bad one (or a bad column) is dropped with a log
    line, never the batch: the tracklets matter more than their pictures."""
    packed = body.get("j")
    if packed is None:
        return {}
    try:
        if type(packed) is not dict or type(packed.get("v")) is not list:
            raise WireError("malformed", "field 'j' is not {h, v: [JPEG bytes]}")
        has = np.flatnonzero(_column(packed, "h", np.dtype(np.uint8), updates)).tolist()
        if len(has) != len(packed["v"]):
            raise WireError("malformed", f"field 'j' flags {len(has)} thumbnails but holds {len(packed['v'])}")
    except WireError as exc:
        log.warning("camera %d: thumbnails dropped: %s", camera, exc.detail)
        return {}
    out = {}
    for k, data in zip(has, packed["v"]):
        problem = thumbnail_problem(data)
        if problem is None:
            out[k] = data
        else:
            log.warning("camera %d: a thumbnail dropped: %s", camera, problem)
    return out


def _get(body: dict, name: str, kind: type) -> Any:
    """Field ``name`` of exactly type ``kind`` (so a bool never passes as an int)."""
    if name not in body:
        raise WireError("malformed", f"missing field {name!r}")
    value = body[name]
    if type(value) is not kind:
        raise WireError("malformed", f"field {name!r} is {type(value).__name__}, expected {kind.__name__}")
    return value


def _column(
    body: dict, name: str, dtype: np.dtype, count: int | None = None, width: int = 0, signed: bool = False
) -> np.ndarray:
    """Field ``name`` as an array of ``dtype`` (``count`` rows of ``width`` when given): whole
    items, the expected length, finite values, non-negative integers (``signed``: the caller
    checks the sign)."""
    data = _get(body, name, bytes)
    if len(data) % dtype.itemsize:
        raise WireError("malformed", f"field {name!r} is not a whole number of {dtype} items")
    array = np.frombuffer(data, dtype)
    if width:
        if len(array) % width:
            raise WireError("malformed", f"field {name!r} does not hold whole rows of {width}")
        array = array.reshape(-1, width)
    if count is not None and len(array) != count:
        raise WireError("malformed", f"field {name!r} holds {len(array)} items, expected {count}")
    if dtype.kind == "f" and not _finite(array):
        raise WireError("malformed", f"field {name!r} holds NaN or infinity")
    if dtype.kind in "iu" and not signed and len(array) and (array.min() < 0 or (dtype.kind == "u" and array.max() > 1)):
        raise WireError("malformed", f"field {name!r} holds a value out of range")
    return array


def _finite(array: np.ndarray) -> bool:
    """Whether every value is finite; a few values (a batch's new rows) are checked in Python,
    cheaper than numpy's temporary mask there."""
    if array.size <= _SMALL:
        return all(map(math.isfinite, array.ravel().tolist()))
    return bool(np.isfinite(array).all())


def _vectors(values: np.ndarray, rows: int, name: str) -> np.ndarray:
    """(rows, D) from the flat float16 ``values`` of ``rows`` vectors of one size D >= 1."""
    if rows == 0:
        if len(values):
            raise WireError("malformed", f"field {name!r} holds values but no update has them")
        return values.reshape(0, 0)
    if len(values) == 0 or len(values) % rows:
        raise WireError("malformed", f"field {name!r} does not hold {rows} vectors of one size")
    return values.reshape(rows, -1)


def _count(body: dict, name: str) -> int:
    """Field ``name``: an int in [0, 2**63 - 1]."""
    value = _get(body, name, int)
    if not 0 <= value <= _INT64_MAX:
        raise WireError("malformed", f"field {name!r} must lie in [0, 2**63 - 1], got {value}")
    return value


def _check_frames(frames: np.ndarray, starts: list[int]) -> None:
    """Each update's frames (``starts``: where each begins) increase strictly from a non-negative one."""
    total = len(frames)
    if total <= _SMALL:  # the usual batch: a few new rows per track, checked in Python
        values = frames.tolist()
        for start, stop in zip(starts, [*starts[1:], total]):
            if start == stop:
                continue
            if values[start] < 0:
                raise WireError("malformed", "field 'f' holds a value out of range")
            previous = values[start]
            for value in values[start + 1 : stop]:
                if value <= previous:
                    raise WireError("malformed", "an update's frames do not increase strictly")
                previous = value
        return
    steps = frames[1:] <= frames[:-1]
    steps[[start - 1 for start in starts[1:] if 0 < start < total]] = False  # one update's rows give way to the next's
    if steps.any():
        raise WireError("malformed", "an update's frames do not increase strictly")
    # each update's frames increase, so they are all >= 0 when its first one is
    if min(frames[start] for start, stop in zip(starts, [*starts[1:], total]) if stop > start) < 0:
        raise WireError("malformed", "field 'f' holds a value out of range")


def _decode_batch(body: dict) -> Batch:
    fields: dict[str, Any] = {
        "camera": _count(body, "c"),
        "number": _count(body, "m"),
        "closed_s": _get(body, "cs", float),
        "frames_done": _count(body, "fd"),
        "done": _get(body, "d", bool),
        "updates": (),
        "frame_size": None,
    }
    if not math.isfinite(fields["closed_s"]):
        raise WireError("malformed", f"closed_s must be a finite number of seconds, got {fields['closed_s']!r}")
    if "fs" in body:
        fields["frame_size"] = _frame_size(body["fs"])
    if not body.get("u") and not any(body.get(name) for name in ("f", "b", "ts", "x", "a")):
        return Batch._checked(fields)  # a progress mark alone, the commonest batch of a quiet camera
    # A batch holds a few updates: their table is checked in Python, where a numpy call per check
    # would cost more than it saves; the row columns (maybe thousands of rows) with numpy.
    table = _column(body, "u", _I8, width=_UPDATE_FIELDS, signed=True).tolist()
    starts, total = [], 0
    for row in table:
        if min(row) < 0:
            raise WireError("malformed", "field 'u' holds a value out of range")
        if row[5] > 1:
            raise WireError("malformed", "an update's ended flag is neither 0 nor 1")
        starts.append(total)
        total += row[3]
    frames, times = _column(body, "f", _I4, total, signed=True), _column(body, "ts", _F8, total)
    boxes = _column(body, "b", _F4, total, width=4)
    _check_frames(frames, starts)
    featured = [k for k, row in enumerate(table) if row[4]]
    features = _vectors(_column(body, "x", _F2), len(featured), "x")
    feature_of = dict(zip(featured, range(len(featured))))
    attributes: list[tuple[str, dict[int, int], np.ndarray]] = []  # name, update -> row, scores
    for name, packed in _get(body, "a", dict).items():
        if type(name) is not str or type(packed) is not dict:
            raise WireError("malformed", "an attribute is not a name with {h, v}")
        has = np.flatnonzero(_column(packed, "h", np.dtype(np.uint8), len(table))).tolist()
        attributes.append((name, dict(zip(has, range(len(has)))), _vectors(_column(packed, "v", _F2), len(has), name)))
    camera = fields["camera"]
    thumbnails = _thumbnails(body, len(table), camera)
    updates = []
    for i, (track, seq, first_row, rows, feature_count, ended) in enumerate(table):
        start = starts[i]
        rows = slice(start, start + rows)
        updates.append(
            TrackletUpdate._checked(
                {
                    "camera": camera,
                    "track": track,
                    "seq": seq,
                    "first_row": first_row,
                    "frames": frames[rows],
                    "boxes": boxes[rows],
                    "times": times[rows],
                    "feature": features[feature_of[i]] if feature_count else None,
                    "feature_count": feature_count,
                    "attributes": {name: v[row[i]] for name, row, v in attributes if i in row},
                    "ended": bool(ended),
                    "thumbnail": thumbnails.get(i),
                }
            )
        )
    fields["updates"] = tuple(updates)
    return Batch._checked(fields)


def _decode_heartbeat(body: dict) -> Heartbeat:
    return Heartbeat(
        camera=_get(body, "c", int),
        sent=_get(body, "at", float),
        frames_done=_get(body, "fd", int),
        outbox_size=_get(body, "ob", int),
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
    "bat": _decode_batch,
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


def make_update(tracklet: Tracklet, seq: int, first_row: int) -> TrackletUpdate:
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
        thumbnail=tracklet.thumbnail,
    )


SPILL_ROWS = 10_000  # ~17 min of one track at 10 fps, 0.16 MiB: ordinary tracks never reach it


class TrackletBuilder:
    """One track as the matcher receives it: rows kept as a few chunks (merged as they come) and
    joined once, when the track ends (``tracklet()``), rather than a new Tracklet per update.

    Resend-safe: rows already held are skipped, the appearance snapshot is taken only when it is
    not older than the one held, so a resent or stale update changes nothing; an update that
    starts after rows not yet seen raises UpdateGap and changes nothing either. The thumbnail is
    the newest update's that had one (they come only when the worker picks a better crop).

    Bounded: past ``spill_rows`` rows held in memory (a vehicle parked in view for days), they go
    to unnamed temporary files in ``spill_dir`` (gone when closed or the process dies; the journal
    rebuilds them) and are read back once, by ``tracklet()``.
    """

    def __init__(self, camera: int, track: int, spill_dir: Path | None = None, spill_rows: int = SPILL_ROWS) -> None:
        if spill_rows < 1:
            raise ValueError(f"spill_rows must be >= 1, got {spill_rows}")
        self.camera, self.track = camera, track
        self.rows = 0
        self.ended = False
        self._spill_dir, self._spill_rows = spill_dir, spill_rows
        self._spilled = 0  # the leading rows that are on disk
        self._spill: tuple[IO[bytes], IO[bytes], IO[bytes]] | None = None  # frames, boxes, times
        self._frames: list[np.ndarray] = []  # the rows in memory, as chunks merged by _merge_chunks
        self._boxes: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._appearance: TrackletUpdate | None = None  # the update whose snapshot is the newest
        self.thumbnail: bytes | None = None
        self._thumbnail_seq = -1

    def add(self, update: TrackletUpdate) -> None:
        if (update.camera, update.track) != (self.camera, self.track):
            raise ValueError(f"update for c{update.camera:03d}/{update.track} applied to {(self.camera, self.track)}")
        have = self.rows
        if update.first_row > have:
            raise UpdateGap(
                f"c{update.camera:03d}/{update.track} seq {update.seq} starts at row {update.first_row}, "
                f"only {have} rows are known"
            )
        skip = have - update.first_row
        if skip < len(update.frames):
            # Copies, not views: a view keeps its whole decoded message alive, so a track that
            # lasts hours (a parked vehicle) would hold every batch it was ever part of.
            self._frames.append(update.frames[skip:].copy())
            self._boxes.append(update.boxes[skip:].copy())
            self._times.append(update.times[skip:].copy())
            self.rows += len(update.frames) - skip
            self._merge_chunks()
            if self.rows - self._spilled >= self._spill_rows:
                self._spill_chunks()
        held = self._appearance.feature_count if self._appearance is not None else 0
        if update.first_row + len(update.frames) >= have and update.feature_count >= held:
            self._appearance = update
        if update.thumbnail is not None and update.seq > self._thumbnail_seq:
            self.thumbnail, self._thumbnail_seq = update.thumbnail, update.seq
        self.ended = self.ended or update.ended

    def _merge_chunks(self) -> None:
        """Join the newest chunk into the one before while it is no smaller, as a binary counter
        carries: O(log rows) chunks, each row copied O(log rows) times. A never-ending track
        otherwise holds three small arrays per update, whose overhead outweighs the rows."""
        while len(self._frames) >= 2 and len(self._frames[-2]) <= len(self._frames[-1]):
            for chunks in (self._frames, self._boxes, self._times):
                last = chunks.pop()
                chunks[-1] = np.concatenate([chunks[-1], last])

    def _spill_chunks(self) -> None:
        if self._spill is None:
            where = self._spill_dir
            if where is not None:
                where.mkdir(parents=True, exist_ok=True)
            self._spill = tuple(tempfile.TemporaryFile(dir=where, prefix=".active-rows-") for _ in range(3))  # type: ignore[assignment]
            log.info("c%03d/%d: %d rows held, spilling them to disk", self.camera, self.track, self.rows)
        for file, chunks in zip(self._spill, (self._frames, self._boxes, self._times)):
            for chunk in chunks:
                file.write(chunk.tobytes())
            chunks.clear()
        self._spilled = self.rows

    def _unspill(self) -> None:
        """Bring the rows on disk back in front of those in memory, as one chunk, and close the files."""
        if self._spill is None:
            return
        for file, chunks, dtype, shape in zip(self._spill, (self._frames, self._boxes, self._times), (_I4, _F4, _F8), ((-1,), (-1, 4), (-1,))):
            file.flush()
            file.seek(0)
            held = np.fromfile(file, dtype).reshape(shape)
            file.close()
            chunks.insert(0, held)
        self._spill, self._spilled = None, 0

    def tracklet(self, ended: bool | None = None) -> Tracklet:
        """The track so far (``ended`` overrides its state: a run stopped early ends every track)."""
        self._unspill()
        return self._joined(self.ended if ended is None else ended)

    def so_far(self) -> Tracklet | None:
        """The live track so far, for a provisional answer: the builder unchanged (a copy of its
        rows); None while it holds no row or once it has spilled (a track that long, a vehicle
        parked for minutes, is not read back from disk every second)."""
        if self._spill is not None or not self.rows:
            return None
        return self._joined(self.ended)

    def _joined(self, ended: bool) -> Tracklet:
        snapshot = self._appearance
        feature = None if snapshot is None or snapshot.feature is None else snapshot.feature.astype(np.float32)
        return Tracklet(
            camera=self.camera,
            track=self.track,
            frames=np.concatenate(self._frames) if self._frames else np.zeros(0, np.int64),
            boxes=np.concatenate(self._boxes) if self._boxes else np.zeros((0, 4), np.float32),
            times=np.concatenate(self._times) if self._times else np.zeros(0),
            feature=feature,
            feature_count=snapshot.feature_count if feature is not None else 0,
            attributes={} if snapshot is None else {n: s.astype(np.float32) for n, s in snapshot.attributes.items()},
            ended=ended,
            thumbnail=self.thumbnail,
        )
