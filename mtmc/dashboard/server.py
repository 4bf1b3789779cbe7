"""The dashboard's HTTP server: one static page, its JSON state and each camera's annotated frame.

Routes: ``/`` (the page), ``/static/<file>`` (its JS and CSS), ``/api/state`` (:meth:`LiveState.snapshot`),
``/api/frame/<camera>.jpg`` (the latest preview with boxes and global ids drawn on it) and
``/healthz``; with a sightings store, ``/api/identity/N``, ``/api/search``, ``/api/graph``,
``/api/thumbnail|sighting/CAM/TRACK.jpg`` (a sighting's thumbnail, its frame),
``/api/clip/CAM/TRACK.webm`` (its clip) and ``/api/corrections``; GET and HEAD, and POST on
``/api/search/image`` (a picture) and ``/api/corrections`` (JSON). Boxes are drawn here, on the
very JPEG they belong to, so a client never pairs a frame with another frame's boxes; a preview is
drawn again only when a decision or a provisional answer changes one of its boxes' marks.

The routes are a small WSGI app served by waitress: one thread polls every connection (an idle
or half-sent one costs a socket, not a thread), :data:`THREADS` worker threads run the requests,
at most :data:`CONNECTION_LIMIT` connections are accepted at once (more wait in the listen
backlog) and a connection idle for :data:`IDLE_TIMEOUT_S` is closed. However many clients there
are, the dashboard adds ``THREADS + 1`` threads to the matcher.

Slow clients: a request whose headers are not all in :data:`HEADER_TIMEOUT_S` after its first
byte has its connection closed, however steadily it trickles (waitress alone only closes a
connection that goes quiet, so a header line every few seconds held a connection for ever, and
:data:`CONNECTION_LIMIT` of them locked everyone else out). With the limit at 4,000 a thousand
such clients still leave room, and each is gone within the deadline. Each connection is a file
descriptor: :func:`serve` raises the process's soft ``RLIMIT_NOFILE`` (up to its hard limit) to
the connection limit plus :data:`FD_RESERVE`, and lowers the limit if the hard limit is too
low; waitress polls with ``poll()``, so descriptors above 1024 work. New connections are taken
up to 64 a poll round, so a burst of them does not keep a health check waiting. (A request
body may still trickle: only its headers have a deadline.)
"""

from __future__ import annotations

import email.policy
import errno
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import cv2
import numpy as np
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer

from mtmc.dashboard.auth import authorize, check_exposure
from mtmc.dashboard.footage import ClipBusy
from mtmc.dashboard.images import (
    MAX_UPLOAD_BYTES,
    PictureRefused,
    bgr,
    draw_label,
    encode_jpeg,
    fits,
    jpeg_dimensions,
    placeholder_jpeg,
    read_picture,
)  # fmt: skip
from mtmc.dashboard.sightings import (
    IMAGE_RESULTS,
    SEARCH_LIMIT,
    CorrectionRefused,
    StoreUnavailable,
    StoreView,
)
from mtmc.dashboard.state import (
    KEPT_PREVIEWS,
    MAX_PREVIEW_SIZE,
    NEW,
    UNASSIGNED_COLOR,
    LiveState,
    Preview,
    id_color,
    ink,
)
from mtmc.errors import MtmcError
from mtmc.reid.attributes import VEHICLE_ATTRIBUTES

STATIC = Path(__file__).with_name("static")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_JPEG_QUALITY = 85
THREADS = 4  # worker threads answering requests
CONNECTION_LIMIT = 4000  # connections open at once; more wait in the backlog until some close
IDLE_TIMEOUT_S = 10  # a connection with no request in progress and no traffic for this long is closed
HEADER_TIMEOUT_S = 5.0  # a request's headers must all be in this long after its first byte
FD_RESERVE = 512  # file descriptors left to the rest of the process (videos, the store, logs)

