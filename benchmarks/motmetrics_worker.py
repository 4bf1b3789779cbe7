"""py-motmetrics side of ``eval_speed.py``; runs inside ``benchmarks/.envs/motmetrics`` only.

mot mode: ``mm.io.loadtxt`` (ground-truth rows with confidence 0 dropped, ``min_confidence=1``,
as py-motmetrics' MOTChallenge app does), ``mm.utils.compare_to_groundtruth(gt, pred, 'iou',
distth=0.5)`` and ``mh.compute`` of ``mm.metrics.motchallenge_metrics``.

aicity mode: the official AI City MTMC evaluation without its ROI filter. Predicted rows that
repeat a (camera, id, frame) are dropped (first kept), then predicted ids seen in one camera
only; per ground-truth camera in sorted order, frames are shifted by a running offset (offset +=
max(GT max frame, prediction max frame) of that camera) and all cameras are compared as one
sequence. Writes ``{"overall": {metric: value}, "compute_seconds": s}`` to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import motmetrics as mm
import pandas as pd

AICITY_COLUMNS = ["CameraId", "Id", "FrameId", "X", "Y", "Width", "Height", "Xworld", "Yworld"]
BOX = ["X", "Y", "Width", "Height"]


def mot_accumulator(gt_path: Path, pred_path: Path) -> mm.MOTAccumulator:
    gt = mm.io.loadtxt(str(gt_path), fmt="mot15-2D", min_confidence=1)
    pred = mm.io.loadtxt(str(pred_path), fmt="mot15-2D")
    return mm.utils.compare_to_groundtruth(gt, pred, "iou", distth=0.5)


def read_aicity(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep=r"\s+", header=None, names=AICITY_COLUMNS, usecols=range(7))


def aicity_accumulator(gt_path: Path, pred_path: Path) -> mm.MOTAccumulator:
    gt = read_aicity(gt_path)
    pred = read_aicity(pred_path).drop_duplicates(subset=["CameraId", "Id", "FrameId"], keep="first")
    cameras_per_id = pred.groupby("Id")["CameraId"].transform("nunique")
    pred = pred[cameras_per_id > 1]
    gt_parts, pred_parts = [], []
    offset = 0
    for camera in sorted(gt["CameraId"].unique()):
        gt_cam = gt[gt["CameraId"] == camera][["FrameId", "Id", *BOX]].copy()
        pred_cam = pred[pred["CameraId"] == camera][["FrameId", "Id", *BOX]].copy()
        last = gt_cam["FrameId"].max()
        if len(pred_cam):
            last = max(last, pred_cam["FrameId"].max())
        gt_cam["FrameId"] += offset
        pred_cam["FrameId"] += offset
        gt_parts.append(gt_cam.set_index(["FrameId", "Id"]))
        pred_parts.append(pred_cam.set_index(["FrameId", "Id"]))
        offset += last
    return mm.utils.compare_to_groundtruth(pd.concat(gt_parts), pd.concat(pred_parts), "iou", distth=0.5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gt", type=Path)
    parser.add_argument("pred", type=Path)
    parser.add_argument("--mode", choices=("mot", "aicity"), required=True)
    parser.add_argument("--json", type=Path, required=True, help="where to write the metrics")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.mode == "mot":
        acc = mot_accumulator(args.gt, args.pred)
        metrics = mm.metrics.motchallenge_metrics
    else:
        acc = aicity_accumulator(args.gt, args.pred)
        metrics = ["idf1", "idp", "idr", "mota"]
    summary = mm.metrics.create().compute(acc, metrics=metrics, name="overall")
    seconds = time.perf_counter() - start
    overall = {key: float(value) for key, value in summary.loc["overall"].items()}
    args.json.write_text(json.dumps({"overall": overall, "compute_seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
