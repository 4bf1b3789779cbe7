"""The AI City Challenge MTMC protocol (facts from the challenge's evaluation code).

1. Drop every predicted box with a corner inside the image on an ROI-mask pixel below 255.
2. Drop predicted ids seen by only one camera.
3. Drop repeated (camera, id, frame) predictions, keeping the first.
4. For the ground-truth cameras in sorted order, shift frames by a running offset (the larger
   of the ground truth's and the prediction's last frame of each camera), so that all cameras
   form one long sequence and identities are matched globally across cameras.
5. Score that sequence at IoU >= 0.5: IDF1 / IDP / IDR (and everything else, for diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtmc.errors import MtmcError
from mtmc.metrics.evaluate import SequenceCounts, evaluate_sequence
from mtmc.metrics.pairs import overlap_pairs, restrict_pairs
from mtmc.types import TrackRows


@dataclass(frozen=True)
class AicityResult:
    overall: SequenceCounts
    per_camera: dict[int, SequenceCounts]
    dropped_roi: int
    dropped_single_camera: int
    dropped_repeats: int


def camera_name(camera: int) -> str:
    return f"c{camera:03d}"


def find_roi_masks(
    roi_dir: str | Path, cameras: list[int], optional: list[int] = ()
) -> dict[int, np.ndarray]:
    """Grey ROI masks (H, W) uint8 for ``cameras``, looked up as ``cXXX/roi.jpg`` under ``roi_dir``.

    Also accepted: ``cXXX.jpg``/``cXXX.png`` directly in ``roi_dir`` and ``*/cXXX/roi.jpg`` deeper
    (an AI City scenario folder such as ``train/S01``). ``optional`` cameras may lack a mask.
    """
    from PIL import Image

    root = Path(roi_dir)
    if not root.is_dir():
        raise MtmcError(f"ROI folder not found: {root} (expected cXXX/roi.jpg per camera)")
    masks = {}
    for camera in [*cameras, *optional]:
        name = camera_name(camera)
        candidates = [
            root / name / "roi.jpg",
            root / name / "roi.png",
            root / f"{name}.jpg",
            root / f"{name}.png",
        ]
        found = next((c for c in candidates if c.is_file()), None) or next(
            iter(sorted(root.glob(f"**/{name}/roi.jpg"))), None
        )
        if found is None and camera in optional:
            continue
        if found is None:
            raise MtmcError(
                f"no ROI mask for camera {camera} under {root} (expected {root / name / 'roi.jpg'})"
            )
        try:
            with Image.open(found) as image:
                masks[camera] = np.asarray(image.convert("L"), dtype=np.uint8)
        except OSError as exc:
            raise MtmcError(f"ROI mask {found} cannot be read as an image: {exc}") from None
    return masks


def outside_roi(rows: TrackRows, masks: dict[int, np.ndarray]) -> np.ndarray:
    """Mask of boxes with a corner inside the image that lies on a mask pixel below 255.

    Corners are the integer pixel (floor) of (x, y), (x + w, y), (x, y + h), (x + w, y + h).
    """
    drop = np.zeros(len(rows), bool)
    for camera, mask in masks.items():
        index = np.flatnonzero(rows.camera == camera)
        if len(index) == 0:
            continue
        height, width = mask.shape
        x1, y1, w, h = rows.xywh[index].T
        for x in (np.floor(x1), np.floor(x1 + w)):
            for y in (np.floor(y1), np.floor(y1 + h)):
                inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
                xi = np.clip(x, 0, width - 1).astype(np.int64)
                yi = np.clip(y, 0, height - 1).astype(np.int64)
                drop[index] |= inside & (mask[yi, xi] < 255)
    return drop


def seen_by_one_camera(rows: TrackRows) -> np.ndarray:
    """Mask of rows whose id appears in exactly one camera."""
    if len(rows) == 0:
        return np.zeros(0, bool)
    ids, id_index = np.unique(rows.id, return_inverse=True)
    cameras, camera_index = np.unique(rows.camera, return_inverse=True)
    id_camera = np.unique(id_index * len(cameras) + camera_index)
    cameras_per_id = np.bincount(id_camera // len(cameras), minlength=len(ids))
    return cameras_per_id[id_index] == 1


def repeated(rows: TrackRows) -> np.ndarray:
    """Mask of rows repeating an earlier row's (camera, id, frame)."""
    order = np.lexsort((rows.frame, rows.id, rows.camera))  # stable: earlier rows first
    same = (
        (np.diff(rows.camera[order]) == 0)
        & (np.diff(rows.id[order]) == 0)
        & (np.diff(rows.frame[order]) == 0)
    )
    repeat = np.zeros(len(rows), bool)
    repeat[order[1:][same]] = True
    return repeat


