"""What the live dashboard shows, fed by the matcher's loop and read by the HTTP threads.

:class:`LiveState` is the only shared object: the matcher calls :meth:`~LiveState.frame`,
:meth:`~LiveState.heartbeat`, :meth:`~LiveState.counters`, :meth:`~LiveState.identity` and
:meth:`~LiveState.provisional` from its main loop; the server's threads call
:meth:`~LiveState.snapshot` and :meth:`~LiveState.preview`. One lock guards everything, and every
method holds it only to swap references or copy small values, so the matcher never waits on a
slow client. Memory is bounded: one preview per camera, at most :data:`MAX_IDENTITIES` identities
(those unseen for ``history_s`` of stream time are dropped), :data:`MAX_PATH` cameras per
identity's path, :data:`MAX_DECIDED` tracklets' global ids (and as many provisional ones), and
one throughput sample per wall-clock second over ``history_s``.

Global ids are joined to a preview's boxes when it is read, not when it arrives: the matcher
decides a tracklet epochs after its boxes were previewed, and :meth:`~LiveState.identity` (each
decision, with its tracklet) labels every kept preview of that track from then on. Until then a
box shows the matcher's provisional answer for its live track (:meth:`~LiveState.provisional`: the
identity it would join if decided now, or a new one), if it has given one; a decision always wins. Times shown are
the run's data time (seconds of video); each also carries the wall time it was received at
(``*_wall``, Unix seconds) for the page's hover text. Only the cameras it was built with are shown: a heartbeat or frame from
any other is ignored and counted under ``refused`` (``unknown_camera``), and so is a preview whose
JPEG is unreadable (``unreadable_preview``) or declares more pixels than ``max_preview_size``
(``oversized_preview``), which is never decoded.
"""

from __future__ import annotations

import colorsys
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mtmc.dashboard.images import fits, jpeg_dimensions

STALE_AFTER_S = 5.0  # a camera with no heartbeat for longer than this is marked stale
MAX_IDENTITIES = 2000  # identities kept for the "active identities" panel, most recent first
MAX_PATH = 32  # cameras kept per identity path (the latest ones)
SHOWN_IDENTITIES = 100  # identities a snapshot lists
RATE_WINDOW_S = 5  # seconds the current throughput is averaged over
UNASSIGNED_COLOR = "#8a8f98"
MAX_PREVIEW_SIZE = (1920, 1920)  # width, height: a preview declaring more is refused, never decoded
REFUSALS = ("unknown_camera", "unreadable_preview", "oversized_preview")
KEPT_PREVIEWS = 60  # previews kept per camera (about a minute): a sighting's own frame, while kept
MAX_DECIDED = 20000  # (camera, track) -> global id decisions kept for labelling previews, latest first
NEW = "new"  # a box's provisional mark when the matcher would start a new identity for its track


