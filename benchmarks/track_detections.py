"""YOLOX-Nano ``person`` detections on every PETS09-S2L1 frame, computed once and cached.

All trackers in ``track_pets09.py`` run on exactly these detections. The cache keeps boxes down
to score 0.1 so that trackers with a low-score association stage (ByteTrack and kin) see them;
trackers without one get the detector's default cut (0.3). The cache is an ``.npz`` under
``benchmarks/.cache/`` named by the detector settings and a hash of this file.

Run alone (``uv run python benchmarks/track_detections.py``) to fill the cache.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
PETS09_DIR = BENCH_DIR.parent.parent / "shared" / "data" / "pets09-s2l1"
CACHE_LOW_SCORE = 0.1
DETECTOR_DEFAULT_SCORE = 0.3
_SOURCE_TAG = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]
CACHE_FILE = BENCH_DIR / ".cache" / f"pets09-yolox-nano-person-s{CACHE_LOW_SCORE:g}-{_SOURCE_TAG}.npz"


@dataclass(frozen=True)
class CachedDetections:
    """Per-frame ``(N, 6) float32 [x1, y1, x2, y2, score, cls]`` for frames 1..len(per_frame)."""

    per_frame: list[np.ndarray]
    seconds_per_frame: float  # detector time (letterbox + inference + NMS), mean over frames
    fps: float
    image_size: tuple[int, int]  # width, height

    def above(self, min_score: float) -> list[np.ndarray]:
        return [dets[dets[:, 4] >= min_score] for dets in self.per_frame]


def save_per_frame(
    path: Path, name: str, per_frame: list[np.ndarray], seconds: float, **extra: object
) -> None:
    """Frames' arrays concatenated under ``name`` with their start offsets, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        **{name: np.concatenate(per_frame).astype(np.float32)},
        starts=np.concatenate([[0], np.cumsum([len(a) for a in per_frame])]),
        seconds_per_frame=seconds / len(per_frame),
        **extra,
    )
    tmp.replace(path)


def pets09_detections() -> CachedDetections:
    if not CACHE_FILE.exists():
        _compute()
    data = np.load(CACHE_FILE)
    starts = data["starts"]
    boxes = data["boxes"]
    per_frame = [boxes[a:b] for a, b in zip(starts[:-1], starts[1:])]
    return CachedDetections(
        per_frame, float(data["seconds_per_frame"]), float(data["fps"]), tuple(data["image_size"].tolist())
    )


def _compute() -> None:
    from mtmc.detect import build_detector
    from mtmc.sources import open_source

    detector = build_detector("onnx-yolox", classes=["person"], score_threshold=CACHE_LOW_SCORE)
    source = open_source(PETS09_DIR)
    per_frame, seconds, size = [], 0.0, (0, 0)
    for frame in source:
        start = time.perf_counter()
        per_frame.append(detector.detect(frame.image))
        seconds += time.perf_counter() - start
        size = (frame.image.shape[1], frame.image.shape[0])
    save_per_frame(CACHE_FILE, "boxes", per_frame, seconds, fps=source.fps, image_size=np.array(size))


if __name__ == "__main__":
    cached = pets09_detections()
    total = sum(len(d) for d in cached.per_frame)
    print(
        f"{len(cached.per_frame)} frames, {total} boxes, detector {cached.seconds_per_frame * 1e3:.1f} ms/frame"
    )