def frame_offsets(gt: TrackRows, pred: TrackRows) -> dict[int, int]:
    """Offset added to each ground-truth camera's frames so that cameras follow one another."""
    offsets, running = {}, 0
    for camera in np.unique(gt.camera).tolist():
        offsets[camera] = running
        last = int(gt.frame[gt.camera == camera].max())
        in_pred = pred.frame[pred.camera == camera]
        running += max(last, int(in_pred.max())) if len(in_pred) else last
    return offsets


def one_sequence(rows: TrackRows, offsets: dict[int, int]) -> TrackRows:
    """Rows of all cameras as one sequence: frames shifted by their camera's offset."""
    cameras = np.array(sorted(offsets), np.int64)
    shift = np.array([offsets[c] for c in cameras.tolist()], np.int64)
    position = np.searchsorted(cameras, rows.camera)
    return rows.replace(frame=rows.frame + shift[position])


def extra_cameras(gt: TrackRows, pred: TrackRows) -> list[int]:
    return sorted(set(np.unique(pred.camera).tolist()) - set(np.unique(gt.camera).tolist()))


def evaluate_aicity(
    gt: TrackRows,
    pred: TrackRows,
    roi_masks: dict[int, np.ndarray] | None = None,
    min_iou: float = 0.5,
    ignore_extra_cameras: bool = False,
    per_camera: bool = False,
) -> AicityResult:
    """Score a multi-camera prediction with the AI City protocol (module docstring).

    ``per_camera`` also scores each camera alone (with the global ids), for diagnosis.
    """
    extra = extra_cameras(gt, pred)
    if extra and not ignore_extra_cameras:
        names = ", ".join(camera_name(c) for c in extra)
        raise MtmcError(
            f"prediction has cameras that the ground truth does not: {names} "
            "(remove them or pass --ignore-extra-cameras)"
        )
    by_roi = outside_roi(pred, roi_masks) if roi_masks else np.zeros(len(pred), bool)
    pred = pred.take(~by_roi)
    single = seen_by_one_camera(pred)  # extra cameras count here, as in the official code
    pred = pred.take(~single)
    repeats = repeated(pred)
    pred = pred.take(~repeats & np.isin(pred.camera, np.unique(gt.camera)))
    offsets = frame_offsets(gt, pred)
    gt, pred = one_sequence(gt, offsets), one_sequence(pred, offsets)
    pairs = overlap_pairs(gt.frame, gt.xywh, pred.frame, pred.xywh)
    overall = evaluate_sequence(gt, pred, min_iou, pairs)
    cameras = {}
    for camera in offsets if per_camera else ():
        # Cameras never share a frame of the joined sequence: their overlaps are a subset of these.
        in_gt, in_pred = gt.camera == camera, pred.camera == camera
        camera_pairs = restrict_pairs(pairs, in_gt, in_pred)
        cameras[camera] = evaluate_sequence(gt.take(in_gt), pred.take(in_pred), min_iou, camera_pairs)
    return AicityResult(overall, cameras, int(by_roi.sum()), int(single.sum()), int(repeats.sum()))