# waitress warns "Task queue depth is N" whenever more requests wait than there are threads: a
# burst of polls, not a fault, and it would land on the matcher's stderr. Its other warnings
# (the connection limit reached, say) still show.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def _dashed(image: np.ndarray, x: int, y: int, w: int, h: int, color: tuple[int, int, int], thick: int) -> None:
    """A dashed rectangle (OpenCV draws only solid ones): a provisional box reads as not final."""
    dash = max(6, 3 * thick)
    for (x0, y0), (x1, y1) in (((x, y), (x + w, y)), ((x + w, y), (x + w, y + h)), ((x + w, y + h), (x, y + h)), ((x, y + h), (x, y))):
        length = max(abs(x1 - x0), abs(y1 - y0))
        for start in range(0, length, 2 * dash):
            end = min(start + dash, length)
            a = (x0 + (x1 - x0) * start // max(length, 1), y0 + (y1 - y0) * start // max(length, 1))
            b = (x0 + (x1 - x0) * end // max(length, 1), y0 + (y1 - y0) * end // max(length, 1))
            cv2.line(image, a, b, color, thick, cv2.LINE_AA)


def annotate(
    preview: Preview,
    max_size: tuple[int, int] = MAX_PREVIEW_SIZE,
    labels: list[int | None] | None = None,
    guesses: list[int | str | None] | None = None,
) -> bytes:
    """The preview's JPEG with its boxes drawn: each box's global id (``labels``, one per box;
    None: the preview's own) in its colour as ``#id``, thick; else the matcher's provisional
    answer for its live track (``guesses``: :meth:`LiveState.marks`), dashed: ``#id?`` in that
    identity's colour, or ``new?`` in grey when it would be a new identity; else, with no answer
    yet, a thin grey box marked pending (``? t7``, its local track).

    The JPEG is decoded only if its header declares at most ``max_size`` (width, height) pixels
    (:func:`~mtmc.dashboard.images.jpeg_dimensions`): a decoder allocates what the header says
    before reading a pixel, so a few hundred bytes could cost gigabytes. A preview over the bound,
    one whose header cannot be parsed and one OpenCV cannot decode are answered with a small
    placeholder JPEG saying why ("preview refused ..."), still 200 and ``image/jpeg``, so the
    page's tile shows the reason.
    """
    size = jpeg_dimensions(preview.jpeg)
    if size is None:
        return placeholder_jpeg("preview refused:|not a readable JPEG")
    if not fits(size, max_size):
        return placeholder_jpeg(
            f"preview refused: {size[0]}x{size[1]} px|over the {max_size[0]}x{max_size[1]} bound"
        )
    image = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return placeholder_jpeg("preview refused:|OpenCV cannot decode it")
    gids = preview.global_ids if labels is None else labels
    guessed = [None] * len(gids) if guesses is None else guesses
    height = image.shape[0]
    scale = max(0.5, height / 640)
    thick = max(2, round(height / 250))

    def rank(i: int) -> int:  # pending, new?, provisional, decided: an identity's box is drawn last, on top
        return 3 if gids[i] is not None else 0 if guessed[i] is None else 1 if guessed[i] == NEW else 2

    for i in sorted(range(len(preview.boxes)), key=rank):
        x, y, w, h = (round(v) for v in preview.boxes[i])
        gid, guess, tid = gids[i], guessed[i], preview.track_ids[i]
        if gid is not None:
            hex_color, label = id_color(gid), f"#{gid}"
            cv2.rectangle(image, (x, y), (x + w, y + h), bgr(hex_color), thick, cv2.LINE_AA)
        elif guess is not None:
            hex_color, label = (UNASSIGNED_COLOR, "new?") if guess == NEW else (id_color(int(guess)), f"#{guess}?")
            _dashed(image, x, y, w, h, bgr(hex_color), thick if guess != NEW else 1)
        else:
            hex_color, label = UNASSIGNED_COLOR, f"? t{tid}" if tid is not None else "?"
            cv2.rectangle(image, (x, y), (x + w, y + h), bgr(hex_color), 1, cv2.LINE_AA)
        draw_label(image, x, y, h, label, hex_color, ink(hex_color), scale, left=x - thick // 2)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    return data.tobytes() if ok else preview.jpeg


class _Annotated:
    """The last annotated JPEG per camera, keyed by the preview's ``seq`` and its boxes' global and
    provisional ids (a decision or a new provisional answer after the preview arrived draws it again)."""

    def __init__(self, state: LiveState) -> None:
        self._state = state
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple, bytes]] = {}

    def get(self, camera: str, preview: Preview) -> bytes:
        labels, guesses = self._state.marks(camera, preview)
        key = (preview.seq, tuple(labels), tuple(guesses))
        with self._lock:
            hit = self._cache.get(camera)
        if hit is not None and hit[0] == key:
            return hit[1]
        data = annotate(preview, self._state.max_preview_size, labels, guesses)  # outside the lock: two clients may both draw, harmlessly
        with self._lock:
            self._cache[camera] = (key, data)
        return data


Response = tuple[HTTPStatus, bytes, str, str]  # status, body, content type, Cache-Control
_TEXT = "text/plain; charset=utf-8"
_PAGES = re.compile(r"/(?:index\.html|search|graph|identity/\d{1,18})?")  # views of the one page
_IDENTITY = re.compile(r"/api/identity/(\d{1,18})")
_SIGHTING_IMAGE = re.compile(r"/api/(thumbnail|sighting)/(\d{1,9})/(\d{1,18})\.jpg")
_CLIP = re.compile(r"/api/clip/(\d{1,9})/(\d{1,18})\.webm")
_STATIC_FILES = frozenset(f.name for f in STATIC.iterdir() if f.is_file() and f.suffix in _CONTENT_TYPES)
UPLOAD_PATH = "/api/search/image"  # POST: a search by picture
CORRECTIONS_PATH = "/api/corrections"  # GET: the corrections made; POST (JSON): one more, or an undo
METHODS = {UPLOAD_PATH: ("POST",), CORRECTIONS_PATH: ("GET", "HEAD", "POST")}  # any other path: GET, HEAD
MAX_CORRECTION_BYTES = 4096  # a correction's JSON body
UPLOAD_SLACK = 64 * 1024  # multipart framing on top of MAX_UPLOAD_BYTES
MAX_BODY = 16 * 2**20  # waitress refuses a larger request body itself (413) before the app sees it
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; frame-ancestors 'none'"),
]


