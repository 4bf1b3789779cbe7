"""A real RTSP server on loopback for tests (not a test module).

The server is GStreamer's RTSP server (Debian's ``gir1.2-gst-rtsp-server-1.0``) driven by
Debian's own ``/usr/bin/python3`` through ``python3-gi``: this same file, run as a script, is
the server process. It serves ``rtsp://127.0.0.1:PORT/cam`` as Motion-JPEG over RTP
(``rtpjpegpay``, which FFmpeg and so OpenCV read), either a folder of JPEG frames played in a
loop at the given rate (real video, no encoder needed) or a moving test pattern.

    with RtspServer(frames_dir) as server:   # starts, waits until it answers DESCRIBE
        cap = cv2.VideoCapture(server.url)
        server.stop()                        # the process group is killed: the stream dies
        server.start()                       # the same port and URL again

``missing()`` says why the server cannot run here (and what to install), for ``pytest.skip``.
Everything needed is installed by ``.ci/install-test-deps``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
APT_PACKAGES = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
)
INSTALL_HINT = (
    "apt-get install -y --no-install-recommends " + " ".join(APT_PACKAGES) + " (or .ci/install-test-deps)"
)
MAX_LIFETIME_S = 600.0  # a server process never runs longer than this, whatever happens to its tests
_ELEMENTS = ("multifilesrc", "jpegdec", "videotestsrc", "videoconvert", "jpegenc", "rtpjpegpay")

_PROBE = f"""
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in {_ELEMENTS!r} if Gst.ElementFactory.find(e) is None]
print("missing GStreamer elements: " + " ".join(missing) if missing else "ok")
"""
_missing_cache: list[str | None] = []


def missing() -> str | None:
    """None when the server can run here, else why not with the install command."""
    if not _missing_cache:
        _missing_cache.append(_probe())
    return _missing_cache[0]


def _probe() -> str | None:
    if not Path(SYSTEM_PYTHON).exists():
        return f"RTSP test server needs Debian's {SYSTEM_PYTHON}: {INSTALL_HINT}"
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"RTSP test server probe failed ({exc}): {INSTALL_HINT}"
    out = done.stdout.strip()
    if done.returncode != 0 or out != "ok":
        why = out or (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"RTSP test server unavailable ({why}): {INSTALL_HINT}"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_jpeg_frames(video: Path, folder: Path, count: int = 72) -> Path:
    """The first ``count`` frames of ``video`` as ``folder/00000.jpg``... (for a looping stream)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(video))
    written = 0
    try:
        while written < count:
            ok, image = capture.read()
            if not ok:
                break
            cv2.imwrite(str(folder / f"{written:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            written += 1
    finally:
        capture.release()
    if not written:
        raise RuntimeError(f"no frames read from {video}")
    return folder


def _describe_ok(port: int, path: str, timeout: float = 1.0) -> bool:
    """True when the server answers an RTSP DESCRIBE for ``path`` with 200 (its pipeline runs)."""
    url = f"rtsp://127.0.0.1:{port}/{path}"
    request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            reply = sock.recv(4096)
    except OSError:
        return False
    return reply.startswith(b"RTSP/1.0 200")


class RtspServer:
    """GStreamer's RTSP server in its own process group, on ``127.0.0.1:port``."""

    def __init__(
        self,
        frames: Path | None = None,
        port: int | None = None,
        path: str = "cam",
        fps: int = 24,
        width: int = 640,
        height: int = 352,
        max_lifetime_s: float = MAX_LIFETIME_S,
    ) -> None:
        self.frames = frames
        self.max_lifetime_s = max_lifetime_s  # the server process ends by itself after this long
        if frames is not None:  # rtpjpegpay needs the size in the caps: take it from the first frame
            import cv2

            first = cv2.imread(str(Path(frames) / "00000.jpg"))
            if first is None:
                raise FileNotFoundError(f"no {Path(frames) / '00000.jpg'} (see write_jpeg_frames)")
            height, width = first.shape[:2]
        self.port = port or free_port()
        self.path = path
        self.fps, self.width, self.height = fps, width, height
        self.process: subprocess.Popen | None = None
        self._log_file: object = None
        self.log = b""  # the last run's output, after stop()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 15.0) -> RtspServer:
        why = missing()
        if why:
            raise RuntimeError(why)
        if self.running:
            return self
        command = [SYSTEM_PYTHON, str(Path(__file__).resolve()), str(self.port), self.path, str(self.fps)]
        command += [str(self.width), str(self.height), str(self.frames or ""), str(os.getpid())]
        command += [str(self.max_lifetime_s)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self._log_file = tempfile.TemporaryFile()  # a file, not a pipe: a chatty server never blocks
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all of it
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"RTSP server exited at start: {self.log.decode(errors='replace')[-2000:]}"
                )
            if _describe_ok(self.port, self.path):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"RTSP server on port {self.port} did not answer within {timeout:g} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Kill the server's whole process group (abruptly, as a crash or power loss would)."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait on anything
            pass
        log_file, self._log_file = self._log_file, None
        if log_file is not None:
            log_file.seek(0)
            self.log = log_file.read()
            log_file.close()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; tests use the context manager
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _serve(
    port: int, path: str, fps: int, width: int, height: int, frames: str, parent: int,
    max_lifetime_s: float = MAX_LIFETIME_S,
) -> None:  # fmt: skip
    """The server process (Debian's python3 with python3-gi): runs until killed, until the test
    process that started it is gone, or for ``max_lifetime_s`` at most (MAX_LIFETIME_S unless a
    soak asks for longer), so none outlives its tests."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    if frames:
        source = (
            f'multifilesrc location="{Path(frames) / "%05d.jpg"}" index=0 loop=true '
            f"caps=image/jpeg,width={width},height={height},framerate={fps}/1 "
            "! jpegdec ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=80"  # decoding gives timestamps: paced output
        )
    else:
        source = (
            f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
            f"framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=80"
        )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {source} ! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(False)  # a pipeline per client: no race between one leaving and the next
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory(f"/{path}", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(2)
    print(f"serving rtsp://127.0.0.1:{port}/{path}", flush=True)
    loop = GLib.MainLoop()
    started = time.monotonic()

    def watchdog() -> bool:
        if os.getppid() != parent or time.monotonic() - started > max_lifetime_s:
            loop.quit()
            return False
        return True

    GLib.timeout_add(500, watchdog)
    loop.run()


if __name__ == "__main__":
    port_arg, path_arg, fps_arg, width_arg, height_arg, frames_arg, parent_arg = sys.argv[1:8]
    lifetime_arg = float(sys.argv[8]) if len(sys.argv) > 8 else MAX_LIFETIME_S
    _serve(
        int(port_arg), path_arg, int(fps_arg), int(width_arg), int(height_arg), frames_arg, int(parent_arg),
        lifetime_arg,
    )
