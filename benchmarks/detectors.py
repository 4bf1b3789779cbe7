"""Every detector on the same inputs: accuracy on real and rendered vehicles, speed on 2 threads.

Detectors: YOLOX-Nano at 416 (``onnx-yolox``) and the Open Model Zoo SSDs through ``openvino``
(vehicle-detection-0202, the default, also reshaped to the frame's aspect and tiled 2x2,
vehicle-detection-adas-0002, person-vehicle-bike-detection-crossroad-0078), all class-agnostic
over their vehicle classes. Each reports, at IoU 0.5:

* UA-DETRAC MVI_20011 (the 9 frames with images, 960x540, the official XML): AP, recall /
  precision at score >= ``--score``, the best F1 over thresholds and its threshold; recall of
  small vehicles (< 40 px tall) apart. As the
  UA-DETRAC protocol does, a detection mostly (> 50 % of its area) inside an ignored region is
  neither a true nor a false positive.
* SynthCity (``configs/synthcity-small.yaml``, rendered once under benchmarks/.cache): the same on
  vehicles >= 30 px tall and >= 50 % visible; a detection on a smaller or hidden vehicle is not
  counted. SynthCity's sprites were cut from the footage by YOLOX-Nano, which favours YOLOX here.
* ms/frame on ``--threads`` threads on frames of detrac-intersection.mp4 (960x540) and
  street-a.mp4 (640x352), the detectors taking turns on each frame so that load from other
  processes falls on all alike; ratios to YOLOX-Nano.

Writes the numbers as JSON (``--json``, default benchmarks/.cache/detectors.json) and, per
detector, annotated frames of both videos (boxes with score >= ``--score``) beside it.

    .venv/bin/python benchmarks/detectors.py
    .venv/bin/python benchmarks/detectors.py --synthcity-stride 20 --timing-frames 20
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from synthcity_detect import CACHE, ROOT, cameras, frames_with_truth, rendered

from mtmc.detect import build_detector
from mtmc.detect.base import Detector
from mtmc.track.matching import iou_matrix

SHARED = ROOT.parent / "shared" / "data"
DETRAC = SHARED / "ua-detrac-mvi20011"
VIDEOS = {"detrac-intersection": 100, "street-a": 30}  # video -> the frame drawn
BASE = "yolox-nano-416"
DETECTORS = {
    BASE: ("onnx-yolox", {}),
    "0202": ("openvino", {"weights": "vehicle-detection-0202"}),
    "0202-544x960": ("openvino", {"weights": "vehicle-detection-0202", "input_size": [544, 960]}),
    "0202-tiles2x2": ("openvino", {"weights": "vehicle-detection-0202", "tiles": [2, 2]}),
    "adas-0002": ("openvino", {"weights": "vehicle-detection-adas-0002"}),
    "crossroad-0078": ("openvino", {"weights": "person-vehicle-bike-detection-crossroad-0078"}),
}
COLLECT = 0.05  # every detector keeps boxes down to this score, for the precision-recall curve
SMALL = 40.0  # px: a UA-DETRAC vehicle shorter than this counts as small (far)


def covered(mask: np.ndarray, box: np.ndarray) -> float:
    """The fraction of ``box`` that ``mask`` covers."""
    x1, y1, x2, y2 = np.round(box).astype(int)
    return float(mask[y1:y2, x1:x2].mean()) if x2 > x1 and y2 > y1 else 0.0


def score_frame(
    det: np.ndarray, gt: np.ndarray, counts: np.ndarray, ignored: np.ndarray | None
) -> tuple[list[tuple[float, bool]], np.ndarray]:
    """Greedy matching, best score first: (score, true?) of each detection that is judged, and per
    counted GT the score of the detection that found it (0: missed)."""
    found = np.zeros(len(gt))
    judged = []
    det = det[np.argsort(-det[:, 4], kind="stable")]
    overlaps = iou_matrix(det[:, :4], gt) if len(gt) else np.zeros((len(det), 0))
    for d, overlap in zip(det, overlaps):
        free = counts & (found == 0) & (overlap >= 0.5)
        if free.any():
            best = np.flatnonzero(free)[overlap[free].argmax()]
            found[best] = d[4]
            judged.append((float(d[4]), True))
            continue
        if (~counts & (overlap >= 0.5)).any():
            continue  # a vehicle too small or hidden to count
        if ignored is not None and covered(ignored, d[:4]) > 0.5:
            continue  # mostly inside a UA-DETRAC ignored region
        judged.append((float(d[4]), False))
    return judged, found[counts]


def summarise(judged: list[tuple[float, bool]], found: np.ndarray, threshold: float) -> dict[str, float]:
    """AP (VOC all-point), the best F1 and its score threshold, recall and precision at ``threshold``."""
    ordered = sorted(judged, key=lambda j: -j[0])
    true = np.array([t for _, t in ordered], bool)
    scores = np.array([s for s, _ in ordered])
    tp = np.cumsum(true)
    recall = tp / max(len(found), 1)
    precision = tp / np.arange(1, len(true) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))
    kept = scores >= threshold
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    best = int(f1.argmax()) if len(f1) else 0
    return {
        "ap50": ap,
        "best_f1": float(f1[best]) if len(f1) else 0.0,
        "best_f1_score": float(scores[best]) if len(f1) else 0.0,
        "recall": float((found >= threshold).mean()) if len(found) else 0.0,
        "precision": float(true[kept].mean()) if kept.any() else 0.0,
        "gt": len(found),
        "detections": int(kept.sum()),
    }


def detrac_frames() -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The 9 UA-DETRAC frames with images: image, GT boxes, all counted, ignored-region mask."""
    from mtmc.formats.detrac import read_detrac

    sequence = read_detrac(DETRAC / "DETRAC-Train-Annotations-XML" / "MVI_20011.xml")
    for image_path in sorted((DETRAC / "Insight-MVT_Annotation_Train" / "MVI_20011").glob("img*.jpg")):
        image = cv2.imread(str(image_path))
        mask = np.zeros(image.shape[:2], np.float32)
        for x, y, w, h in sequence.ignored_regions:
            mask[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = 1
        xywh = sequence.rows.xywh[sequence.rows.frame == int(image_path.stem[3:])]
        gt = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
        yield image, gt, np.ones(len(gt), bool), mask


def accuracy(
    detectors: dict[str, Detector], frames: Iterable[tuple], threshold: float, small: float | None = None
) -> dict[str, dict[str, float]]:
    judged: dict[str, list] = {name: [] for name in detectors}
    found: dict[str, list] = {name: [] for name in detectors}
    heights = []
    for image, gt, counts, ignored in frames:
        heights.append((gt[counts, 3] - gt[counts, 1]) if len(gt) else np.zeros(0))
        for name, detector in detectors.items():
            j, f = score_frame(detector.detect(image), gt, counts, ignored)
            judged[name] += j
            found[name].append(f)
    height = np.concatenate(heights)
    result = {}
    for name in detectors:
        hits = np.concatenate(found[name])
        result[name] = summarise(judged[name], hits, threshold)
        if small is not None:
            result[name]["recall_small"] = float((hits[height < small] >= threshold).mean())
            result[name]["gt_small"] = int((height < small).sum())
    return result


def speed(detectors: dict[str, Detector], video: Path, frames: int) -> dict[str, float]:
    """Median ms per frame of each detector, taking turns on each of ``frames`` frames."""
    from mtmc.sources import open_source

    spent: dict[str, list[float]] = {name: [] for name in detectors}
    for index, frame in enumerate(open_source(video)):
        if index == frames + 3:
            break
        for name, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(frame.image)
            if index >= 3:  # warm-up frames are not timed
                spent[name].append(1e3 * (time.perf_counter() - start))
    return {name: float(np.median(ms)) for name, ms in spent.items()}


def draw(detectors: dict[str, Detector], video: Path, frame_index: int, threshold: float, out: Path) -> None:
    from mtmc.sources import open_source

    image = next(f.image for f in open_source(video) if f.index == frame_index)
    for name, detector in detectors.items():
        canvas = image.copy()
        det = detector.detect(image)
        for x1, y1, x2, y2, score, _ in det[det[:, 4] >= threshold]:
            cv2.rectangle(canvas, (int(x1), int(y1)), (int(x2), int(y2)), (0, 0, 255), 1)
            cv2.putText(
                canvas, f"{score:.2f}", (int(x1), int(y1) - 2), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 255, 255)
            )
        label = f"{name}: {int((det[:, 4] >= threshold).sum())} boxes >= {threshold}"
        cv2.putText(canvas, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        cv2.imwrite(str(out / f"{video.stem}-{name}.png"), canvas)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", nargs="+", choices=list(DETECTORS), help="these detectors (YOLOX always runs)"
    )
    parser.add_argument("--score", type=float, default=0.3, help="operating score threshold")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--synthcity", default=str(ROOT / "configs" / "synthcity-small.yaml"))
    parser.add_argument("--synthcity-stride", type=int, default=10, help="every n-th frame of each camera")
    parser.add_argument("--timing-frames", type=int, default=30, help="timed frames per video")
    parser.add_argument("--json", type=Path, default=CACHE / "detectors.json")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    chosen = [BASE, *[n for n in args.only or DETECTORS if n != BASE]]
    detectors = {
        name: build_detector(
            DETECTORS[name][0], **DETECTORS[name][1], score_threshold=COLLECT, threads=args.threads
        )
        for name in chosen
    }
    scenario = rendered(args.synthcity)

    def synthcity() -> Iterable[tuple]:
        for folder in cameras(scenario):
            for image, boxes, counts in frames_with_truth(folder, args.synthcity_stride, 30.0, 0.5):
                yield image, boxes, counts, None

    start = time.perf_counter()
    results = {
        "detrac": accuracy(detectors, detrac_frames(), args.score, SMALL),
        "synthcity": accuracy(detectors, synthcity(), args.score),
        "ms": {v: speed(detectors, SHARED / "videos" / f"{v}.mp4", args.timing_frames) for v in VIDEOS},
    }
    pictures = args.json.parent / "detectors"
    pictures.mkdir(parents=True, exist_ok=True)
    for video, frame_index in VIDEOS.items():
        draw(detectors, SHARED / "videos" / f"{video}.mp4", frame_index, args.score, pictures)

    d, s, ms = results["detrac"], results["synthcity"], results["ms"]
    print(
        f"IoU 0.5, recall/precision at score >= {args.score}; {args.threads} threads; "
        f"x: ratio to {BASE} (AP and ms/frame)"
    )
    header = (
        f"{'detector':15} | {'DETRAC AP':>9} {'x':>5} {'rec':>5} {'prec':>5} {'rec<40px':>8} | "
        f"{'Synth AP':>8} {'x':>5} {'rec':>5} {'prec':>5} | {'ms 960x540':>10} {'x':>5} {'ms 640x352':>10} {'x':>5}"
    )
    print(header)
    print("-" * len(header))
    a, b = ms["detrac-intersection"], ms["street-a"]
    for name in chosen:
        print(
            f"{name:15} | {d[name]['ap50']:9.3f} {d[name]['ap50'] / max(d[BASE]['ap50'], 1e-9):5.2f} "
            f"{d[name]['recall']:5.2f} {d[name]['precision']:5.2f} {d[name]['recall_small']:8.2f} | "
            f"{s[name]['ap50']:8.3f} {s[name]['ap50'] / max(s[BASE]['ap50'], 1e-9):5.2f} "
            f"{s[name]['recall']:5.2f} {s[name]['precision']:5.2f} | "
            f"{a[name]:10.1f} {a[name] / a[BASE]:5.2f} {b[name]:10.1f} {b[name] / b[BASE]:5.2f}"
        )
    print(f"{'best F1 (at score)':18} | {'DETRAC':>12} | {'SynthCity':>12}")
    for name in chosen:
        print(
            f"{name:18} | {d[name]['best_f1']:5.2f} ({d[name]['best_f1_score']:.2f}) | "
            f"{s[name]['best_f1']:5.2f} ({s[name]['best_f1_score']:.2f})"
        )
    print(
        f"DETRAC: {d[BASE]['gt']} vehicles in 9 frames ({d[BASE]['gt_small']} under {SMALL:.0f} px); "
        f"SynthCity: {s[BASE]['gt']} counted vehicles; {time.perf_counter() - start:.0f} s"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    results["options"] = {
        "score": args.score,
        "threads": args.threads,
        "synthcity_stride": args.synthcity_stride,
    }
    results["detectors"] = {name: DETECTORS[name] for name in chosen}
    args.json.write_text(json.dumps(results, indent=1))
    print(f"numbers: {args.json}; annotated frames: {pictures}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
