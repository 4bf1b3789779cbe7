"""Realism check of SynthCity: does YOLOX-Nano find the rendered vehicles as it finds real ones?

Renders a scenario (default ``configs/synthcity-small.yaml``, kept under benchmarks/.cache unless
``--fresh``), runs the detector on every frame of every camera and prints, per camera and overall,
the recall at IoU 0.5 of ground-truth vehicles at least 30 px tall and less than half occluded
(visibility >= 0.5), with precision over all detections for reference. Goal: recall >= 0.8.
Also writes one frame per camera with the ground truth drawn (green: counted, grey: too small or
occluded) as PNG next to the scenario.

    uv run python benchmarks/synthcity_detect.py
    uv run python benchmarks/synthcity_detect.py --config configs/synthcity-city.yaml --stride 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"


def matched(gt: np.ndarray, det: np.ndarray, iou: float) -> np.ndarray:
    """Which GT boxes a detection covers at IoU >= ``iou`` (one-to-one, Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    from mtmc.track.matching import iou_matrix

    hit = np.zeros(len(gt), bool)
    if len(gt) == 0 or len(det) == 0:
        return hit
    overlap = iou_matrix(gt, det)
    rows, cols = linear_sum_assignment(-overlap)
    good = overlap[rows, cols] >= iou
    hit[rows[good]] = True
    return hit


def rendered(config: str, out: Path | None = None, fresh: bool = False) -> Path:
    """The scenario folder of ``config`` (default benchmarks/.cache/<config name>), rendered if missing."""
    out = out or CACHE / Path(config).stem
    if fresh or not (out / "ground_truth.txt").is_file():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mtmc.cli", "simulate", config, "-o", str(out)], check=True)
        print(f"rendered in {time.perf_counter() - start:.1f} s")
    return out


def cameras(scenario: Path) -> list[Path]:
    return sorted(p for p in scenario.iterdir() if p.is_dir() and (p / "vdo.mp4").is_file())


def frames_with_truth(
    folder: Path, stride: int, min_height: float, min_visibility: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every ``stride``-th frame of a camera with its GT boxes (x1, y1, x2, y2) and which of them
    count (tall and visible enough)."""
    from mtmc.sources import open_source

    gt = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
    for frame in open_source(folder / "vdo.mp4"):
        if (frame.index - 1) % stride:
            continue
        rows = gt[gt[:, 0] == frame.index]
        boxes = np.column_stack([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]) if len(rows) else np.zeros((0, 4))
        yield frame.image, boxes, (rows[:, 5] >= min_height) & (rows[:, 8] >= min_visibility)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "synthcity-small.yaml"))
    parser.add_argument("--out", help="scenario folder (default: benchmarks/.cache/<config name>)")
    parser.add_argument("--fresh", action="store_true", help="render again even if the scenario exists")
    parser.add_argument("--stride", type=int, default=1, help="detect every n-th frame")
    parser.add_argument("--min-height", type=float, default=30.0)
    parser.add_argument("--min-visibility", type=float, default=0.5)
    parser.add_argument("--score", type=float, default=0.3, help="detector score threshold")
    args = parser.parse_args()

    out = rendered(args.config, Path(args.out) if args.out else None, args.fresh)

    from mtmc.detect import DETECTORS

    detector = DETECTORS.build("onnx-yolox", score_threshold=args.score)
    totals = {"counted": 0, "found": 0, "detections": 0, "true_detections": 0}
    per_camera = {}
    detect_ms = []
    for folder in cameras(out):
        counted = found = detections = true_detections = 0
        preview = None
        for image, boxes, counts in frames_with_truth(folder, args.stride, args.min_height, args.min_visibility):
            t = time.perf_counter()
            det = detector.detect(image)[:, :4]
            detect_ms.append(1000 * (time.perf_counter() - t))
            hit = matched(boxes, det, 0.5)
            counted += int(counts.sum())
            found += int((hit & counts).sum())
            detections += len(det)
            true_detections += int(matched(det, boxes, 0.5).sum())  # any GT vehicle, any size
            if preview is None and counts.sum() >= 2:
                preview = image.copy()
                for box, ok_box, h in zip(boxes, counts, hit):
                    colour = (0, 200, 0) if ok_box else (160, 160, 160)
                    cv2.rectangle(preview, tuple(map(int, box[:2])), tuple(map(int, box[2:])), colour, 2)
                for d in det:
                    cv2.rectangle(preview, tuple(map(int, d[:2])), tuple(map(int, d[2:])), (0, 0, 255), 1)
        if preview is not None:
            cv2.imwrite(str(out / f"{folder.name}-gt.png"), preview)
        per_camera[folder.name] = {
            "recall": found / max(counted, 1),
            "counted": counted,
            "precision": true_detections / max(detections, 1),
        }
        for key, value in zip(totals, (counted, found, detections, true_detections)):
            totals[key] += value
    print(f"{'camera':8} {'recall':>7} {'counted':>8} {'precision':>9}")
    for camera, r in per_camera.items():
        print(f"{camera:8} {r['recall']:7.3f} {r['counted']:8d} {r['precision']:9.3f}")
    recall = totals["found"] / max(totals["counted"], 1)
    precision = totals["true_detections"] / max(totals["detections"], 1)
    print(f"{'overall':8} {recall:7.3f} {totals['counted']:8d} {precision:9.3f}")
    print(
        f"YOLOX-Nano recall at IoU 0.5 on vehicles >= {args.min_height:.0f} px tall, visibility >= "
        f"{args.min_visibility}: {recall:.3f} (goal >= 0.8); detector {np.mean(detect_ms):.1f} ms/frame"
    )
    print(f"previews: {', '.join(str(p) for p in sorted(out.glob('c*-gt.png')))}")
    (out / "detect-recall.json").write_text(json.dumps({"overall": recall, "precision": precision, **per_camera}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