def _not_found(what: str) -> Response:
    return HTTPStatus.NOT_FOUND, f"not found: {what}\n".encode(), _TEXT, "no-store"


def _json(body: object, status: HTTPStatus = HTTPStatus.OK) -> Response:
    return status, json.dumps(body, allow_nan=False, separators=(",", ":")).encode(), "application/json", "no-store"


def _error(status: HTTPStatus, message: str) -> Response:
    return _json({"error": message, "status": status.value}, status)


def _static(name: str) -> Response:
    # Only the files the static folder held when mtmc started, by exact name: nothing a request
    # says becomes a path of its own.
    if name not in _STATIC_FILES:
        return _not_found(f"/static/{name}")
    file = STATIC / name
    return HTTPStatus.OK, file.read_bytes(), _CONTENT_TYPES[file.suffix], "no-cache"


def _query(environ: dict) -> dict[str, str]:
    return {k: v for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=False)}


def _number(query: dict[str, str], name: str) -> float | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value[:40]!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value[:40]!r}")
    return number


def _word(query: dict[str, str], name: str, longest: int) -> str | None:
    value = query.get(name, "").strip()
    if not value:
        return None
    if len(value) > longest or not value.isprintable():
        raise ValueError(f"{name} must be at most {longest} printable characters")
    return value


def _same_origin(environ: dict) -> bool:
    """A POST's ``Origin`` (browsers send it), when there is one, names this dashboard's own host:
    another site's page cannot make a visitor's browser upload to it."""
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True  # not from a browser page (curl, a script)
    return urlsplit(origin).netloc.lower() == environ.get("HTTP_HOST", "").lower()


def draw_sighting(preview: Preview, track: int, global_id: int) -> bytes:
    """``preview`` with ``track``'s box drawn thick in ``global_id``'s colour and the others thin and grey."""
    image = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return placeholder_jpeg("frame not readable")
    thick = max(2, round(image.shape[0] / 160))
    hex_color = id_color(global_id)
    for k, box in enumerate(preview.boxes):
        x, y, w, h = (round(v) for v in box)
        if preview.track_ids[k] == track:
            cv2.rectangle(image, (x, y), (x + w, y + h), bgr(hex_color), thick, cv2.LINE_AA)
            draw_label(image, x, y, h, f"#{global_id}", hex_color, ink(hex_color), 0.6)
        else:
            cv2.rectangle(image, (x, y), (x + w, y + h), bgr(UNASSIGNED_COLOR), 1, cv2.LINE_AA)
    return encode_jpeg(image)


