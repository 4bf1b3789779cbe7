"""A real RTSP server on 127.0.0.1 (GStreamer's, see rtsp_server.py): the stream source reads it,
reconnects when it is killed and restarted mid-stream, and gives up when it never comes back."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rtsp_server import RtspServer, missing, write_jpeg_frames

from mtmc.errors import MtmcError
from mtmc.sources import StreamSource, open_source

FPS = 24


@pytest.fixture(scope="module")
def frames_dir(tmp_path_factory):
    """72 frames of street-a.mp4 served in a loop; a moving test pattern without shared data."""
    why = missing()
    if why:
        pytest.skip(why)
    video = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "street-a.mp4"
    if not video.is_file():
        return None
    return write_jpeg_frames(video, tmp_path_factory.mktemp("rtsp-frames"), count=72)


@pytest.fixture
def server(frames_dir):
    with RtspServer(frames_dir, fps=FPS) as running:
        yield running
    assert not running.running  # nothing left behind


def looks_like_source(image, frames_dir):
    """The image is one of the served frames (JPEG twice over: a loose match)."""
    if frames_dir is None:
        return True
    import cv2

    diffs = [
        np.abs(cv2.imread(str(path)).astype(np.int16) - image.astype(np.int16)).mean()
        for path in sorted(frames_dir.glob("*.jpg"))
    ]
    return min(diffs) < 8


def test_reads_frames_from_a_real_rtsp_server(server, frames_dir):
    source = open_source(server.url, give_up_s=10)
    assert isinstance(source, StreamSource)
    frames = []
    started = time.monotonic()
    for frame in source:
        frames.append(frame)
        if len(frames) == 30:
            break
    assert [f.index for f in frames] == list(range(1, 31))
    assert frames[0].image.shape == (352, 640, 3) and frames[0].image.dtype == np.uint8
    assert looks_like_source(frames[-1].image, frames_dir)
    assert time.monotonic() - started < 10


def test_reconnects_when_the_server_restarts_mid_stream(server, frames_dir, caplog):
    outage_s = 2.0
    source = open_source(server.url, give_up_s=15)
    restarted: dict = {}

    def restart_later():
        time.sleep(outage_s)
        try:
            server.start()  # the same port and URL; returns once it answers DESCRIBE
            restarted["at"] = time.monotonic()
        except BaseException as exc:  # reported by the test below
            restarted["error"] = exc

    got = []  # (index, arrival time)
    thread = None
    back = None  # position in got of the first frame after the outage
    with caplog.at_level("INFO", logger="mtmc.sources.stream"):
        for frame in source:  # bounded: a MtmcError after 15 s without frames
            now = time.monotonic()
            if thread is not None and back is None and now - got[-1][1] > 1.0:
                back = len(got)  # the first frame after a silence longer than any jitter
            got.append((frame.index, now))
            if len(got) == 24 and thread is None:
                server.stop()  # killed mid-stream
                stopped_at = time.monotonic()
                thread = threading.Thread(target=restart_later, daemon=True)
                thread.start()
            if back is not None and len(got) >= back + 24:
                break
    thread.join(timeout=20)
    assert "error" not in restarted, restarted.get("error")
    assert back is not None, f"no frame after the restart; log:\n{caplog.text}"
    assert [index for index, _ in got] == list(range(1, len(got) + 1))  # numbering goes on
    assert "reconnect attempt 1" in caplog.text and "stream back after" in caplog.text
    assert looks_like_source(frame.image, frames_dir)
    reconnect_s = got[back][1] - restarted["at"]
    gap_s = got[back][1] - got[back - 1][1]
    print(
        f"\nRTSP reconnect: server down {restarted['at'] - stopped_at:.2f} s; first frame "
        f"{reconnect_s:.2f} s after it answered again; {back - 24} buffered frame(s) after the kill; "
        f"gap {gap_s:.2f} s = ~{gap_s * FPS:.0f} frames at {FPS} fps never seen"
    )
    assert -0.5 < reconnect_s < 5.0  # backoff 0.5, 1, 2 s: an attempt comes soon after the restart


def test_gives_up_naming_the_url_when_the_server_never_returns(server):
    give_up_s = 3.0
    source = open_source(server.url, give_up_s=give_up_s)
    count = 0
    stopped_at = None
    with pytest.raises(MtmcError, match=rf"stream {server.url} unreachable.*give-up time 3 s"):
        for _ in source:
            count += 1
            if count == 12:
                server.stop()
                stopped_at = time.monotonic()
    assert count >= 12
    assert time.monotonic() - stopped_at < give_up_s + 2.0


def test_a_hung_server_is_noticed_within_the_give_up_time(server):
    """The server accepts but sends nothing (SIGSTOP): reads must not block for OpenCV's 30 s."""
    give_up_s = 3.0
    source = open_source(server.url, give_up_s=give_up_s)
    count = 0
    frozen_at = None
    try:
        with pytest.raises(MtmcError, match=rf"stream {server.url} unreachable"):
            for _ in source:
                count += 1
                if count == 12:
                    os.killpg(server.process.pid, signal.SIGSTOP)
                    frozen_at = time.monotonic()
    finally:
        if server.running:
            os.killpg(server.process.pid, signal.SIGCONT)
    assert time.monotonic() - frozen_at < give_up_s + 2.5
