"""Frame sources: real video and image folders, subsampling, and a dropping stream."""

import numpy as np
import pytest

from mtmc.errors import MtmcError
from mtmc.sources import ImageFolderSource, StreamSource, VideoFileSource, open_source
from mtmc.sources.base import describe_lost


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
    (tmp_path / "imgs" / "000002.jpg").write_bytes(b"")
    with pytest.raises(MtmcError, match=r"no image in .*imgs could be read \(2 corrupt"):
        list(open_source(tmp_path / "imgs"))


def write_clip(path, frames=60, size=(64, 48)):
    """A small mp4v clip: frame N is noise (so every frame takes bytes) under N written in a band."""
    import cv2

    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24, size)
    for n in range(1, frames + 1):
        image = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        writer.write(numbered(image, n))
    writer.release()
    return path


def numbered(image, n):
    """``n`` in binary across the top 16 rows: 8-pixel blocks, white for 1 (survives compression)."""
    for bit in range(7):
        image[:16, 8 * bit : 8 * bit + 8] = 255 if n >> bit & 1 else 0
    return image


def band_number(image):
    return sum(1 << bit for bit in range(7) if image[:16, 8 * bit : 8 * bit + 8].mean() > 128)


def corrupt(path, start=0.4, stop=0.5):
    """Garbage over bytes [start, stop) of the file (OpenCV's mp4 keeps its index at the end)."""
    data = bytearray(path.read_bytes())
    lo, hi = int(len(data) * start), int(len(data) * stop)
    data[lo:hi] = np.random.default_rng(1).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return lo, hi


def test_intact_clip_loses_nothing(tmp_path):
    source = open_source(write_clip(tmp_path / "clip.mp4"))
    frames = list(source)
    assert [f.index for f in frames] == list(range(1, 61)) and source.frame_count == 60
    assert [band_number(f.image) for f in frames] == list(range(1, 61))
    assert source.lost_frames == [] and source.lost_summary() == ""


def test_corrupt_stretch_is_skipped_and_reading_goes_on(tmp_path, caplog):
    clip = write_clip(tmp_path / "clip.mp4")
    corrupt(clip)  # bytes 40-50 %: 8 frames of 60 here (14-21)
    source = open_source(clip)
    with caplog.at_level("WARNING"):
        frames = list(source)
    got = [f.index for f in frames]
    lost = source.lost_frames
    assert (
        lost == list(range(lost[0], lost[-1] + 1)) and 3 <= len(lost) <= 20 and 5 <= lost[0] < lost[-1] <= 50
    )
    assert sorted(got + lost) == list(range(1, 61))  # reached the end; every frame read or lost
    assert got[-1] == 60
    # Frames keep their native index and timestamp (the ones decoded from damaged references aside).
    assert all(f.timestamp == pytest.approx((f.index - 1) / source.fps) for f in frames)
    clean = [f for f in frames if f.index < lost[0] - 1 or f.index > lost[-1] + 12]
    assert len(clean) > 30 and all(band_number(f.image) == f.index for f in clean)
    assert source.lost_summary() == f"{len(lost)} frames unreadable ({lost[0]}-{lost[-1]})"
    warnings = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "clip.mp4" in warnings[0].getMessage()
    assert list(source) and source.lost_frames == lost  # a second pass starts afresh


def test_describe_lost_compacts_runs():
    assert describe_lost([]) == ""
    assert describe_lost([7]) == "1 frame unreadable (7)"
    assert describe_lost([3, 4, 5, 9]) == "4 frames unreadable (3-5, 9)"
    assert describe_lost([1, 3, 5, 7, 9, 10]) == "6 frames unreadable (1, 3, 5, 7, +1 more stretch)"
    assert describe_lost([1, 3, 5, 7, 9, 10, 12]) == "7 frames unreadable (1, 3, 5, 7, +2 more stretches)"


class FakeVideo:
    """``cv2.VideoCapture`` over a script: an int is a good frame at that native index (its
    container timestamp), None a failed read; past the script every read fails."""

    def __init__(self, script, fps=24.0):
        self.script, self.fps, self.msec = list(script), fps, 0.0
        self.reads = 0

    def read(self):
        self.reads += 1
        item = self.script.pop(0) if self.script else None
        if item is None:
            return False, None
        self.msec = (item - 1) * 1000 / self.fps
        return True, np.zeros((4, 4, 3), np.uint8)

    def get(self, prop):
        return self.msec

    def release(self):
        pass


def scripted(monkeypatch, tmp_path, script, frame_count):
    import cv2

    monkeypatch.undo()  # the real VideoCapture opens the clip
    source = VideoFileSource(write_clip(tmp_path / "clip.mp4", frames=2))
    source.frame_count = frame_count
    fake = FakeVideo(script, source.fps)
    monkeypatch.setattr(cv2, "VideoCapture", lambda path: fake)
    return source, fake


def test_video_index_follows_the_timestamps_after_a_stretch(monkeypatch, tmp_path):
    # Two failed reads, but the decoder also dropped frames 6 and 7 silently (H.264 does): the
    # container timestamp says the next good frame is 8.
    source, _ = scripted(monkeypatch, tmp_path, [1, 2, 3, None, None, 8, 9, 10], frame_count=10)
    assert [f.index for f in source] == [1, 2, 3, 8, 9, 10]
    assert source.lost_frames == [4, 5, 6, 7]
    # No usable timestamp (a garbage one): the failure count decides.
    source, _ = scripted(monkeypatch, tmp_path, [1, 2, None, 10**6, 4], frame_count=5)
    assert [f.index for f in source] == [1, 2, 4, 5] and source.lost_frames == [3]


