"""End-to-end FPS of one camera: video -> detector (YOLOX-Nano) -> (MobileNetV2 embedder) -> tracker.

Runs ``/work/shared/data/videos/street-a.mp4`` (640x352) on CPU with a tracker, once without
appearance and once per embedder backend (onnxruntime, mtmc's default; torch, the peer), and
prints detection, embedding and tracking ms/frame, end-to-end FPS (decode included) and the
ratios to the run without appearance. Only the detections the tracker can use with appearance
(score >= its ``high_score``: the cascade's candidates) are embedded, in one batch per frame; the
others get zero rows, which the tracker never compares (low-score and IoU stages are motion-only).

    uv run python benchmarks/camera_fps.py                       # deepsort-strong, all of the video
    uv run python benchmarks/camera_fps.py --tracker deepsort-byte --frames 300 --threads 2
    uv run python benchmarks/camera_fps.py --detector openvino --weights vehicle-detection-0202
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mtmc.detect import build_detector
from mtmc.reid import build_embedder
from mtmc.sources import open_source
from mtmc.track import build_tracker

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "street-a.mp4"


def run(
    video: Path,
    tracker_name: str,
    backend: str | None,
    frames: int,
    threads: int,
    input_size: tuple[int, int],
    detector_options: dict[str, str],
) -> dict[str, float]:
    source = open_source(video)
    detector = build_detector(**detector_options, score_threshold=0.1, threads=threads)
    tracker = build_tracker(tracker_name, fps=source.output_fps)
    embed_from = tracker.high_score  # the appearance cascade's candidates
    embedder = None
    if backend is not None:
        embedder = build_embedder(
            "mobilenetv2-imagenet", backend=backend, threads=threads, input_size=input_size, batch_size=64
        )
    seconds = {"detect": 0.0, "embed": 0.0, "track": 0.0}
    count, boxes, started = 0, 0, time.perf_counter()
    for frame in source:
        if count == frames:
            break
        t0 = time.perf_counter()
        dets = detector.detect(frame.image)
        t1 = time.perf_counter()
        embeddings = None
        if embedder is not None:
            use = dets[:, 4] >= embed_from
            embeddings = np.zeros((len(dets), embedder.dim), np.float32)
            if use.any():
                embeddings[use] = embedder.embed(frame.image, dets[use, :4])
            boxes += int(use.sum())
        t2 = time.perf_counter()
        tracker.update(dets, embeddings, frame.index)
        t3 = time.perf_counter()
        for stage, spent in zip(seconds, (t1 - t0, t2 - t1, t3 - t2)):
            seconds[stage] += spent
        count += 1
    wall = time.perf_counter() - started
    result = {f"{stage}_ms": 1e3 * spent / count for stage, spent in seconds.items()}
    result.update(fps=count / wall, frames=count, boxes_per_frame=boxes / count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--tracker", default="deepsort-strong")
    parser.add_argument("--frames", type=int, default=-1, help="-1: the whole video")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--input-size", type=int, nargs=2, default=(128, 128), metavar=("H", "W"))
    parser.add_argument("--detector", default="onnx-yolox", help="a detector by name")
    parser.add_argument("--weights", help="the detector's weights (default: its own)")
    parser.add_argument(
        "--backends", nargs="*", default=["onnx", "torch"], choices=["onnx", "torch"], help="embedder runs"
    )
    args = parser.parse_args()
    detector = {"name": args.detector, **({"weights": args.weights} if args.weights else {})}
    size = tuple(args.input_size)
    runs = {"no appearance": None}
    for backend in args.backends:
        peer = " (peer)" if backend == "torch" else ""
        runs[f"+ embedder {backend} {size[0]}x{size[1]}{peer}"] = backend
    results = {
        label: run(args.video, args.tracker, backend, args.frames, args.threads, size, detector)
        for label, backend in runs.items()
    }
    base = results["no appearance"]
    print(
        f"{args.video.name}, {' '.join(detector.values())}, {args.tracker}, {args.threads} threads, "
        f"{base['frames']:.0f} frames"
    )
    header = f"{'run':34s} | {'detect':>7s} {'embed':>7s} {'track':>7s} ms/frame | {'boxes':>5s} | {'FPS':>6s} | x no-appearance"
    print(header)
    print("-" * len(header))
    for label, r in results.items():
        print(
            f"{label:34s} | {r['detect_ms']:7.1f} {r['embed_ms']:7.1f} {r['track_ms']:7.2f}          | "
            f"{r['boxes_per_frame']:5.1f} | {r['fps']:6.1f} | {r['fps'] / base['fps']:.2f}"
        )
    print("boxes: embedded boxes per frame (score >= the tracker's high_score); FPS includes decoding.")


if __name__ == "__main__":
    main()
