"""What embedding less costs the tracker: Deep SORT's ``reembed_seconds`` against every box embedded (issue 33).

The default tracker (``deepsort-bot``) embeds a confident detection only when its association is in
doubt (new, crowded, a lost or tentative track) or when its track's last feature is
``reembed_seconds`` old; a clear continuation inherits its track's feature. This runs the tracker
with the default detector and embedder on cached boxes and features (each video detected and
embedded once, every confident box, under ``benchmarks/.cache/embed-less/``) in each variant:

- ``motion only``: no embeddings;
- ``all boxes``: every confident box embedded on every frame (``reembed_seconds: null``);
- ``shipped``: the preset as shipped; ``--set KEY=VALUE`` adds a variant with one option changed.

Scored against ground truth on the rendered SynthCity small cameras (simulated vehicles, MOT IDF1 /
MOTA / ID switches at IoU 0.5) and, on the real clips (``detrac-intersection``, ``street-a``,
``street-b``: no labels), as agreement with ``all boxes`` (IDF1 of one against the other). Each row
gives the crops embedded per frame, what the embedder's time scales with.

    .venv/bin/python benchmarks/embed_less.py                       # ~5 min the first time (detect, embed)
    .venv/bin/python benchmarks/embed_less.py --set crowd_iou=0.3 --set reembed_seconds=1.0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mtmc.config import MtmcConfig  # noqa: E402
from mtmc.formats import read_mot  # noqa: E402
from mtmc.metrics.evaluate import evaluate_sequence  # noqa: E402
from mtmc.sources import open_source  # noqa: E402
from mtmc.track import build_tracker  # noqa: E402
from mtmc.types import TrackRows  # noqa: E402

CACHE = ROOT / "benchmarks" / ".cache" / "embed-less"
VIDEOS = ROOT.parent / "shared" / "data" / "videos"
SYNTHCITY = ROOT / "benchmarks" / ".cache" / "synthcity-small"
TRACKER = "deepsort-bot"


def cached_boxes(video: Path, name: str, threads: int) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """Per frame: the default detector's boxes and the default embedder's features of the confident
    ones (zeros elsewhere), and the stream's fps; computed once per video."""
    path = CACHE / f"{name}.npz"
    if path.is_file():
        data = np.load(path)
        count = int(data["count"])
        return (
            [data[f"d{i}"] for i in range(count)],
            [data[f"e{i}"] for i in range(count)],
            float(data["fps"]),
        )
    from mtmc.detect import build_detector
    from mtmc.reid import build_embedder

    config = MtmcConfig()
    detector = build_detector(config.detector.name, **{"threads": threads, **config.detector.options()})
    embedder = build_embedder(config.embedder.name, **{"threads": threads, **config.embedder.options()})
    high = build_tracker(TRACKER, fps=30.0).high_score
    source = open_source(video)
    detections, features = [], []
    for frame in source:
        boxes = detector.detect(frame.image)
        rows = np.zeros((len(boxes), embedder.dim), np.float32)
        confident = boxes[:, 4] >= high
        if confident.any():
            rows[confident] = embedder.embed(frame.image, boxes[confident, :4])
        detections.append(boxes)
        features.append(rows)
    print(f"{name}: {len(detections)} frames detected and embedded (cached in {path})", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    arrays = {f"d{i}": d for i, d in enumerate(detections)} | {f"e{i}": e for i, e in enumerate(features)}
    np.savez_compressed(path, count=len(detections), fps=source.output_fps, **arrays)
    return detections, features, source.output_fps


def track(
    detections: list[np.ndarray], features: list[np.ndarray] | None, fps: float, options: dict[str, Any]
) -> tuple[TrackRows, float]:
    """The tracker's rows and the crops it had embedded per frame (a worker embeds only those)."""
    tracker = build_tracker(TRACKER, fps=fps, **options)
    frames, rows, crops = [], [], 0
    for index, boxes in enumerate(detections, start=1):
        embeddings = None
        if features is not None:
            wanted = tracker.embedding_wanted(boxes)
            embeddings = np.where(wanted[:, None], features[index - 1], 0.0)
            crops += int(wanted.sum())
        out = tracker.update(boxes, embeddings, index)
        frames.append(np.full(len(out), index))
        rows.append(out)
    out = np.concatenate(rows)
    xywh = np.column_stack([out[:, :2], out[:, 2:4] - out[:, :2]])
    result = TrackRows(frame=np.concatenate(frames), id=out[:, 4], xywh=xywh, score=out[:, 5])
    return result, crops / len(detections)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a variant of the shipped preset with this tracker option (YAML value)",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()  # fmt: skip
    variants: dict[str, tuple[bool, dict[str, Any]]] = {
        "motion only": (False, {}),
        "all boxes": (True, {"reembed_seconds": None}),
        "shipped": (True, {}),
    }
    for item in args.set:
        key, _, value = item.partition("=")
        variants[f"{key}={value}"] = (True, {key: yaml.safe_load(value)})
    sequences: list[tuple[str, Path, Path | None]] = [
        (f"synthcity {cam.name}", cam / "vdo.mp4", cam / "gt" / "gt.txt")
        for cam in sorted(SYNTHCITY.glob("c0*"))
    ] + [(video.stem, video, None) for video in sorted(VIDEOS.glob("*.mp4"))]
    if not any(gt for _, _, gt in sequences):
        print(f"no SynthCity cameras under {SYNTHCITY}: run benchmarks/synthcity_e2e.py once to render them")
    print(f"{TRACKER}, default detector and embedder; IDF1 / MOTA / IDsw against ground truth (SynthCity), "
          f"or IDF1 against 'all boxes' (real clips); crops: boxes embedded per frame")  # fmt: skip
    header = f"{'sequence':22s} | " + " | ".join(f"{label:^27s}" for label in variants)
    print(header)
    print("-" * len(header))
    totals: dict[str, list[float]] = {label: [] for label in variants}
    for name, video, gt_path in sequences:
        detections, features, fps = cached_boxes(video, name.replace(" ", "-"), args.threads)
        results = {
            label: track(detections, features if appearance else None, fps, options)
            for label, (appearance, options) in variants.items()
        }
        cells = []
        for label, (rows, crops) in results.items():
            if gt_path is not None:
                m = evaluate_sequence(read_mot(gt_path, drop_zero_conf=True), rows, 0.5).metrics()
                cells.append(f"{m['idf1']:.3f} {m['mota']:.3f} {m['num_switches']:3d} {crops:5.1f} cr")
                totals[label].append(m["idf1"])
            elif label == "all boxes":
                cells.append(f"{'reference':>17s} {crops:5.1f} cr")
            else:
                m = evaluate_sequence(results["all boxes"][0], rows, 0.5).metrics()
                cells.append(f"{m['idf1']:.3f} agree      {crops:5.1f} cr")
        print(f"{name:22s} | " + " | ".join(f"{cell:27s}" for cell in cells))
    if any(totals.values()):
        print(
            "SynthCity mean IDF1: "
            + ", ".join(f"{label} {np.mean(v):.3f}" for label, v in totals.items() if v)
        )


if __name__ == "__main__":
    main()
