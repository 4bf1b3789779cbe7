"""The dashboard's HTTP server: one static page, its JSON state and each camera's annotated frame.

Routes: ``/`` (the page), ``/static/<file>`` (its JS and CSS), ``/api/state`` (:meth:`LiveState.snapshot`),
``/api/frame/<camera>.jpg`` (the latest preview with boxes and global ids drawn on it) and
``/healthz``; GET and HEAD. Boxes are drawn here, on the very JPEG they belong to, so a client
never pairs a frame with another frame's boxes; each preview is drawn once, on its first request.

The routes are a small WSGI app served by waitress: one thread polls every connection (an idle
or half-sent one costs a socket, not a thread), :data:`THREADS` worker threads run the requests,
at most :data:`CONNECTION_LIMIT` connections are accepted at once (more wait in the listen
backlog) and a connection idle for :data:`IDLE_TIMEOUT_S` is closed. However many clients there
are, the dashboard adds ``THREADS + 1`` threads to the matcher.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path

import cv2
import numpy as np
from waitress import wasyncore
from waitress.server import create_server

from mtmc.dashboard.images import fits, jpeg_dimensions, placeholder_jpeg
from mtmc.dashboard.state import MAX_PREVIEW_SIZE, UNASSIGNED_COLOR, LiveState, Preview, id_color, ink
from mtmc.errors import MtmcError

STATIC = Path(__file__).with_name("static")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_JPEG_QUALITY = 85
THREADS = 4  # worker threads answering requests
CONNECTION_LIMIT = 500  # connections open at once; more wait in the backlog until some close
IDLE_TIMEOUT_S = 10  # a connection with no request in progress and no traffic for this long is closed

# waitress warns "Task queue depth is N" whenever more requests wait than there are threads: a
# burst of polls, not a fault, and it would land on the matcher's stderr. Its other warnings
# (the connection limit reached, say) still show.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def _bgr(color: str) -> tuple[int, int, int]:
    return int(color[5:7], 16), int(color[3:5], 16), int(color[1:3], 16)


def annotate(preview: Preview, max_size: tuple[int, int] = MAX_PREVIEW_SIZE) -> bytes:
    """The preview's JPEG with its boxes drawn: a global id's colour and ``#id``, or grey and the
    local track id (``t7``) while unassigned.

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

    def __init__(self, max_size: tuple[int, int]) -> None:
        self._max_size = max_size
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, bytes]] = {}

    def get(self, camera: str, preview: Preview) -> bytes:
        with self._lock:
            hit = self._cache.get(camera)
        if hit is not None and hit[0] == preview.seq:
            return hit[1]
        data = annotate(preview, self._max_size)  # outside the lock: two clients may both draw, harmlessly
        with self._lock:
            self._cache[camera] = (preview.seq, data)
        return data


Response = tuple[HTTPStatus, bytes, str, str]  # status, body, content type, Cache-Control


def _not_found(what: str) -> Response:
    return HTTPStatus.NOT_FOUND, f"not found: {what}\n".encode(), "text/plain; charset=utf-8", "no-store"


def _static(name: str) -> Response:
    file = STATIC / name
    if "/" in name or file.suffix not in _CONTENT_TYPES or not file.is_file():
        return _not_found(f"/static/{name}")
    return HTTPStatus.OK, file.read_bytes(), _CONTENT_TYPES[file.suffix], "no-cache"


def app(state: LiveState) -> Callable[[dict, Callable], Iterable[bytes]]:
    """The dashboard as a WSGI application over ``state``."""
    annotated = _Annotated(state.max_preview_size)

    def route(path: str) -> Response:
        if path in ("/", "/index.html"):
            return _static("index.html")
        if path.startswith("/static/"):
            return _static(path.removeprefix("/static/"))
        if path == "/api/state":
            body = json.dumps(state.snapshot(), allow_nan=False, separators=(",", ":")).encode()
            return HTTPStatus.OK, body, "application/json", "no-store"
        if path.startswith("/api/frame/") and path.endswith(".jpg"):
            camera = path.removeprefix("/api/frame/").removesuffix(".jpg")
            preview = state.preview(camera)
            if preview is None:
                return _not_found(f"no frame for camera {camera!r}")
            return HTTPStatus.OK, annotated.get(camera, preview), "image/jpeg", "no-store"
        if path == "/healthz":
            return HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8", "no-store"
        return _not_found(path)

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        # WSGI hands the (percent-decoded) path over as latin-1; the URL's bytes are UTF-8.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace") or "/"
        if method in ("GET", "HEAD"):
            status, body, content_type, cache = route(path)
            extra = []
        else:
            status, body = HTTPStatus.METHOD_NOT_ALLOWED, f"method {method} not allowed\n".encode()
            content_type, cache, extra = "text/plain; charset=utf-8", "no-store", [("Allow", "GET, HEAD")]
        headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", cache),
            *extra,
        ]
        start_response(f"{status.value} {status.phrase}", headers)
        return [b"" if method == "HEAD" else body]

    return wsgi


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
    state: LiveState,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    threads: int = THREADS,
    connection_limit: int = CONNECTION_LIMIT,
    idle_timeout_s: int = IDLE_TIMEOUT_S,
) -> tuple[DashboardServer, int]:
    """Serve the dashboard for ``state`` from a daemon thread; returns the server and its port.

    ``port=0`` picks a free port; a port in use is an :class:`MtmcError`. Stop it with
    ``server.close()``. ``threads`` worker threads answer requests, at most ``connection_limit``
    connections are open at once, and one idle for ``idle_timeout_s`` seconds is closed.
    """
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    socket_map: dict = {}
    try:
        server = create_server(
            app(state),
            map=socket_map,
            sockets=[sock],
            threads=threads,
            connection_limit=connection_limit,
            channel_timeout=idle_timeout_s,
            cleanup_interval=1,  # how often idle connections are looked for, in seconds
            asyncore_use_poll=True,  # poll(): no FD_SETSIZE limit on how many sockets it watches
            ident="mtmc-dashboard",
            clear_untrusted_proxy_headers=False,  # no proxy in front; nothing reads those headers
        )
    except BaseException:
        sock.close()
        raise
    return DashboardServer(server, socket_map, host, bound), bound
