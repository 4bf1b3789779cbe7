"""MobileNetV2 (ImageNet) embeddings of the cached PETS09-S2L1 detections, computed once and cached.

One ``.npz`` per embedder input size under ``benchmarks/.cache/``, rows aligned with the cached
detections (``track_detections.py``), plus the embedder's time per frame (crop + resize +
inference + L2 norm, all cached boxes of the frame in one batch).

Run alone (``uv run python benchmarks/track_embeddings.py``) to fill the cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from track_detections import CACHE_FILE, PETS09_DIR, pets09_detections, save_per_frame


@dataclass(frozen=True)
class CachedEmbeddings:
    per_frame: list[np.ndarray]  # (N, 1280) float32, rows of the frame's cached detections
    seconds_per_frame: float
    input_size: tuple[int, int]


def cache_file(input_size: tuple[int, int]):
    return CACHE_FILE.with_name(f"{CACHE_FILE.stem}-mobilenetv2-{input_size[0]}x{input_size[1]}.npz")


def pets09_embeddings(input_size: tuple[int, int] = (128, 128)) -> CachedEmbeddings:
    path = cache_file(input_size)
    if not path.exists():
        _compute(input_size)
    data = np.load(path)
    starts = data["starts"]
    features = data["features"]
    per_frame = [features[a:b] for a, b in zip(starts[:-1], starts[1:])]
    return CachedEmbeddings(per_frame, float(data["seconds_per_frame"]), input_size)


def _compute(input_size: tuple[int, int]) -> None:
    from mtmc.reid import build_embedder
    from mtmc.sources import open_source

    detections = pets09_detections()
    embedder = build_embedder("mobilenetv2-imagenet", threads=2, input_size=input_size, batch_size=64)
    per_frame, seconds = [], 0.0
    for frame, dets in zip(open_source(PETS09_DIR), detections.per_frame):
        start = time.perf_counter()
        per_frame.append(embedder.embed(frame.image, dets[:, :4]))
        seconds += time.perf_counter() - start
    save_per_frame(cache_file(input_size), "features", per_frame, seconds)


if __name__ == "__main__":
    for size in ((128, 128), (128, 64)):
        cached = pets09_embeddings(size)
        print(f"{size}: {cached.seconds_per_frame * 1e3:.1f} ms/frame")