def _upload(environ: dict) -> bytes:
    """The picture in a POST body: raw (``image/jpeg``, ``image/png``, anything) or the first file
    of a ``multipart/form-data`` form; bounded before it is read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise PictureRefused(400, "a Content-Length that is not a number") from None
    kind = environ.get("CONTENT_TYPE", "")
    multipart = kind.lower().startswith("multipart/form-data")
    bound = MAX_UPLOAD_BYTES + (UPLOAD_SLACK if multipart else 0)
    if length > bound:
        raise PictureRefused(
            413, f"picture of {length:,} bytes refused: at most {MAX_UPLOAD_BYTES:,} bytes ({MAX_UPLOAD_BYTES // 2**20} MiB)"
        )
    body = environ["wsgi.input"].read(min(length, bound + 1)) if length else b""
    if not multipart:
        return body
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace") + body
    )
    if not message.is_multipart():
        raise PictureRefused(400, "a multipart/form-data body that cannot be parsed")
    for part in message.iter_parts():
        if part.get_filename() is not None or part.get_param("name", header="content-disposition") in ("picture", "image", "file"):
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise PictureRefused(400, "the form holds no file: send the picture as the field 'picture'")


def app(
    state: LiveState | None,
    view: StoreView | None = None,
    *,
    token: str | None = None,
    live: bool = True,
) -> Callable[[dict, Callable], Iterable[bytes]]:
    """The dashboard as a WSGI application over ``state`` (the live view) and ``view`` (the sightings
    store: identity pages, searches, the camera graph). ``live=False``: a finished run's store, read
    only (``state`` then only names the cameras). ``token``: every request but ``/healthz`` needs it."""
    state = state if state is not None else LiveState([])
    annotated = _Annotated(state)

    def footage_of() -> dict[str, str]:
        """Camera -> where its sightings' frames and clips are cut from (``annotated``, ``source``)."""
        footage = None if view is None else view.footage
        if footage is None:
            return {}
        return {camera: found[0] for camera in footage.sources if (found := footage.video_of(camera)) is not None}

    def attributes_stored() -> dict[str, bool] | None:
        """Whether the store holds colours, types (None: no store, or not readable now)."""
        if view is None:
            return None
        try:
            return view.attributes_stored()
        except StoreUnavailable:
            return None

    def store_missing() -> Response:
        return _error(HTTPStatus.NOT_FOUND, "this dashboard has no sightings store (store: enabled: false in the config)")

    def info() -> Response:
        return _json({
            "live": live, "store": None if view is None else view.where, "token": token is not None,
            "picture_search": view is not None and view.image_search is not None,
            "picture_search_missing": None if view is None or view.image_search is not None else view.image_search_missing,
            "cameras": state.camera_ids(), "max_upload_bytes": MAX_UPLOAD_BYTES, "footage": footage_of(),
            "attributes_stored": attributes_stored(),
            "attributes": {name: list(labels) for name, labels in VEHICLE_ATTRIBUTES.items()},
        })  # fmt: skip

    def identity(global_id: int) -> Response:
        assert view is not None
        journey = view.identity(global_id)
        if journey is None:
            stored = view.identities()
            count = "" if stored is None else f" ({stored} identities stored)"
            return _error(HTTPStatus.NOT_FOUND, f"no identity {global_id} in {view.where}{count}")
        cut = footage_of()
        for s in journey["sightings"]:
            preview = state.preview_of_track(s["camera"], s["track"], s["first_frame"], s["last_frame"]) if live else None
            video = cut.get(s["camera"])
            s["clip_from"] = video
            if preview is not None:
                s["frame_shown"] = {"kind": "frame", "frame": preview.frame, "time_s": preview.time_s}
            elif video is not None:
                s["frame_shown"] = {"kind": "video", "from": video}
            else:
                s["frame_shown"] = {"kind": "thumbnail", "why": "the frame is not kept: no video to cut it from (the camera's source "
                                    "is a stream, or not found) and " + (f"the dashboard keeps each camera's last {KEPT_PREVIEWS} "
                                    "previews only" if live else "a finished run's store keeps thumbnails only")}  # fmt: skip
        return _json(journey)

    def sighting_image(what: str, camera: int, track: int) -> Response:
        assert view is not None
        sighting = view.sighting(camera, track) if what == "sighting" else None
        if sighting is not None:
            preview = state.preview_of_track(sighting.camera_name, track, sighting.first_frame, sighting.last_frame) if live else None
            if preview is not None:
                return HTTPStatus.OK, draw_sighting(preview, track, sighting.global_id), "image/jpeg", "no-store"
            frame = None if view.footage is None else view.footage.frame(sighting)
            if frame is not None:
                return HTTPStatus.OK, frame, "image/jpeg", "max-age=60"
        data = view.thumbnail(camera, track)
        if data is None:
            return HTTPStatus.OK, placeholder_jpeg("no thumbnail stored"), "image/jpeg", "no-store"
        return HTTPStatus.OK, data, "image/jpeg", "max-age=60"

    def clip(camera: int, track: int) -> Response:
        assert view is not None
        sighting = view.sighting(camera, track)
        if sighting is None:
            return _error(HTTPStatus.NOT_FOUND, f"no sighting camera {camera} track {track} with an identity in {view.where}")
        try:
            data = None if view.footage is None else view.footage.clip(sighting)
        except ClipBusy as exc:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        if data is None:
            return _error(HTTPStatus.NOT_FOUND, f"no video of camera {sighting.camera_name} to cut a clip from "
                          "(a stream, an image folder, or a file not found)")  # fmt: skip
        return HTTPStatus.OK, data, "video/webm", "max-age=300"

    def search(environ: dict) -> Response:
        assert view is not None
        query = _query(environ)
        try:
            limit = int(query.get("limit") or SEARCH_LIMIT)
            if not 1 <= limit <= SEARCH_LIMIT:
                raise ValueError
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, f"limit must be a whole number from 1 to {SEARCH_LIMIT}")
        try:
            found = view.search(
                colour=_word(query, "colour", 64) or _word(query, "color", 64), vehicle_type=_word(query, "type", 64),
                camera=_word(query, "camera", 255), since=_number(query, "since"), until=_number(query, "until"), limit=limit,
            )  # fmt: skip
        except ValueError as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        return _json(found)

    def by_picture(environ: dict) -> Response:
        assert view is not None
        try:
            picture = read_picture(_upload(environ))
        except PictureRefused as exc:
            return _error(HTTPStatus(exc.status), str(exc))
        k = _query(environ).get("k", "")
        return _json(view.by_picture(picture, int(k) if k.isdigit() and 1 <= int(k) <= 50 else IMAGE_RESULTS))

    def correction(environ: dict) -> Response:
        assert view is not None
        if not environ.get("CONTENT_TYPE", "").lower().startswith("application/json"):
            return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send a correction as JSON (Content-Type: application/json)")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_CORRECTION_BYTES:
            return _error(HTTPStatus.BAD_REQUEST, f"a correction is a JSON object of 1 to {MAX_CORRECTION_BYTES} bytes")
        try:
            body = json.loads(environ["wsgi.input"].read(length))
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            return _error(HTTPStatus.BAD_REQUEST, 'a correction is a JSON object with an "action" (split, merge, flag, unflag, undo)')
        try:
            return _json(view.correct(body["action"], body))
        except CorrectionRefused as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))

    def route(method: str, path: str, environ: dict) -> Response:
        if view is None and path in METHODS:
            return store_missing()
        if method == "POST":
            return by_picture(environ) if path == UPLOAD_PATH else correction(environ)  # type: ignore[union-attr]
        if path == CORRECTIONS_PATH:
            return _json(view.corrections())  # type: ignore[union-attr]
        if _PAGES.fullmatch(path):
            return _static("index.html")
        if path.startswith("/static/"):
            return _static(path.removeprefix("/static/"))
        if path == "/api/state":
            return _json(dict(state.snapshot(), live=live))
        if path == "/api/info":
            return info()
        if path.startswith("/api/frame/") and path.endswith(".jpg"):
            camera = path.removeprefix("/api/frame/").removesuffix(".jpg")
            preview = state.preview(camera)
            if preview is None:
                return _not_found(f"no frame for camera {camera!r}")
            return HTTPStatus.OK, annotated.get(camera, preview), "image/jpeg", "no-store"
        if path == "/healthz":
            return HTTPStatus.OK, b"ok\n", _TEXT, "no-store"
        if path.startswith("/api/") and view is None and path.split("/")[2] in ("identity", "search", "graph", "thumbnail", "sighting", "clip"):
            return store_missing()
        if (m := _IDENTITY.fullmatch(path)) is not None:
            return identity(int(m.group(1)))
        if (m := _SIGHTING_IMAGE.fullmatch(path)) is not None:
            return sighting_image(m.group(1), int(m.group(2)), int(m.group(3)))
        if (m := _CLIP.fullmatch(path)) is not None:
            return clip(int(m.group(1)), int(m.group(2)))
        if path == "/api/search":
            return search(environ)
        if path == "/api/graph":
            return _json(view.graph(state.camera_ids()))  # type: ignore[union-attr]
        if path.startswith("/api/"):
            return _error(HTTPStatus.NOT_FOUND, f"not found: {path}")
        return _not_found(path)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # WSGI hands the (percent-decoded) path over as latin-1; the URL's bytes are UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/"
        extra: list[tuple[str, str]] = []
        verdict = authorize(environ, token, path)
        if not verdict.ok and token is None:
            message = f"Host {environ.get('HTTP_HOST', '')[:100]!r} is not a loopback name: open the dashboard as http://127.0.0.1:PORT/"
            status, body, content_type, cache = _error(HTTPStatus.FORBIDDEN, message)
        elif not verdict.ok:
            message = "this dashboard needs its token: send 'Authorization: Bearer TOKEN', or open the page once with ?token=TOKEN"
            status, body, content_type, cache = (
                _error(HTTPStatus.UNAUTHORIZED, message) if path.startswith("/api/")
                else (HTTPStatus.UNAUTHORIZED, f"401 unauthorized: {message}\n".encode(), _TEXT, "no-store")
            )  # fmt: skip
            extra = [("WWW-Authenticate", 'Bearer realm="mtmc-dashboard"')]
        elif verdict.redirect is not None:
            location, cookie = verdict.redirect
            status, body, content_type, cache = HTTPStatus.SEE_OTHER, b"", _TEXT, "no-store"
            extra = [("Location", quote(location, safe="/?=&")), ("Set-Cookie", cookie)]
        elif method == "POST" and not _same_origin(environ):
            what = "a search by picture" if path == UPLOAD_PATH else "a request"
            status, body, content_type, cache = _error(
                HTTPStatus.FORBIDDEN, f"{what} from another site's page is refused (its Origin is not this dashboard)"
            )
        elif method not in METHODS.get(path, ("GET", "HEAD")):
            status, body = HTTPStatus.METHOD_NOT_ALLOWED, f"method {method} not allowed on {path}\n".encode()
            content_type, cache = _TEXT, "no-store"
            extra = [("Allow", ", ".join(METHODS.get(path, ("GET", "HEAD"))))]
        else:
            try:
                status, body, content_type, cache = route(method, path, environ)
            except StoreUnavailable as exc:
                status, body, content_type, cache = _error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            *SECURITY_HEADERS,
            *extra,
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [b"" if method == "HEAD" else body]

    return wsgi


