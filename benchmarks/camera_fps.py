"""End-to-end FPS of one camera with the shipped default parts, against the old ones in the same run.

Runs ``/work/shared/data/videos/street-a.mp4`` (640x352) on CPU through what a worker does per frame
(:mod:`mtmc.camera`): detector -> embedder (only the boxes the tracker's appearance stage can use,
one batch per frame) -> tracker -> optional vehicle attributes (only the crops of confirmed tracks,
each track every ``--attributes-every`` frames). Runs:

- ``old parts``: YOLOX-Nano + ImageNet MobileNetV2 features (the defaults before issue 16), the peer;
- ``defaults, no appearance``: the default detector and tracker, motion only;
- ``defaults``: + the default embedder (``MtmcConfig``'s: GLAMOR trained on real vehicles);
- ``defaults + attributes``: + ``openvino-vehicle-attributes`` (off by default);
- ``--flip``: ``defaults + test-time flip``, the embedder's ``flip: true`` (twice its work).

It prints detection, embedding, tracking and attribute ms/frame, FPS (decoding included) and the
ratio to the old parts. Machines here are noisy: compare the ratios, run it on idle cores.

    uv run python benchmarks/camera_fps.py                          # all of street-a, 2 threads
    uv run python benchmarks/camera_fps.py --frames 300 --tracker deepsort-bot --attributes-every 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from mtmc.camera import attributes_for_matcher, embed_for_tracker
from mtmc.config import MtmcConfig, PartConfig
from mtmc.detect import build_detector
from mtmc.reid import build_embedder
from mtmc.reid.attributes import build_attributes
from mtmc.sources import open_source
from mtmc.track import build_tracker

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "street-a.mp4"
STAGES = ("detect", "embed", "track", "attributes")


def run(
    video: Path,
    detector: PartConfig,
    tracker_name: str,
    embedder: PartConfig | None,
    attributes_every: int | None,
    frames: int,
    threads: int,
) -> dict[str, float]:
    source = open_source(video)
    detect = build_detector(detector.name, **{"threads": threads, **detector.options()})
    tracker = build_tracker(tracker_name, fps=source.output_fps)
    embed = None if embedder is None else build_embedder(embedder.name, **{"threads": threads, **embedder.options()})
    classifier: Any = None if attributes_every is None else build_attributes(threads=threads)
    seconds = dict.fromkeys(STAGES, 0.0)
    count, started = 0, time.perf_counter()
    for frame in source:
        if count == frames:
            break
        t0 = time.perf_counter()
        dets = detect.detect(frame.image)
        t1 = time.perf_counter()
        embeddings = None if embed is None else embed_for_tracker(embed, tracker, frame.image, dets)
        t2 = time.perf_counter()
        tracks = tracker.update(dets, embeddings, frame.index)
        t3 = time.perf_counter()
        if classifier is not None:
            attributes_for_matcher(classifier, frame.image, dets, tracks, frame.index, attributes_every)
        t4 = time.perf_counter()
        for stage, spent in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            seconds[stage] += spent
        count += 1
    wall = time.perf_counter() - started
    result = {f"{stage}_ms": 1e3 * spent / count for stage, spent in seconds.items()}
    result.update(fps=count / wall, frames=count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = MtmcConfig()
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--tracker", default=defaults.tracker.name)
    parser.add_argument("--frames", type=int, default=-1, help="-1: the whole video")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--attributes-every", type=int, default=1, metavar="N", help="classify each track every N frames")
    parser.add_argument("--flip", action="store_true", help="also the defaults with test-time flip (embedder flip: true)")
    args = parser.parse_args()
    old_detector = PartConfig(name="onnx-yolox")
    old_embedder = PartConfig(name="mobilenetv2-imagenet")
    runs = {
        "old parts (peer)": (old_detector, old_embedder, None),
        "defaults, no appearance": (defaults.detector, None, None),
        "defaults": (defaults.detector, defaults.embedder, None),
        f"defaults + attributes every {args.attributes_every}": (
            defaults.detector, defaults.embedder, args.attributes_every
        ),
    }
    if args.flip:
        flipped = PartConfig.model_validate({**defaults.embedder.model_dump(), "flip": True})
        runs["defaults + test-time flip"] = (defaults.detector, flipped, None)
    results = {
        label: run(args.video, detector, args.tracker, embedder, every, args.frames, args.threads)
        for label, (detector, embedder, every) in runs.items()
    }
    base = results["old parts (peer)"]
    print(f"{args.video.name}, {args.tracker}, {args.threads} threads, {base['frames']:.0f} frames")
    print(f"defaults: detector {defaults.detector.options() | {'name': defaults.detector.name}}, "
          f"embedder {defaults.embedder.options() | {'name': defaults.embedder.name}}")
    header = (
        f"{'run':32s} | {'detect':>7s} {'embed':>7s} {'track':>6s} {'attrs':>6s} ms/frame | "
        f"{'FPS':>6s} | x old parts"
    )
    print(header)
    print("-" * len(header))
    for label, r in results.items():
        print(
            f"{label:32s} | {r['detect_ms']:7.1f} {r['embed_ms']:7.1f} {r['track_ms']:6.2f} "
            f"{r['attributes_ms']:6.1f}          | {r['fps']:6.1f} | {r['fps'] / base['fps']:.2f}"
        )
    print("FPS includes decoding. Only the tracker's appearance candidates are embedded.")


if __name__ == "__main__":
    main()