def id_color(global_id: int) -> str:
    """The colour of a global id, as ``#rrggbb``: the same on every camera, every page and run.

    Hue steps by the golden ratio and saturation/brightness by sqrt(2) - 1 (both low-discrepancy
    sequences), so consecutive ids get far-apart hues and ids whose hues come close usually
    differ in shade.
    """
    hue = (global_id * 0.6180339887498949) % 1.0
    shade = (global_id * 0.41421356237309515) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.45 + 0.45 * shade, 1.0 - 0.3 * shade)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def ink(color: str) -> str:
    """Black or white, whichever contrasts more with ``color`` (``#rrggbb``; WCAG luminance)."""
    linear = [
        (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
        for c in (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
    ]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111111" if luminance > 0.179 else "#ffffff"


@dataclass
class Preview:
    """A camera's latest frame: JPEG bytes and its boxes, replaced whole on every update."""

    seq: int  # bumps on every update, so a client (and the overlay cache) knows it changed
    frame: int
    time_s: float
    jpeg: bytes
    boxes: list[list[float]]  # x, y, w, h
    global_ids: list[int | None]  # as the matcher knew them when the preview arrived
    track_ids: list[int | None]
    wall: float = 0.0  # Unix time it arrived


@dataclass
class _Camera:
    preview: Preview | None = None
    kept: deque[Preview] = field(default_factory=lambda: deque(maxlen=KEPT_PREVIEWS))
    frames_done: int = 0
    fps: float | None = None
    outbox: int | None = None
    lag_s: float | None = None
    heartbeat_at: float | None = None  # clock() of the last heartbeat


@dataclass
class _Identity:
    path: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_PATH))
    last_camera: str = ""
    last_seen_s: float = 0.0  # data time
    last_seen_wall: float = 0.0  # Unix time of the decision that said so


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a value that is not a finite number becomes null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class LiveState:
    """The matcher's live state for the dashboard; thread-safe, bounded in memory.

    ``cameras`` are the configured cameras, in tile order; heartbeats and frames from any other
    are ignored and counted (``snapshot()["refused"]["unknown_camera"]``). A preview whose JPEG
    header declares more than ``max_preview_size`` (width, height) pixels, or cannot be parsed, is
    not stored (the camera keeps its previous one) and counted too. ``clock`` (seconds, monotonic)
    times heartbeats and throughput; tests pass a fake one.
    """

    def __init__(
        self,
        cameras: list[str],
        history_s: float = 300,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        max_preview_size: tuple[int, int] = MAX_PREVIEW_SIZE,
    ) -> None:
        if not history_s > 0:
            raise ValueError(f"history_s must be positive, got {history_s}")
        width, height = (int(v) for v in max_preview_size)
        if width < 1 or height < 1:
            raise ValueError(f"max_preview_size must be positive, got {max_preview_size}")
        self.max_preview_size: tuple[int, int] = (width, height)
        self._lock = threading.Lock()
        self._clock = clock
        self._wall = wall
        self._decided: OrderedDict[tuple[str, int], int] = OrderedDict()  # (camera, track) -> global id
        self._provisional: OrderedDict[tuple[str, int], int | None] = OrderedDict()  # not yet decided; None: new
        self._history_s = float(history_s)
        self._started = clock()
        self._cameras: dict[str, _Camera] = {str(c): _Camera() for c in cameras}
        self._refused: dict[str, int] = dict.fromkeys(REFUSALS, 0)
        self._seq = 0
        self._identities: OrderedDict[int, _Identity] = OrderedDict()  # least recently seen first
        self._latest_s = -math.inf  # the latest stream time an identity was seen at
        self._received: deque[tuple[int, int]] = deque(maxlen=max(2, math.ceil(history_s)) + 1)
        self._counters: dict[str, object] = {
            "received": 0,
            "dropped": {},
            "identities_active": 0,
            "identities_total": 0,
            "revisions": 0,
            "latency_p50_s": None,
            "latency_p99_s": None,
        }

    def _camera(self, camera: str) -> _Camera | None:
        """The configured camera, or None (counted as refused) for any other; holds the lock."""
        cam = self._cameras.get(str(camera))
        if cam is None:
            self._refused["unknown_camera"] += 1
        return cam

    def frame(
        self,
        camera: str,
        frame: int,
        time_s: float,
        jpeg: bytes,
        boxes: np.ndarray,
        global_ids: Sequence[int | None],
        track_ids: Sequence[int | None] | None = None,
    ) -> None:
        """The camera's latest preview: JPEG bytes, ``(N, 4)`` x, y, w, h boxes in its pixels,
        each box's global id (None: not assigned yet) and, optionally, its local track id (shown
        on unassigned boxes). Ignored, and counted, from an unknown camera or with a JPEG that is
        unreadable or declares more than ``max_preview_size`` pixels (read from its header only)."""
        rows = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if len(global_ids) != len(rows) or (track_ids is not None and len(track_ids) != len(rows)):
            raise ValueError(
                f"camera {camera}: {len(rows)} boxes but {len(global_ids)} global ids"
                + ("" if track_ids is None else f" and {len(track_ids)} track ids")
            )
        preview_boxes = rows.round(1).tolist()
        gids = [None if g is None else int(g) for g in global_ids]
        tids = [None] * len(rows) if track_ids is None else [None if t is None else int(t) for t in track_ids]
        size = jpeg_dimensions(jpeg)  # outside the lock: about 20 us, header only
        refusal = (
            "unreadable_preview"
            if size is None
            else None if fits(size, self.max_preview_size) else "oversized_preview"
        )
        with self._lock:
            cam = self._camera(camera)
            if cam is None:
                return
            if refusal is not None:
                self._refused[refusal] += 1
                return
            self._seq += 1
            cam.preview = Preview(self._seq, int(frame), float(time_s), bytes(jpeg), preview_boxes, gids, tids, self._wall())
            cam.kept.append(cam.preview)

    def heartbeat(self, camera: str, frames_done: int, fps: float, outbox: int, lag_s: float) -> None:
        """A camera worker is alive: frames processed, its rate, its unacknowledged messages and
        how far the matcher's view of it lags behind real time."""
        with self._lock:
            cam = self._camera(camera)
            if cam is None:
                return
            cam.frames_done, cam.fps, cam.outbox, cam.lag_s = int(frames_done), fps, int(outbox), lag_s
            cam.heartbeat_at = self._clock()

    def counters(
        self,
        received: int,
        dropped: dict[str, int],
        identities_active: int,
        identities_total: int,
        revisions: int,
        latency_p50_s: float | None,
        latency_p99_s: float | None,
    ) -> None:
        """The matcher's running totals; throughput is derived from how ``received`` grows."""
        with self._lock:
            # Read the clock under the lock: samples must be in time order, one per second, or two
            # writers could interleave a second twice and the rate would divide by zero.
            second = math.floor(self._clock())
            self._counters = {
                "received": int(received),
                "dropped": {str(k): int(v) for k, v in dropped.items()},
                "identities_active": int(identities_active),
                "identities_total": int(identities_total),
                "revisions": int(revisions),
                "latency_p50_s": _finite(latency_p50_s),
                "latency_p99_s": _finite(latency_p99_s),
            }
            if self._received and self._received[-1][0] == second:
                self._received[-1] = (second, int(received))
            else:
                self._received.append((second, int(received)))

    def identity(self, global_id: int, camera: str, time_s: float, track: int | None = None) -> None:
        """A global id was given to a tracklet of ``camera`` (local ``track``, when known: its boxes
        on the previews take the id) that was last seen at data time ``time_s`` (NaN: unknown)."""
        global_id, camera, time_s = int(global_id), str(camera), float(time_s)
        with self._lock:
            if track is not None:
                key = (camera, int(track))
                self._provisional.pop(key, None)
                self._decided.pop(key, None)
                self._decided[key] = global_id
                while len(self._decided) > MAX_DECIDED:
                    self._decided.popitem(last=False)
            ident = self._identities.pop(global_id, None) or _Identity()
            if not ident.path or ident.path[-1] != camera:
                ident.path.append(camera)
            ident.last_camera = camera
            ident.last_seen_wall = self._wall()
            if math.isfinite(time_s):
                ident.last_seen_s = max(ident.last_seen_s, time_s)
            self._identities[global_id] = ident  # now the most recently seen
            self._latest_s = max(self._latest_s, ident.last_seen_s)
            horizon = self._latest_s - self._history_s
            while self._identities:
                oldest = next(iter(self._identities.values()))
                if len(self._identities) <= MAX_IDENTITIES and oldest.last_seen_s >= horizon:
                    break
                self._identities.popitem(last=False)

    def provisional(self, answers: dict[tuple[str, int], int | None]) -> None:
        """The matcher's provisional answers for live tracks, ``(camera, track) -> global id``
        (None: it would start a new identity): each shown on that track's boxes until a newer
        answer or its decision (:meth:`identity`, which always wins), so a track that has ended
        keeps its last answer while it waits to be decided. At most :data:`MAX_DECIDED` kept."""
        with self._lock:
            for (camera, track), gid in answers.items():
                key = (str(camera), int(track))
                if key in self._decided:
                    continue
                self._provisional.pop(key, None)
                self._provisional[key] = None if gid is None else int(gid)
            while len(self._provisional) > MAX_DECIDED:
                self._provisional.popitem(last=False)

    def preview(self, camera: str) -> Preview | None:
        """The camera's latest preview (immutable once stored), None if unknown or none yet."""
        with self._lock:
            cam = self._cameras.get(camera)
            return None if cam is None else cam.preview

    def _labels(self, camera: str, preview: Preview) -> list[int | None]:
        decided = self._decided
        return [
            decided.get((camera, t), g) if t is not None else g for t, g in zip(preview.track_ids, preview.global_ids)
        ]

    def marks(self, camera: str, preview: Preview) -> tuple[list[int | None], list[int | str | None]]:
        """Each box's global id now (the matcher's latest decision for its track, else the id it
        had when the preview arrived, else None: not decided yet) and, for a box without one, the
        matcher's provisional answer for its track: a global id, :data:`NEW` (a new identity) or
        None (no answer yet: pending)."""
        with self._lock:
            labels = self._labels(camera, preview)
            return labels, self._guesses(camera, preview, labels)

    def _guesses(self, camera: str, preview: Preview, labels: list[int | None]) -> list[int | str | None]:
        guessed = self._provisional
        out: list[int | str | None] = []
        for t, label in zip(preview.track_ids, labels):
            key = (camera, t)
            if label is not None or t is None or key not in guessed:
                out.append(None)
            else:
                gid = guessed[key]
                out.append(NEW if gid is None else gid)
        return out

    def preview_of_track(self, camera: str, track: int, first_frame: int, last_frame: int) -> Preview | None:
        """A kept preview of ``camera`` (its last :data:`KEPT_PREVIEWS`) between ``first_frame`` and
        ``last_frame`` that shows local track ``track``, the one nearest the middle; None if none is
        kept (older, or the camera sent no preview then)."""
        with self._lock:
            cam = self._cameras.get(camera)
            kept = [] if cam is None else list(cam.kept)
        middle = (first_frame + last_frame) / 2
        shown = [p for p in kept if first_frame <= p.frame <= last_frame and track in p.track_ids]
        return min(shown, key=lambda p: abs(p.frame - middle), default=None)

    def camera_ids(self) -> list[str]:
        return list(self._cameras)

    def _throughput(self) -> dict[str, object]:
        samples = list(self._received)
        rates = [max(0, n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(samples, samples[1:])]
        recent = [(t, n) for t, n in samples if t >= samples[-1][0] - RATE_WINDOW_S] if samples else []
        rate = None
        if len(recent) >= 2:
            (t0, n0), (t1, n1) = recent[0], recent[-1]
            rate = max(0, n1 - n0) / (t1 - t0)
        return {"messages_per_s": rate, "history": [round(r, 2) for r in rates]}

    def snapshot(self) -> dict:
        """Everything the page shows, as JSON-able values (what ``/api/state`` returns); ``refused``
        counts the heartbeats and frames ignored, by reason (:data:`REFUSALS`)."""
        with self._lock:
            now = self._clock()
            cameras = []
            for name, cam in self._cameras.items():
                age = None if cam.heartbeat_at is None else now - cam.heartbeat_at
                p = cam.preview
                labels = [] if p is None else self._labels(name, p)
                guesses = [] if p is None else self._guesses(name, p, labels)
                cameras.append(
                    {
                        "id": name,
                        "seq": None if p is None else p.seq,
                        "frame": None if p is None else p.frame,
                        "time_s": None if p is None else p.time_s,
                        "wall": None if p is None else p.wall,
                        "boxes": 0 if p is None else len(p.boxes),
                        "assigned": sum(g is not None for g in labels),
                        "labels": labels,  # each box's global id now (None: pending); the drawn frame changes with them
                        "provisional": guesses,  # where a box has none: the matcher's provisional id, "new", or None
                        "frames_done": cam.frames_done,
                        "fps": _finite(cam.fps),
                        "outbox": cam.outbox,
                        "lag_s": _finite(cam.lag_s),
                        "heartbeat_age_s": None if age is None else round(age, 2),
                        "stale": (now - self._started if age is None else age) > STALE_AFTER_S,
                    }
                )
            identities = [
                {
                    "id": gid,
                    "color": id_color(gid),
                    "ink": ink(id_color(gid)),
                    "cameras": list(ident.path),
                    "last_camera": ident.last_camera,
                    "last_seen_s": ident.last_seen_s,
                    "last_seen_wall": ident.last_seen_wall,
                }
                for gid, ident in reversed(self._identities.items())
            ][:SHOWN_IDENTITIES]
            return {
                "uptime_s": round(now - self._started, 2),
                "wall": self._wall(),
                "stale_after_s": STALE_AFTER_S,
                "cameras": cameras,
                "identities": identities,
                "identities_listed": len(self._identities),
                "counters": dict(self._counters),
                "refused": dict(self._refused),
                "throughput": self._throughput(),
            }
