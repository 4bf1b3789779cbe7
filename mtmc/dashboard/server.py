"""The dashboard's HTTP server: one static page, its JSON state and each camera's annotated frame.

Routes: ``/`` (the page), ``/static/<file>`` (its JS and CSS), ``/api/state`` (:meth:`LiveState.snapshot`),
``/api/frame/<camera>.jpg`` (the latest preview with boxes and global ids drawn on it) and
``/healthz``. Boxes are drawn here, on the very JPEG they belong to, so a client never pairs a
frame with another frame's boxes; each preview is drawn once, on its first request.
"""

from __future__ import annotations

import errno
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np

from mtmc.dashboard.state import UNASSIGNED_COLOR, LiveState, Preview, id_color, ink
from mtmc.errors import MtmcError

STATIC = Path(__file__).with_name("static")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_JPEG_QUALITY = 85


def _bgr(color: str) -> tuple[int, int, int]:
    return int(color[5:7], 16), int(color[3:5], 16), int(color[1:3], 16)


def annotate(preview: Preview) -> bytes:
    """The preview's JPEG with its boxes drawn: a global id's colour and ``#id``, or grey and the
    local track id (``t7``) while unassigned. A JPEG OpenCV cannot decode is served as it came."""
    image = cv2.imdecode(np.frombuffer(preview.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return preview.jpeg
    height = image.shape[0]
    scale = max(0.5, height / 640)
    thick = max(2, round(height / 250))
    font = cv2.FONT_HERSHEY_SIMPLEX
    # Unassigned first, so an identity's box is never hidden under a grey one.
    order = sorted(range(len(preview.boxes)), key=lambda i: preview.global_ids[i] is not None)
    for i in order:
        x, y, w, h = (round(v) for v in preview.boxes[i])
        gid, tid = preview.global_ids[i], preview.track_ids[i]
        hex_color = UNASSIGNED_COLOR if gid is None else id_color(gid)
        color = _bgr(hex_color)
        label = f"#{gid}" if gid is not None else (f"t{tid}" if tid is not None else "?")
        cv2.rectangle(image, (x, y), (x + w, y + h), color, thick, cv2.LINE_AA)
        (tw, th), base = cv2.getTextSize(label, font, scale, 1)
        top = y - th - base - 4 if y - th - base - 4 >= 0 else y + h
        cv2.rectangle(image, (x - thick // 2, top), (x + tw + 6, top + th + base + 4), color, cv2.FILLED)
        cv2.putText(image, label, (x + 3, top + th + 2), font, scale, _bgr(ink(hex_color)), 1, cv2.LINE_AA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    return data.tobytes() if ok else preview.jpeg


class _Annotated:
    """The last annotated JPEG per camera, keyed by the preview's ``seq``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, bytes]] = {}

    def get(self, camera: str, preview: Preview) -> bytes:
        with self._lock:
            hit = self._cache.get(camera)
        if hit is not None and hit[0] == preview.seq:
            return hit[1]
        data = annotate(preview)  # outside the lock: two clients may both draw, harmlessly
        with self._lock:
            self._cache[camera] = (preview.seq, data)
        return data


def _handler(state: LiveState) -> type[BaseHTTPRequestHandler]:
    annotated = _Annotated()

    class Handler(BaseHTTPRequestHandler):
        server_version = "mtmc-dashboard"

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per poll on stderr would drown the matcher's own output

        def _send(self, status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-store") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _not_found(self, what: str) -> None:
            self._send(HTTPStatus.NOT_FOUND, f"not found: {what}\n".encode(), "text/plain; charset=utf-8")

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in ("/", "/index.html"):
                self._static("index.html")
            elif path.startswith("/static/"):
                self._static(path.removeprefix("/static/"))
            elif path == "/api/state":
                body = json.dumps(state.snapshot(), allow_nan=False, separators=(",", ":")).encode()
                self._send(HTTPStatus.OK, body, "application/json")
            elif path.startswith("/api/frame/") and path.endswith(".jpg"):
                camera = unquote(path.removeprefix("/api/frame/").removesuffix(".jpg"))
                preview = state.preview(camera)
                if preview is None:
                    self._not_found(f"no frame for camera {camera!r}")
                else:
                    self._send(HTTPStatus.OK, annotated.get(camera, preview), "image/jpeg")
            elif path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._not_found(path)

        def _static(self, name: str) -> None:
            file = STATIC / name
            if "/" in name or file.suffix not in _CONTENT_TYPES or not file.is_file():
                self._not_found(f"/static/{name}")
                return
            self._send(HTTPStatus.OK, file.read_bytes(), _CONTENT_TYPES[file.suffix], cache="no-cache")

    return Handler


def serve(state: LiveState, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, int]:
    """Serve the dashboard for ``state`` from a daemon thread; returns the server and its port.

    ``port=0`` picks a free port. Stop it with ``server.shutdown(); server.server_close()``.
    """
    try:
        server = ThreadingHTTPServer((host, port), _handler(state))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise MtmcError(
                f"dashboard port {port} on {host} is already in use (another matcher or dashboard?): "
                "stop that process, or choose another port (0 picks a free one)"
            ) from None
        raise MtmcError(f"cannot serve the dashboard on {host}:{port}: {e.strerror or e}") from None
    thread = threading.Thread(target=server.serve_forever, name="mtmc-dashboard", daemon=True)
    thread.start()
    return server, server.server_address[1]
