"""End-to-end FPS of one camera with the shipped default parts, against the old ones in the same run.

Runs a video (default ``/work/shared/data/videos/street-a.mp4``, 640x352; ``--video
.../detrac-intersection.mp4`` is the busy 960x540 junction) on CPU through what a worker does per
frame (:mod:`mtmc.camera`): detector -> embedder (the boxes the tracker's appearance stages use, one
batch per frame) -> tracker -> optional vehicle attributes (only the crops of confirmed tracks, each
track every ``--attributes-every`` frames). Runs:

- ``old parts``: YOLOX-Nano + ImageNet MobileNetV2 features (the defaults before issue 16), the peer;
- ``defaults, no appearance``: the default detector and tracker, motion only;
- ``defaults, every box embedded``: + the default embedder on every confident box of every frame
  (the tracker's ``reembed_seconds: null``, as before issue 33);
- ``defaults``: the default embedder as shipped: clear continuations of fresh tracks inherit their
  track's feature (``reembed_seconds``), the rest is embedded;
- ``defaults + attributes``: + ``openvino-vehicle-attributes`` (off by default);
- ``defaults, detector every N`` for each ``--every N``: detect and embed on every N-th frame only;
- ``--flip``: ``defaults + test-time flip``, the embedder's ``flip: true`` (twice its work);
- ``--weights W ...``: ``defaults, embedder W`` for each re-id weights name or file (a candidate
  default, e.g. a larger input, against the shipped one).

It prints detection, embedding, tracking and attribute ms/frame, crops embedded per frame, FPS
(decoding included) and the ratios to the old parts and to the shipped defaults. Machines here are
noisy: compare the ratios, run it on idle cores.

    uv run python benchmarks/camera_fps.py                          # all of street-a, 2 threads
    uv run python benchmarks/camera_fps.py --video ../shared/data/videos/detrac-intersection.mp4 --every 2 3
    uv run python benchmarks/camera_fps.py --frames 300 --tracker deepsort --attributes-every 5
    uv run python benchmarks/camera_fps.py --weights runs/my-model-fp16.onnx
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.camera import attributes_for_matcher, track_frame
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
    every: int = 1,
    tracker_options: dict[str, Any] | None = None,
) -> dict[str, float]:
    source = open_source(video)
    detect = build_detector(detector.name, **{"threads": threads, **detector.options()})
    tracker = build_tracker(tracker_name, fps=source.output_fps, **(tracker_options or {}))
    embed = None if embedder is None else build_embedder(embedder.name, **{"threads": threads, **embedder.options()})
    classifier: Any = None if attributes_every is None else build_attributes(threads=threads)
    seconds = dict.fromkeys(STAGES, 0.0)
    count, crops, started = 0, 0, time.perf_counter()
    for frame in source:
        if count == frames:
            break
        dets, embeddings, tracks = track_frame(frame, detect, embed, tracker, every, seconds)
        if embeddings is not None:
            crops += int(np.any(embeddings, axis=1).sum())
        t0 = time.perf_counter()
        if classifier is not None:
            attributes_for_matcher(classifier, frame.image, dets, tracks, frame.index, attributes_every)
        seconds["attributes"] += time.perf_counter() - t0
        count += 1
    wall = time.perf_counter() - started
    result = {f"{stage}_ms": 1e3 * spent / count for stage, spent in seconds.items()}
    result.update(fps=count / wall, frames=count, crops=crops / count)
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
    parser.add_argument("--every", type=int, nargs="*", default=[], metavar="N",
                        help="also the defaults with the detector (and embedder) on every N-th frame only")
    parser.add_argument("--weights", nargs="*", default=[], metavar="W",
                        help="also the defaults with these re-id weights (names or files) as the embedder")
    args = parser.parse_args()
    old_detector = PartConfig(name="onnx-yolox")
    old_embedder = PartConfig(name="mobilenetv2-imagenet")
    every_box = {"reembed_seconds": None}
    # label: (detector, embedder, attributes every, detector every, tracker options)
    runs: dict[str, tuple[PartConfig, PartConfig | None, int | None, int, dict[str, Any]]] = {
        "old parts (peer)": (old_detector, old_embedder, None, 1, every_box),
        "defaults, no appearance": (defaults.detector, None, None, 1, {}),
        "defaults, every box embedded": (defaults.detector, defaults.embedder, None, 1, every_box),
        "defaults": (defaults.detector, defaults.embedder, None, 1, {}),
        f"defaults + attributes every {args.attributes_every}": (
            defaults.detector, defaults.embedder, args.attributes_every, 1, {}
        ),
    }
    for n in args.every:
        runs[f"defaults, detector every {n}"] = (defaults.detector, defaults.embedder, None, n, {})
    if args.flip:
        flipped = PartConfig.model_validate({**defaults.embedder.model_dump(), "flip": True})
        runs["defaults + test-time flip"] = (defaults.detector, flipped, None, 1, {})
    for weights in args.weights:
        candidate = PartConfig.model_validate({**defaults.embedder.model_dump(), "weights": weights})
        runs[f"defaults, embedder {Path(weights).name}"[:32]] = (defaults.detector, candidate, None, 1, {})
    results = {
        label: run(args.video, detector, args.tracker, embedder, attributes, args.frames, args.threads, n, options)
        for label, (detector, embedder, attributes, n, options) in runs.items()
    }
    base, shipped = results["old parts (peer)"], results["defaults"]
    print(f"{args.video.name}, {args.tracker}, {args.threads} threads, {base['frames']:.0f} frames")
    print(f"defaults: detector {defaults.detector.options() | {'name': defaults.detector.name}}, "
          f"embedder {defaults.embedder.options() | {'name': defaults.embedder.name}}")
    header = (
        f"{'run':32s} | {'detect':>7s} {'embed':>7s} {'track':>6s} {'attrs':>6s} ms/frame | "
        f"{'crops':>5s} | {'FPS':>6s} | x old parts | x defaults"
    )
    print(header)
    print("-" * len(header))
    for label, r in results.items():
        print(
            f"{label:32s} | {r['detect_ms']:7.1f} {r['embed_ms']:7.1f} {r['track_ms']:6.2f} "
            f"{r['attributes_ms']:6.1f}          | {r['crops']:5.1f} | {r['fps']:6.1f} | "
            f"{r['fps'] / base['fps']:11.2f} | {r['fps'] / shipped['fps']:.2f}"
        )
    print("FPS includes decoding; crops: boxes embedded per frame. ms are per frame of the video, skipped ones included.")


if __name__ == "__main__":
    main()