def test_video_corrupt_end_and_wrong_frame_counts_end_the_loop(monkeypatch, tmp_path):
    source, fake = scripted(monkeypatch, tmp_path, range(1, 8), frame_count=10)
    assert [f.index for f in source] == list(range(1, 8))
    assert source.lost_frames == [8, 9, 10] and fake.reads < 20
    # The count one frame too many (estimated from the duration): not a loss.
    source, _ = scripted(monkeypatch, tmp_path, range(1, 10), frame_count=10)
    assert len(list(source)) == 9 and source.lost_frames == []
    # A wildly wrong count, or none: reading stops after max_gap failures in a row.
    source, fake = scripted(monkeypatch, tmp_path, range(1, 6), frame_count=10**9)
    assert len(list(source)) == 5 and fake.reads == 5 + source.max_gap()
    assert source.lost_frames == list(range(6, 6 + source.max_gap()))
    source, fake = scripted(monkeypatch, tmp_path, range(1, 6), frame_count=0)
    assert len(list(source)) == 5 and source.lost_frames == [] and fake.reads == 5 + source.max_gap()
    # Nothing readable at all is still an error.
    source, _ = scripted(monkeypatch, tmp_path, [], frame_count=10)
    with pytest.raises(MtmcError, match="no frame could be read from .*clip.mp4"):
        list(source)


def write_folder(folder, frames=5, corrupt=(3,)):
    import cv2

    folder.mkdir()
    for n in range(1, frames + 1):
        file = folder / f"{n:06d}.jpg"
        if n in corrupt:
            ok, data = cv2.imencode(".jpg", numbered(np.zeros((48, 64, 3), np.uint8), n))
            file.write_bytes(data.tobytes()[:200])  # cut in the header: OpenCV cannot decode it
        else:
            cv2.imwrite(str(file), numbered(np.zeros((48, 64, 3), np.uint8), n))
    return folder


def test_folder_skips_a_corrupt_image(tmp_path, caplog):
    source = open_source(write_folder(tmp_path / "seq"))
    with caplog.at_level("WARNING"):
        frames = list(source)
    assert [f.index for f in frames] == [1, 2, 4, 5]
    assert [band_number(f.image) for f in frames] == [1, 2, 4, 5]
    assert frames[2].timestamp == pytest.approx(3 / source.fps)
    assert source.lost_frames == [3] and source.lost_summary() == "1 frame unreadable (3)"
    assert caplog.text.count("cannot read image 000003.jpg") == 1


def test_folder_with_no_readable_image_names_it(tmp_path):
    source = open_source(write_folder(tmp_path / "broken", frames=3, corrupt=(1, 2, 3)))
    with pytest.raises(MtmcError, match=r"no image in .*broken could be read"):
        list(source)


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


def test_source_identity_tells_a_replaced_file_by_its_size_and_first_mib(tmp_path):
    from mtmc.sources.identity import HEAD_BYTES, source_change, source_identity

    video = tmp_path / "cam.mp4"
    original = bytes(range(256)) * (HEAD_BYTES // 256 + 10)  # longer than the part hashed
    video.write_bytes(original)
    before = source_identity(video)
    assert before is not None and before.kind == "file" and before.size == len(original)
    assert source_identity(str(video)) == before and source_change(before, video) is None
    video.write_bytes(original[:-1] + b"x")  # past the first MiB: same identity (the check is cheap)
    assert source_change(before, video) is None
    video.write_bytes(b"y" + original[1:])
    assert source_change(before, video) == "same size, different content"
    video.write_bytes(original + b"more")
    assert source_change(before, video) == f"size {len(original)} -> {len(original) + 4} bytes"
    assert source_change(before, "rtsp://cam.local/live") == "it was a file, it is now a stream URL"
    assert source_change(before, tmp_path / "gone.mp4") is None  # opening it says "source not found"


def test_source_identity_of_a_folder_and_a_stream(tmp_path):
    from mtmc.sources.identity import source_change, source_identity

    folder = tmp_path / "seq"
    (folder / "img1").mkdir(parents=True)
    for k in (1, 2, 3):
        (folder / "img1" / f"{k:06d}.jpg").write_bytes(b"frame %d" % k)
    before = source_identity(folder)
    assert before is not None and before.kind == "folder" and before.size == 3
    assert source_change(before, folder) is None
    (folder / "img1" / "000001.jpg").write_bytes(b"frame 9")  # the first image replaced
    assert source_change(before, folder) == "same number of images, other names or first image"
    (folder / "img1" / "000001.jpg").write_bytes(b"frame 1")
    (folder / "img1" / "000003.jpg").rename(folder / "img1" / "000004.jpg")
    assert source_change(before, folder) == "same number of images, other names or first image"
    (folder / "img1" / "000005.jpg").write_bytes(b"frame 5")
    assert source_change(before, folder) == "3 -> 4 images"
    video = tmp_path / "cam.mp4"
    video.write_bytes(b"video")
    assert source_change(before, video) == "it was an image folder, it is now a file"
    assert source_identity("rtsp://cam.local/live") is None and source_identity("https://cam.local/x.m3u8") is None