class _Parser(HTTPRequestParser):
    """Waitress's request parser, starting and stopping its channel's header clock."""

    def __init__(self, adj: Adjustments, channel: _Channel) -> None:
        super().__init__(adj)
        self._channel = channel

    def received(self, data: bytes) -> int:
        if self._channel.header_started is None:
            self._channel.header_started = time.monotonic()
        consumed = super().received(data)
        if self.headers_finished and not self.empty:  # blank lines alone are no request: the clock runs on
            self._channel.header_started = None
        return consumed


class _Channel(HTTPChannel):
    """A connection that knows since when it has been sending the headers of its current request."""

    header_started: float | None = None  # monotonic time of the first byte of headers not yet all in

    def parser_class(self, adj: Adjustments) -> HTTPRequestParser:
        # Waitress calls ``self.parser_class(adj)`` for each request it starts reading.
        return _Parser(adj, self)


class _Server(TcpWSGIServer):
    """Waitress's TCP server, also closing connections whose request headers are late
    (waitress's own timeout only closes quiet ones, which a trickle of bytes never is)."""

    channel_class = _Channel
    header_timeout_s: float = HEADER_TIMEOUT_S
    accept_batch = 64  # connections taken per poll round

    def handle_accept(self) -> None:
        # Waitress takes one connection per poll round, and a round visits every socket: a burst
        # of a thousand would keep the next client (a health check) waiting for seconds.
        for _ in range(self.accept_batch):
            open_before = len(self._map)
            super().handle_accept()
            if len(self._map) == open_before or len(self._map) >= self.adj.connection_limit:
                return  # nothing more waiting (or a failed accept), or the limit reached

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # the idle timeout
        clock = time.monotonic()
        for channel in self.active_channels.values():
            started = channel.header_started
            if started is None:
                continue
            if channel.requests:  # its next request lies unread while earlier ones run: start afresh after
                channel.header_started = clock
            elif clock - started > self.header_timeout_s:
                channel.will_close = True


