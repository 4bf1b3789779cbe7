"""Frame sources: real video and image folders, subsampling, and a dropping stream."""

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.sources import ImageFolderSource, StreamSource, VideoFileSource, open_source


def first(source, n):
    out = []
    for frame in source:
        out.append(frame)
        if len(out) == n:
            break
    return out


def test_video_file_frames(data_dir):
    source = open_source(data_dir / "videos" / "street-a.mp4")
    assert isinstance(source, VideoFileSource)
    assert source.fps == pytest.approx(24.0, abs=0.1) and source.frame_count == 905
    frames = first(source, 3)
    assert [f.index for f in frames] == [1, 2, 3]
    assert frames[0].image.shape == (352, 640, 3) and frames[0].image.dtype == np.uint8
    assert frames[1].timestamp == pytest.approx(1 / source.fps)


def test_subsampling_keeps_the_target_rate(data_dir):
    frames = first(open_source(data_dir / "videos" / "street-a.mp4", fps=6), 4)
    assert [f.index for f in frames] == [1, 5, 9, 13]  # 24 fps -> every 4th frame


def test_mot_sequence_folder(data_dir):
    source = open_source(data_dir / "pets09-s2l1")
    assert isinstance(source, ImageFolderSource)
    assert source.name == "PETS09-S2L1" and source.fps == 7.0 and len(source.files) == 795
    frames = first(source, 2)
    assert [f.index for f in frames] == [1, 2] and frames[0].image.shape == (576, 768, 3)


def test_missing_and_corrupt_inputs(tmp_path):
    with pytest.raises(MtmcError, match="source not found"):
        open_source(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(MtmcError, match="bad.mp4"):
        list(open_source(bad))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MtmcError, match="no images"):
        open_source(tmp_path / "empty")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "000001.jpg").write_bytes(b"garbage")
    with pytest.raises(MtmcError, match="cannot read image .*000001.jpg"):
        list(open_source(tmp_path / "imgs"))


class FakeCapture:
    def __init__(self, frames):
        self.frames = list(frames)

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return True

    def read(self):
        if self.frames:
            return True, self.frames.pop(0)
        return False, None

    def release(self):
        pass


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_stream_reconnects_with_backoff_then_gives_up(caplog):
    image = np.zeros((4, 4, 3), np.uint8)
    # First connection: 2 frames then drops; two failed reopen attempts; third gives 1 frame.
    sessions = [FakeCapture([image, image]), FakeCapture([]), FakeCapture([]), FakeCapture([image])]
    sessions += [FakeCapture([]) for _ in range(20)]
    fake = FakeTime()
    stream = StreamSource(
        "rtsp://cam/1", give_up_s=10, opener=lambda url: sessions.pop(0), clock=fake.clock, sleep=fake.sleep
    )
    got = []
    with (
        caplog.at_level("WARNING"),
        pytest.raises(MtmcError, match=r"rtsp://cam/1 unreachable.*give-up time 10 s"),
    ):
        for frame in stream:
            got.append(frame.index)
    assert got == [1, 2, 3]  # frames before the give-up were delivered
    assert fake.sleeps[:3] == [0.5, 1.0, 2.0]  # backoff doubles; resets after a frame
    assert fake.sleeps[3] == 0.5
    assert sum(fake.sleeps[3:]) == pytest.approx(10)  # gave up 10 s after the last frame
    assert "reconnect attempt 1" in caplog.text
