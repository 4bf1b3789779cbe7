"""Small builders for hand-made tracking cases."""

import numpy as np

from mtmc.types import TrackRows


def rows(*boxes, camera=None) -> TrackRows:
    """``rows((frame, id, x, y, w, h), ...)``; optional ``camera`` for every row."""
    table = np.array(boxes, dtype=float).reshape(-1, 6)
    cam = None if camera is None else np.full(len(table), camera)
    return TrackRows(frame=table[:, 0], id=table[:, 1], xywh=table[:, 2:6], camera=cam)


def track(track_id, frames, x=0.0, y=0.0, w=10.0, h=10.0, camera=None) -> TrackRows:
    """One track with the same box in each of ``frames``."""
    return rows(*[(f, track_id, x, y, w, h) for f in frames], camera=camera)


def short_clips(data_dir, folder, frames: int) -> dict:
    """The first ``frames`` frames of the shared street-a and street-b videos as mp4 files in
    ``folder``: two real cameras short enough for tests that run the whole system."""
    import cv2

    out = {}
    for name in ("street-a", "street-b"):
        capture = cv2.VideoCapture(str(data_dir / "videos" / f"{name}.mp4"))
        writer = None
        for _ in range(frames):
            ok, frame = capture.read()
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(folder / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 24, size)
            writer.write(frame)
        writer.release()
        out[name] = folder / f"{name}.mp4"
    return out


def calibrated_scene(**fields):
    """A matcher Scene whose embedder is calibrated as a good re-id model would be: cosine distances
    of one vehicle around 0.1, of two around 0.6 (tests' features are made to that scale)."""
    from mtmc.match.distances import Scene
    from mtmc.match.evidence import AppearanceCalibration, DistanceSample

    calibration = AppearanceCalibration(DistanceSample(0.1, 0.08, 100), DistanceSample(0.6, 0.2, 1000), "tests")
    return Scene(appearance=calibration, **fields)


def synthetic_embedder(dim: int) -> dict:
    """A run config's ``embedder:`` for tests that hand the matcher made-up ``dim``-d features: the
    matcher checks every feature's length against the run's embedder (no model is loaded). Its
    calibration is the default embedder's, which the matcher read before it checked lengths."""
    from mtmc.config import MtmcConfig
    from mtmc.weights import load_manifest

    default = MtmcConfig().embedder
    calibration = load_manifest()[default.options()["weights"]].calibration
    return {"name": "onnx", "weights": "synthetic-features.onnx", "dim": dim, "calibration": calibration}


def journal_size(config) -> int:
    """Bytes in the matcher's journal of the run whose config is ``config`` (output dir ``out`` beside it)."""
    journal = config.parent / "out" / "matcher.journal"
    return journal.stat().st_size if journal.is_file() else 0


def wait_for(condition, timeout: float = 120) -> None:
    """Poll ``condition`` until it holds; TimeoutError after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the run never got there")
        time.sleep(0.05)


def tiny_video(path, frames: int = 3):
    """A real, decodable video of ``frames`` grey 64x48 frames: a camera source that passes `mtmc
    run`'s check (its first frame decodes) for tests about what comes after it."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for k in range(frames):
        writer.write(np.full((48, 64, 3), 40 * k, np.uint8))
    writer.release()
    return path