def _connection_budget(wanted: int) -> int:
    """How many connections the process's file-descriptor limit allows, at most ``wanted``:
    its soft limit is raised first (up to the hard one) to fit ``wanted`` plus :data:`FD_RESERVE`."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass  # keep the soft limit, and fit the connections into it
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, max(soft // 2, soft - FD_RESERVE)))


class DashboardServer:
    """The running dashboard: its ``host``, ``port`` and ``url``; :meth:`close` stops it.

    Also a context manager (``with serve(state)[0]: ...``). ``shutdown()`` and ``server_close()``,
    the names of the ``http.server`` API it replaced, both close it too.
    """

    def __init__(self, server, socket_map: dict, host: str, port: int) -> None:
        self._server = server
        self._map = socket_map
        self.host, self.port = host, port
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="mtmc-dashboard", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _run(self) -> None:
        try:
            self._server.run()
        finally:
            self._server.task_dispatcher.shutdown(timeout=2)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, close every connection, stop the threads; idempotent, and safe from
        any thread. Returns once the server thread and its workers have ended (or ``timeout_s``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread.is_alive():
            try:  # the socket map belongs to the server thread: close it from there
                self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
            except OSError:
                pass  # the loop is already gone
            self._thread.join(timeout_s)
        if not self._thread.is_alive():
            wasyncore.close_all(self._map)  # whatever the loop did not get to (nothing, normally)
        self._server.task_dispatcher.shutdown(timeout=timeout_s)

    def shutdown(self) -> None:
        self.close()

    def server_close(self) -> None:
        self.close()

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise MtmcError(f"cannot serve the dashboard on {host}:{port}: {e.strerror or e}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once after a stop
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise MtmcError(
                f"dashboard port {port} on {host} is already in use (another matcher or dashboard?): "
                "stop that process, or choose another port (0 picks a free one)"
            ) from None
        raise MtmcError(f"cannot serve the dashboard on {host}:{port}: {e.strerror or e}") from None
    return sock


def serve(
    state: LiveState | None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    view: StoreView | None = None,
    token: str | None = None,
    live: bool = True,
    threads: int = THREADS,
    connection_limit: int = CONNECTION_LIMIT,
    idle_timeout_s: int = IDLE_TIMEOUT_S,
    header_timeout_s: float = HEADER_TIMEOUT_S,
) -> tuple[DashboardServer, int]:
    """Serve the dashboard for ``state`` (and the sightings store ``view``) from a daemon thread;
    returns the server and its port.

    ``port=0`` picks a free port; a port in use is an :class:`MtmcError`. Stop it with
    ``server.close()``. ``threads`` worker threads answer requests, at most ``connection_limit``
    connections are open at once (fewer if the file-descriptor limit cannot fit them), one idle
    for ``idle_timeout_s`` seconds is closed, and so is one whose request's headers are not all
    in ``header_timeout_s`` seconds after its first byte. A host that is not loopback needs a
    ``token`` (else an :class:`MtmcError`, before anything listens).
    """
    check_exposure(host, token)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    socket_map: dict = {}
    try:
        adj = Adjustments(
            threads=threads,
            connection_limit=_connection_budget(connection_limit),
            channel_timeout=idle_timeout_s,
            cleanup_interval=1,  # how often idle connections are looked for, in seconds
            asyncore_use_poll=True,  # poll(): no FD_SETSIZE limit on how many sockets it watches
            ident="mtmc-dashboard",
            max_request_body_size=MAX_BODY,
            clear_untrusted_proxy_headers=False,  # no proxy in front; nothing reads those headers
        )
        # What waitress's create_server does for one listening socket, with our server class.
        sockinfo = (sock.family, sock.type, sock.proto, sock.getsockname())
        wsgi = app(state, view, token=token, live=live)
        server = _Server(wsgi, socket_map, True, sock, adj=adj, bind_socket=False, sockinfo=sockinfo)
        server.header_timeout_s = header_timeout_s
    except BaseException:
        sock.close()
        raise
    return DashboardServer(server, socket_map, host, bound), bound
