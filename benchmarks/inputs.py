"""Deterministic benchmark inputs shared by the benchmark scripts.

* ``perturbed_pets09``: the PETS09-S2L1 ground truth turned into a plausible tracker output
  (jittered boxes, dropped boxes and gaps, false-positive tracks, id swaps and id splits).
* ``aicity_scenario``: a generated AI City multi-camera scenario (``camera id frame x y w h
  xworld yworld``): vehicles with global ids that cross several cameras, and a prediction that is
  the ground truth with id switches, misses, false positives, cross-camera splits and merges,
  single-camera ids and duplicate rows.

Files are written once into ``benchmarks/.cache/`` and reused; their folder is named by the
parameters, the seed and a hash of this file, so that a changed generator never reuses stale files.
The same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
SHARED_DATA = REPO_DIR.parent / "shared" / "data"
CACHE_DIR = BENCH_DIR / ".cache"
PETS09_GT = SHARED_DATA / "pets09-s2l1" / "gt" / "gt.txt"
PETS09_LENGTH = 795
PETS09_SIZE = (768, 576)
_SOURCE_TAG = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def _mot_lines(frame: np.ndarray, ids: np.ndarray, xywh: np.ndarray) -> str:
    """MOTChallenge rows ``frame,id,x,y,w,h,1,-1,-1,-1`` sorted by frame then id."""
    order = np.lexsort((ids, frame))
    return "".join(
        f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n"
        for f, i, (x, y, w, h) in zip(frame[order].tolist(), ids[order].tolist(), xywh[order].tolist())
    )


def perturbed_pets09(seed: int = 0) -> Path:
    """Path of the perturbed PETS09-S2L1 prediction (MOTChallenge text, frames 1..795).

    It is made from every GT row, the 174 marked 0 ("ignore") too: scorers that drop those GT
    rows count their copies as false positives.
    """
    path = CACHE_DIR / f"pets09-perturbed-seed{seed}-{_SOURCE_TAG}" / "PETS09-S2L1.txt"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    table = np.loadtxt(PETS09_GT, delimiter=",", ndmin=2)
    frame = table[:, 0].astype(np.int64)
    ids = table[:, 1].astype(np.int64)
    xywh = table[:, 2:6].copy()
    next_id = int(ids.max()) + 1

    # Identity errors on the clean tracks: tail swaps of two tracks, then splits into a new id.
    for _ in range(6):
        f = int(rng.integers(50, PETS09_LENGTH - 50))
        present = np.unique(ids[frame == f])
        if len(present) < 2:
            continue
        a, b = rng.choice(present, 2, replace=False)
        tail = frame >= f
        in_a, in_b = tail & (ids == a), tail & (ids == b)
        ids[in_a], ids[in_b] = b, a
    for _ in range(10):
        track = int(rng.choice(np.unique(ids)))
        frames = frame[ids == track]
        if len(frames) < 20:
            continue
        cut = int(rng.integers(frames.min() + 5, frames.max() - 5))
        ids[(ids == track) & (frame >= cut)] = next_id
        next_id += 1

    # Localisation noise: some boxes drift past IoU 0.5 and become a miss plus a false positive.
    xywh[:, 0] += rng.normal(0, 0.07, len(xywh)) * xywh[:, 2]
    xywh[:, 1] += rng.normal(0, 0.05, len(xywh)) * xywh[:, 3]
    xywh[:, 2:4] *= np.exp(rng.normal(0, 0.08, (len(xywh), 2)))

    # Misses: single boxes and whole gaps of a track.
    keep = rng.random(len(frame)) > 0.07
    for _ in range(25):
        track = int(rng.choice(np.unique(ids)))
        start = int(rng.integers(1, PETS09_LENGTH))
        keep &= ~((ids == track) & (frame >= start) & (frame < start + int(rng.integers(5, 30))))
    frame, ids, xywh = frame[keep], ids[keep], xywh[keep]

    # False-positive tracks: short, slowly drifting boxes of pedestrian size.
    fp_frames, fp_ids, fp_boxes = [], [], []
    for _ in range(30):
        length = int(rng.integers(4, 25))
        start = int(rng.integers(1, PETS09_LENGTH - length + 1))
        w = rng.uniform(25, 45)
        h = w * rng.uniform(2.0, 2.6)
        x0 = rng.uniform(0, PETS09_SIZE[0] - w)
        y0 = rng.uniform(0, PETS09_SIZE[1] - h)
        steps = np.arange(length)
        fp_frames.append(start + steps)
        fp_ids.append(np.full(length, next_id))
        fp_boxes.append(np.column_stack([x0 + steps * rng.normal(0, 1.5), y0 + steps * rng.normal(0, 1.0),
                                         np.full(length, w), np.full(length, h)]))  # fmt: skip
        next_id += 1
    frame = np.concatenate([frame, *fp_frames])
    ids = np.concatenate([ids, *fp_ids])
    xywh = np.concatenate([xywh, *fp_boxes])
    _write_atomic(path, _mot_lines(frame, ids, xywh))
    return path


@dataclass(frozen=True)
class AicityFiles:
    gt: Path
    pred: Path


def aicity_scenario(
    cameras: int = 40, frames: int = 2000, per_frame: float = 15.0, seed: int = 0
) -> AicityFiles:
    """GT and prediction files of a generated multi-camera scenario (1920x1080, integer boxes).

    Vehicles visit 2..6 cameras one after another; each visit is a straight drive through the
    image for 80..320 frames. ``per_frame`` is the mean number of GT boxes per camera-frame.
    """
    folder = CACHE_DIR / f"aicity-c{cameras}-f{frames}-d{per_frame:g}-seed{seed}-{_SOURCE_TAG}"
    files = AicityFiles(folder / "gt.txt", folder / "pred.txt")
    if files.gt.exists() and files.pred.exists():
        return files
    rng = np.random.default_rng(seed)
    gt = _aicity_ground_truth(rng, cameras, frames, per_frame)
    pred = _aicity_prediction(rng, gt, cameras, frames)
    _write_atomic(files.gt, _aicity_lines(gt))
    _write_atomic(files.pred, _aicity_lines(pred))
    return files


#: Columns of the generated tables: camera, id, frame, x, y, w, h, and the visit they come from.
_CAM, _ID, _FRAME, _X, _Y, _W, _H, _VISIT = range(8)
_IMAGE_W, _IMAGE_H = 1920, 1080


def _aicity_ground_truth(rng: np.random.Generator, cameras: int, frames: int, per_frame: float) -> np.ndarray:
    wanted = cameras * frames * per_frame
    parts: list[np.ndarray] = []
    in_range = 0
    vehicle = visit = 0
    while in_range < wanted:
        vehicle += 1
        n_visits = int(rng.integers(2, min(6, cameras) + 1))
        path = rng.choice(cameras, n_visits, replace=False) + 1
        t = int(rng.integers(-1000, frames))
        for camera in path.tolist():
            length = int(rng.integers(80, 321))
            steps = np.arange(length)
            f = t + steps
            w0 = rng.uniform(60, 260)
            h0 = w0 * rng.uniform(0.6, 0.9)
            grow = rng.uniform(-0.4, 0.6) / length
            w, h = w0 * (1 + grow * steps), h0 * (1 + grow * steps)
            start = np.array([rng.uniform(0, _IMAGE_W), rng.uniform(0, _IMAGE_H)])
            end = np.array([rng.uniform(0, _IMAGE_W), rng.uniform(0, _IMAGE_H)])
            centre = start + (end - start) * (steps / length)[:, None]
            box = np.column_stack([centre[:, 0] - w / 2, centre[:, 1] - h / 2, w, h])
            block = np.column_stack(
                [np.full(length, camera), np.full(length, vehicle), f, box, np.full(length, visit)]
            )
            parts.append(block)
            in_range += int(np.count_nonzero((f >= 1) & (f <= frames)))
            visit += 1
            t += length + int(rng.integers(20, 200))
    table = np.concatenate(parts)
    table = _clip_to_image(table)
    return table[(table[:, _FRAME] >= 1) & (table[:, _FRAME] <= frames)]


def _clip_to_image(table: np.ndarray) -> np.ndarray:
    """Integer pixel boxes inside the image; boxes left smaller than 8x8 pixels are dropped."""
    x1 = np.clip(np.rint(table[:, _X]), 0, _IMAGE_W - 1)
    y1 = np.clip(np.rint(table[:, _Y]), 0, _IMAGE_H - 1)
    x2 = np.clip(np.rint(table[:, _X] + table[:, _W]), 0, _IMAGE_W)
    y2 = np.clip(np.rint(table[:, _Y] + table[:, _H]), 0, _IMAGE_H)
    out = table.copy()
    out[:, _X], out[:, _Y], out[:, _W], out[:, _H] = x1, y1, x2 - x1, y2 - y1
    return out[(out[:, _W] >= 8) & (out[:, _H] >= 8)]


def _aicity_prediction(rng: np.random.Generator, gt: np.ndarray, cameras: int, frames: int) -> np.ndarray:
    pred = gt.copy()
    visit_of = pred[:, _VISIT].astype(np.int64)  # rows are grouped by visit, visits by vehicle
    first = np.flatnonzero(np.r_[True, visit_of[1:] != visit_of[:-1]])
    bounds = np.r_[first, len(pred)]
    n_visits = len(first)
    visit_index = np.repeat(np.arange(n_visits), np.diff(bounds))
    vehicle = pred[first, _ID].astype(np.int64)
    segments = _Segments(pred[first, _CAM], pred[first, _FRAME], pred[bounds[1:] - 1, _FRAME], vehicle.copy())
    visit_id = vehicle.copy()
    next_id = int(vehicle.max()) + 1

    # Cross-camera association errors: a vehicle's later visits get a new id (split), or a visit
    # is given to the id of another vehicle when that id is not in its camera at the time (merge).
    for v in np.sort(rng.choice(n_visits, n_visits // 8, replace=False)).tolist():
        later = (vehicle == vehicle[v]) & (np.arange(n_visits) >= v) & (visit_id == visit_id[v])
        visit_id[later] = next_id
        next_id += 1
    for v in rng.choice(n_visits, n_visits // 12, replace=False).tolist():
        target = int(visit_id[rng.integers(n_visits)])
        if not segments.clash(segments.cam[v], segments.lo[v], segments.hi[v], target):
            visit_id[v] = target
    segments.ids[:] = visit_id
    ids = visit_id[visit_index]

    # Within-camera switches: the second half of a visit continues under a fresh id (seen by one
    # camera only, so the evaluation drops it) or under the id of another visit (an id switch).
    for v in rng.choice(n_visits, n_visits // 10, replace=False).tolist():
        lo, hi = bounds[v], bounds[v + 1]
        if hi - lo < 10:
            continue
        cut = (lo + hi) // 2
        cam, f_lo, f_hi = segments.cam[v], pred[cut, _FRAME], pred[hi - 1, _FRAME]
        target = int(visit_id[rng.integers(n_visits)]) if rng.random() < 0.5 else next_id
        if segments.clash(cam, f_lo, f_hi, target):
            continue
        ids[cut:hi] = target
        segments.add(cam, f_lo, f_hi, target)
        next_id += target == next_id
    pred[:, _ID] = ids

    # Localisation noise (a per-visit bias plus per-frame noise) and misses (boxes and gaps).
    bias = rng.normal(0, 0.04, (n_visits, 2))
    pred[:, _X] += (bias[visit_index, 0] + rng.normal(0, 0.05, len(pred))) * pred[:, _W]
    pred[:, _Y] += (bias[visit_index, 1] + rng.normal(0, 0.05, len(pred))) * pred[:, _H]
    pred[:, [_W, _H]] *= np.exp(rng.normal(0, 0.06, (len(pred), 2)))
    keep = rng.random(len(pred)) > 0.06
    for v in rng.choice(n_visits, n_visits // 6, replace=False).tolist():
        start = int(rng.integers(bounds[v], bounds[v + 1]))
        keep[start : min(start + int(rng.integers(10, 60)), bounds[v + 1])] = False
    pred = pred[keep]

    # False-positive tracks: the first half come in pairs sharing an id (linked across cameras,
    # kept by the evaluation), the rest have ids of their own (single-camera, dropped).
    n_fp = n_visits // 10
    fp_parts = []
    for k in range(n_fp):
        fp_id = next_id + (k // 2 if k < n_fp // 2 else k)
        length = int(rng.integers(15, 90))
        start = int(rng.integers(1, frames - length + 2))
        steps = np.arange(length)
        w = rng.uniform(50, 200)
        h = w * rng.uniform(0.6, 0.9)
        x0, y0 = rng.uniform(0, _IMAGE_W - w), rng.uniform(0, _IMAGE_H - h)
        drift = rng.normal(0, 3, 2)
        box = np.column_stack(
            [x0 + drift[0] * steps, y0 + drift[1] * steps, np.full(length, w), np.full(length, h)]
        )
        camera = int(rng.integers(1, cameras + 1))
        fp_parts.append(np.column_stack([np.full(length, camera), np.full(length, fp_id), start + steps, box,
                                         np.full(length, -1)]))  # fmt: skip
    pred = _clip_to_image(np.concatenate([pred, *fp_parts]))
    pred = pred[(pred[:, _FRAME] >= 1) & (pred[:, _FRAME] <= frames)]

    # A few duplicate (camera, id, frame) rows with a shifted box; they sort after the original.
    dup = pred[rng.random(len(pred)) < 0.002].copy()
    dup[:, _X] = np.clip(dup[:, _X] + 40, 0, _IMAGE_W - 1)
    return np.concatenate([pred, dup])


class _Segments:
    """Time spans (camera, first frame, last frame) during which a predicted id is in use."""

    def __init__(self, cam: np.ndarray, lo: np.ndarray, hi: np.ndarray, ids: np.ndarray) -> None:
        self.cam, self.lo, self.hi, self.ids = cam, lo, hi, ids

    def clash(self, cam: float, lo: float, hi: float, target: int) -> bool:
        """Whether ``target`` is already used in ``cam`` at some frame of ``lo..hi``."""
        return bool(np.any((self.ids == target) & (self.cam == cam) & (self.lo <= hi) & (self.hi >= lo)))

    def add(self, cam: float, lo: float, hi: float, target: int) -> None:
        self.cam, self.lo = np.r_[self.cam, cam], np.r_[self.lo, lo]
        self.hi, self.ids = np.r_[self.hi, hi], np.r_[self.ids, target]


def _aicity_lines(table: np.ndarray) -> str:
    """``camera id frame x y w h -1 -1`` per row, sorted by camera, frame, id, then table order."""
    order = np.lexsort((np.arange(len(table)), table[:, _ID], table[:, _FRAME], table[:, _CAM]))
    t = table[order].astype(np.int64)
    return "".join(f"{c} {i} {f} {x} {y} {w} {h} -1 -1\n" for c, i, f, x, y, w, h in t[:, :7].tolist())
