"""The per-camera pipeline end to end on real frames, and ``mtmc run`` / ``mtmc track``."""

import pytest

from mtmc.cli import main
from mtmc.formats import read_mot


@pytest.fixture
def short_clip(data_dir, tmp_path):
    """The first 24 frames of street-a.mp4 as a small video (keeps the test fast)."""
    import cv2

    capture = cv2.VideoCapture(str(data_dir / "videos" / "street-a.mp4"))
    path = tmp_path / "clip.mp4"
    writer = None
    for _ in range(24):
        ok, frame = capture.read()
        if writer is None:
            writer = cv2.VideoWriter(
                str(path), cv2.VideoWriter_fourcc(*"mp4v"), 24, (frame.shape[1], frame.shape[0])
            )
        writer.write(frame)
    writer.release()
    capture.release()
    return path


def test_track_command_writes_tracks_and_video(short_clip, tmp_path, capsys):
    out = tmp_path / "out" / "tracks.txt"
    video = tmp_path / "out" / "tracks.mp4"
    code = main(["track", str(short_clip), "-o", str(out), "--video", str(video), "-q"])
    assert code == 0
    rows = read_mot(out)
    assert len(rows) > 0 and rows.frame.max() <= 24
    assert len(set(rows.id.tolist())) >= 2  # several cars on this street
    assert video.stat().st_size > 10_000
    err = capsys.readouterr().err
    assert "FPS" in err and "detect" in err and "track" in err


def test_track_skips_a_corrupt_image_says_so_and_exits_1(data_dir, tmp_path, capsys):
    import cv2

    capture = cv2.VideoCapture(str(data_dir / "videos" / "street-a.mp4"))
    folder = tmp_path / "seq"
    folder.mkdir()
    for n in range(1, 11):
        ok, frame = capture.read()
        cv2.imwrite(str(folder / f"{n:06d}.jpg"), frame)
    capture.release()
    (folder / "000004.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    config = tmp_path / "motion.yaml"
    config.write_text("embedder: null\n")  # no re-id model: a faster test
    out = tmp_path / "out" / "tracks.txt"
    code = main(["track", str(folder), "-o", str(out), "--config", str(config), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert (
        f"mtmc track: warning: {folder}: 1 frame unreadable (4), skipped; the output covers the rest" in err
    )
    assert "10 frames" not in err and "9 frames" in err
    frames = set(read_mot(out).frame.astype(int).tolist())
    assert 4 not in frames and max(frames) == 10 and len(frames & {5, 6, 7, 8, 9}) >= 4


def test_run_refuses_a_camera_that_is_not_a_video_before_starting(short_clip, tmp_path, capsys):
    """Issue 34: a text file named .mp4 once failed its camera after the models loaded, with an
    output folder made (exit 1); now it is one line before anything starts."""
    (tmp_path / "corrupt.mp4").write_bytes(b"not a video" * 100)
    config = tmp_path / "city.yaml"
    config.write_text(
        "cameras:\n"
        f"  - id: c001\n    source: {short_clip}\n"
        f"  - id: c002\n    source: {tmp_path / 'corrupt.mp4'}\n"
        "output:\n  dir: out\n  video: false\n"
    )
    assert main(["run", str(config), "-q"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"mtmc run: error: {config}: camera c002: cannot open video {tmp_path / 'corrupt.mp4'}: "
        "not a video, or a codec OpenCV lacks"
    )
    assert not (tmp_path / "out").exists()


def test_run_with_a_missing_camera_file_stops_before_starting(short_clip, tmp_path, capsys):
    config = tmp_path / "city.yaml"
    config.write_text(f"cameras:\n  - {{id: north, source: {short_clip}}}\n  - {{id: south, source: sotuh.mp4}}\n")
    assert main(["run", str(config), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"mtmc run: error: {config}: camera south: source not found: {tmp_path / 'sotuh.mp4'} "
        "(a video file or image folder; relative paths are read from the config's folder)"
    )
    assert not (tmp_path / "runs").exists()


def test_unknown_tracker_is_one_line(short_clip, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("tracker:\n  name: sort-of\n")
    assert main(["track", str(short_clip), "-o", str(tmp_path / "t.txt"), "--config", str(config), "-q"]) == 2
    assert "valid names are" in capsys.readouterr().err


def test_unreachable_stream_ends_with_one_clear_error(tmp_path, capsys, caplog):
    # Port 9 on loopback refuses connections: the camera retries, then gives up.
    code = main(["track", "rtsp://127.0.0.1:9/none", "-o", str(tmp_path / "t.txt"), "--give-up", "1", "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "mtmc track: error: stream rtsp://127.0.0.1:9/none unreachable" in err
    assert "reconnect attempt 1" in caplog.text
