"""Vehicle sprites cut from fixed-camera footage: the real vehicles SynthCity drives through its world.

A sprite is a vehicle's pixels plus a soft silhouette mask, seen several times at different distances
(``SpriteView``), so the renderer can pick the view whose scale and angle fit where it draws it. The
method has no thresholds fitted to one video: a median background (of the frames where no detected
vehicle covers each pixel), a detector and a tracker group each passing vehicle's detections, and
each frame's own noise level sets the foreground threshold.
Views that would make bad sprites (cut by the border, occluded, too small, mask not a whole vehicle)
are dropped, and the drops are logged per reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.detect import build_detector
from mtmc.errors import MtmcError
from mtmc.sim.config import FootageConfig, SpritesConfig
from mtmc.sim.geometry import RoadView
from mtmc.track import build_tracker

log = logging.getLogger(__name__)

# Bump whenever the method changes what it harvests, so old cache entries are not reused.
CACHE_VERSION = 2
# Frame rate assumed when a container does not state one (the tracker's motion model needs a rate).
DEFAULT_FPS = 25.0
# A box closer than this fraction of the frame size to its edge is probably cut by it (boxes of cut
# vehicles often stop a few pixels short of the edge): half a vehicle is not a sprite.
BORDER_MARGIN = 0.01
# Foreground threshold: this many times the frame's median colour distance to the background. Most
# pixels are static scene, so the median measures the footage's own noise (codec, flicker, leaves).
NOISE_FACTOR = 4.0
# ... and never below this CIE76 distance: about 4 just-noticeable differences, above clean-codec noise.
MIN_DELTA_E = 10.0
# Hysteresis: the mask grows from pixels above the threshold into touching ones above this fraction
# of it, so low-contrast panels (a white car passing pale concrete) stay with their vehicle.
HYSTERESIS = 0.5
# Morphology kernels are this fraction of the box height, so masks are cleaned alike at every scale.
KERNEL_FRACTION = 1 / 25
# Detector boxes are often a little tight (mirrors, roof signs, a wheel stick out): the mask is
# searched this fraction of the box size beyond its left, right and top sides. Not below it: the box
# bottom is where the wheels touch the road, and what lies below is the vehicle's shadow.
PAD_FRACTION = 0.25
# If the mask reaches the padded search area's edge or grows by more than this fraction outside
# the box, it has merged with something else (a shadow, a neighbour) and is cut back to the box.
MAX_OUTSIDE = 0.25
# A vehicle's silhouette fills most of its box (side views ~0.7, front/rear ~0.85); less means the
# vehicle looks like the road or stands in the background (parked), all of it that the mask leaked.
MIN_FILL, MAX_FILL = 0.45, 0.97
# The silhouette must span nearly the whole box both ways, else it is part of a vehicle (half a car).
MIN_EXTENT = 0.85
# Vehicles are nearly convex from any side (solidity > 0.9); a mask with a bite out of its hull lost
# part of the vehicle (codec smear, an occluding branch, a panel that matches the road).
MIN_SOLIDITY = 0.88
# A foot this far outside the road rectangle (metres) is on a side street or a driveway: its vehicle
# faces another way than the road the renderer draws it on.
ROAD_MARGIN_M = 1.0
# A track moving less than this along or across the road (metres) is parked or queued; one moving
# farther across the road than along it (a junction's turning or crossing traffic) faces across it.
MIN_TRAVEL_M = 3.0
# Pixels kept around the silhouette so the softened alpha edge has room.
FEATHER_PAD_PX = 2
# Gaussian sigma of the alpha edge (pixels): enough to hide the pixel staircase, not to blur the car.
FEATHER_SIGMA_PX = 0.8


@dataclass
class SpriteView:
    """One clean sighting of a vehicle: its pixels, silhouette and where it stood on the road."""

    bgr: np.ndarray
    alpha: np.ndarray
    foot: tuple[float, float]
    s: float
    u: float
    ppm: float
    approaching: bool
    frame: int


@dataclass
class SpriteVehicle:
    """A real vehicle with its views sorted by ``s`` (distance along the road)."""

    key: str
    views: list[SpriteView]


# --- video ---------------------------------------------------------------------------------------


def _open(video: Path) -> Any:
    import cv2

    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise MtmcError(f"{video}: cannot open the video (missing file or unsupported codec)")
    return capture


def _video_info(video: Path) -> tuple[int, float]:
    """Frame count (counted by decoding when the header lacks it) and frame rate."""
    import cv2

    capture = _open(video)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    if total <= 0:
        total = 0
        while capture.grab():
            total += 1
    capture.release()
    return total, fps if fps > 0 else DEFAULT_FPS


def _frame_range(video: Path, frames: tuple[int, int] | None) -> tuple[int, int]:
    """``[start, stop)`` clipped to the video's length."""
    total, _ = _video_info(video)
    start, stop = (0, total) if frames is None else (max(0, frames[0]), min(total, frames[1]))
    if stop <= start:
        raise MtmcError(f"{video}: frame range {frames} holds no frames (the video has {total})")
    return start, stop


def _read(video: Path, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Frames at sorted ``indices``, decoded in order: seeking is inexact in some containers."""
    capture = _open(video)
    wanted = {int(i) for i in indices}
    try:
        for index in range(int(max(indices)) + 1):
            if not capture.grab():
                return
            if index in wanted:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, frame
    finally:
        capture.release()


def median_background(
    video: Path, frames: tuple[int, int] | None, count: int, detector: Any | None = None
) -> np.ndarray:
    """Per-pixel median of ``count`` evenly spaced frames: the street without its moving traffic.

    With a ``detector``, each pixel's median is taken over the frames in which no detected vehicle's
    box covers it: where traffic covers the road more often than not (a busy junction, a platoon, a
    queue), the plain median is a smear of passing vehicles. A pixel covered in every sampled frame
    (a parked car) keeps the plain median, as without a detector.
    """
    start, stop = _frame_range(video, frames)
    indices = np.unique(np.linspace(start, stop - 1, count).round().astype(int))
    stack = [frame for _, frame in _read(video, indices)]
    if not stack:
        raise MtmcError(f"{video}: no frame could be decoded")
    stack = np.stack(stack)
    background = np.median(stack, axis=0)
    if detector is not None:
        covered = np.zeros(stack.shape[:3], bool)
        for frame, cover in zip(stack, covered):
            boxes = np.asarray(detector.detect(frame), np.float32).reshape(-1, 6)[:, :4]
            for x1, y1, x2, y2 in np.clip(boxes, 0, None):
                cover[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = True
        background = np.where((~covered).any(axis=0)[..., None], _free_median(stack, covered), background)
    return background.round().astype(np.uint8)


def _free_median(stack: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Per-pixel median of ``stack`` (N, H, W, 3 uint8) over the frames where ``covered`` (N, H, W) is
    False; pixels covered in every frame get a meaningless value."""
    values = stack.astype(np.uint16)
    values[covered] = 256  # sorts after every colour
    values.sort(axis=0)
    free = (~covered).sum(axis=0)[None, ..., None]
    low = np.take_along_axis(values, np.maximum(free - 1, 0) // 2, axis=0)[0]
    high = np.take_along_axis(values, free // 2, axis=0)[0]
    return (low.astype(np.float64) + high) / 2


def footage_background(
    footage: FootageConfig, sprites: SpritesConfig, detector: Any | None = None
) -> np.ndarray:
    """A footage's median background, vehicles found by the sprites' detector left out (see above)."""
    if detector is None:
        detector = build_detector(sprites.detector.name, **sprites.detector.options())
    return median_background(footage.video, footage.frames, footage.background_frames, detector)


# --- masks ---------------------------------------------------------------------------------------


def _lab(bgr: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Holes closed: windows and tyres that look like the road still belong to the vehicle."""
    import cv2

    padded = np.pad(mask, 1)
    outside = padded.copy()
    cv2.floodFill(outside, np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8), (0, 0), 1)
    return (padded | (1 - outside))[1:-1, 1:-1]


def silhouette(distance: np.ndarray, threshold: float, kernel_px: int) -> np.ndarray:
    """Largest foreground blob (uint8 0/1) of a colour-distance-to-background patch, holes filled."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_px, kernel_px))
    weak = (distance > threshold * HYSTERESIS).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[distance > threshold])] = True
    seeded[0] = False
    mask = seeded[labels].astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return _largest(_fill_holes(mask))


def _largest(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected blob of a 0/1 mask (all zeros when there is none)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros_like(mask)
    return (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def vehicle_mask(
    distance: np.ndarray, box: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The vehicle's mask in a search area around ``box``, the part inside the box, and the area's origin.

    The mask may reach past the box's left, right and top sides into the search area, one side at a
    time: a side where it runs on to the area's edge, or all sides when together they add more than
    ``MAX_OUTSIDE``, is cut back to the box, as the mask merged there with something else.
    """
    import cv2

    height, width = distance.shape
    x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
    x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    pad_x, pad_y = int(round(PAD_FRACTION * (x2 - x1))), int(round(PAD_FRACTION * (y2 - y1)))
    ax1, ay1, ax2 = max(0, x1 - pad_x), max(0, y1 - pad_y), min(width, x2 + pad_x)
    kernel_px = max(3, int(round((y2 - y1) * KERNEL_FRACTION)) | 1)
    mask = silhouette(distance[ay1:y2, ax1:ax2], threshold, kernel_px)
    left, top, right = x1 - ax1, y1 - ay1, x2 - ax1  # the box inside the search area
    inner = np.zeros_like(mask)
    inner[top:, left:right] = mask[top:, left:right]
    # Outside the box, a coarser opening drops the thin strands (branches, poles) a mask can grow into.
    coarse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * kernel_px + 1, 2 * kernel_px + 1))
    mask = inner | cv2.morphologyEx(mask - inner, cv2.MORPH_OPEN, coarse)
    sides = [mask[:, :left], mask[:, right:], mask[:top, left:right]]
    outer_edges = [lambda m: m[:, 0], lambda m: m[:, -1], lambda m: m[0]]
    for side, edge in zip(sides, outer_edges):
        if side.size and (edge(side).any() or side[0].any()):
            side[:] = 0
    if mask.sum() - inner.sum() > MAX_OUTSIDE * inner.sum():
        mask = inner
    return _largest(mask), inner[top:, left:right], (ax1, ay1)


def solidity(mask: np.ndarray) -> float:
    """Mask area over its convex hull's area in pixels (1 for a convex blob)."""
    import cv2

    hull = cv2.convexHull(cv2.findNonZero(mask))
    # Pick's theorem: a convex lattice polygon covers area + perimeter / 2 + 1 pixel centres.
    return float(mask.sum()) / (cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0)


def vehicle_masks(
    distance: np.ndarray, boxes: np.ndarray, threshold: float
) -> tuple[list[tuple[np.ndarray, np.ndarray, tuple[int, int]]], np.ndarray]:
    """``vehicle_mask`` of every box, and per pixel how many of these masks claim it.

    Whether two vehicles get in each other's way is read from their masks, not their boxes: in a
    perspective view the boxes of neighbours often intersect where neither vehicle is (a box's
    corners are road; a diagonal bus's box covers whole lanes). A pixel claimed by two masks is
    where one vehicle hides the other or their silhouettes merged: it may be either vehicle's.
    """
    claims = np.zeros(distance.shape, np.uint16)
    masks = []
    height, width = distance.shape
    for box in boxes:
        x1, y1 = int(np.clip(box[0], 0, width - 1)), int(np.clip(box[1], 0, height - 1))
        if min(box[2] - box[0], box[3] - box[1]) < 2:  # nothing to cut; a vehicle this thin is rejected
            masks.append((np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8), (x1, y1)))
            continue
        mask, inner, (x0, y0) = vehicle_mask(distance, box, threshold)
        claims[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]] += mask
        masks.append((mask, inner, (x0, y0)))
    return masks, claims


def _shared(mask: np.ndarray, origin: tuple[int, int], claims: np.ndarray) -> bool:
    """Does another vehicle's mask claim a pixel of this one (``claims`` counts this one too)?"""
    x0, y0 = origin
    region = claims[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]]
    return bool((region[mask > 0] > 1).any())


def _reject_box(box: np.ndarray, width: int, height: int, min_height: int) -> str | None:
    x1, y1, x2, y2 = box
    mx, my = max(2.0, BORDER_MARGIN * width), max(2.0, BORDER_MARGIN * height)
    if x1 < mx or y1 < my or x2 > width - mx or y2 > height - my:
        return "border"
    if y2 - y1 < min_height:
        return "small"
    return None


def _reject_mask(mask: np.ndarray, inner: np.ndarray) -> str | None:
    """Why the mask is not a whole vehicle, or None; ``inner`` is its part inside the detection box."""
    fill = inner.mean()
    if fill < MIN_FILL:
        return "mask_sparse"
    if fill > MAX_FILL:
        return "mask_full"
    ys, xs = np.nonzero(inner)
    if np.ptp(ys) + 1 < MIN_EXTENT * inner.shape[0] or np.ptp(xs) + 1 < MIN_EXTENT * inner.shape[1]:
        return "mask_partial"
    if solidity(mask) < MIN_SOLIDITY:
        return "mask_ragged"
    return None


def _cut(
    frame: np.ndarray, mask: np.ndarray, origin: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, tuple[float, float], tuple[int, int]]:
    """Crop around the silhouette: pixels, soft alpha, foot (bottom-centre) and the crop's origin."""
    import cv2

    ys, xs = np.nonzero(mask)
    top, bottom = origin[1] + ys.min(), origin[1] + ys.max() + 1
    left, right = origin[0] + xs.min(), origin[0] + xs.max() + 1
    height, width = frame.shape[:2]
    cx1, cy1 = max(0, left - FEATHER_PAD_PX), max(0, top - FEATHER_PAD_PX)
    cx2, cy2 = min(width, right + FEATHER_PAD_PX), min(height, bottom + FEATHER_PAD_PX)
    full = np.zeros((height, width), np.uint8)
    full[origin[1] : origin[1] + mask.shape[0], origin[0] : origin[0] + mask.shape[1]] = mask * 255
    alpha = cv2.GaussianBlur(full[cy1:cy2, cx1:cx2], (0, 0), FEATHER_SIGMA_PX)
    bgr = np.ascontiguousarray(frame[cy1:cy2, cx1:cx2])
    foot = ((left + right) / 2 - cx1, float(bottom - cy1))
    return bgr, alpha, foot, (cx1, cy1)


def _on_road(road: RoadView, u: float, s: float) -> bool:
    half = road.width_m / 2 + ROAD_MARGIN_M
    return abs(u) <= half and -ROAD_MARGIN_M <= s <= road.length_m + ROAD_MARGIN_M


# --- harvest -------------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """An accepted view before its vehicle's direction is known."""

    bgr: np.ndarray
    alpha: np.ndarray
    foot: tuple[float, float]
    s: float
    u: float
    ppm: float
    frame: int


def _spread(candidates: list[_Candidate], count: int) -> list[_Candidate]:
    """At most ``count`` views spread evenly along ``s``: each distance shows another angle and scale."""
    ordered = sorted(candidates, key=lambda c: (c.s, c.frame))
    if len(ordered) <= count:
        return ordered
    s = np.array([c.s for c in ordered])
    chosen: list[int] = []
    for target in np.linspace(s[0], s[-1], count):
        free = [i for i in range(len(ordered)) if i not in chosen]
        chosen.append(min(free, key=lambda i: (abs(s[i] - target), i)))
    return [ordered[i] for i in sorted(chosen)]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counter.items())) or "none"


def harvest(
    name: str,
    footage: FootageConfig,
    sprites: SpritesConfig,
    progress: Callable[[int, int], None] | None = None,
) -> list[SpriteVehicle]:
    """Detect, track and cut out the moving vehicles of one footage; ``progress(done, total)`` per frame."""
    return _background_and_vehicles(name, footage, sprites, progress)[1]


def _background_and_vehicles(
    name: str, footage: FootageConfig, sprites: SpritesConfig, progress: Callable[[int, int], None] | None
) -> tuple[np.ndarray, list[SpriteVehicle]]:
    """The footage's background and its harvested vehicles, with one detector for both."""
    detector = build_detector(sprites.detector.name, **sprites.detector.options())
    background = footage_background(footage, sprites, detector)
    return background, _harvest(name, footage, sprites, background, progress, detector)


def _harvest(
    name: str,
    footage: FootageConfig,
    sprites: SpritesConfig,
    background: np.ndarray,
    progress: Callable[[int, int], None] | None,
    detector: Any,
) -> list[SpriteVehicle]:
    road = RoadView(np.array(footage.road.corners), footage.road.width_m, footage.road.length_m)
    start, stop = _frame_range(footage.video, footage.frames)
    _, fps = _video_info(footage.video)
    background_lab = _lab(background)
    height, width = background.shape[:2]
    tracker = build_tracker("deepsort-byte", fps=fps / sprites.frame_step)
    indices = np.arange(start, stop, sprites.frame_step)

    rejected: Counter[str] = Counter()
    track_reasons: dict[int, Counter[str]] = defaultdict(Counter)
    candidates: dict[int, list[_Candidate]] = defaultdict(list)
    # frame, s, u of each track's box feet on the road: its travel and direction
    paths: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for done, (index, frame) in enumerate(_read(footage.video, indices), 1):
        if frame.shape != background.shape:
            raise MtmcError(f"{footage.video}: frame {index} is {frame.shape}, the first {background.shape}")
        dets = np.asarray(detector.detect(frame), np.float32).reshape(-1, 6)
        tracked = {int(row[7]): int(row[4]) for row in tracker.update(dets, None, index)}
        rejected["untracked"] += len(dets) - len(tracked)
        distance = np.linalg.norm(_lab(frame) - background_lab, axis=2)
        static = np.ones((height, width), bool)
        for x1, y1, x2, y2 in dets[:, :4].astype(int):
            static[max(0, y1) : y2, max(0, x1) : x2] = False
        noise = float(np.median(distance[static] if static.any() else distance))
        threshold = max(MIN_DELTA_E, NOISE_FACTOR * noise)
        masks, claims = vehicle_masks(distance, dets[:, :4], threshold)
        for det_index, track_id in sorted(tracked.items()):
            box = dets[det_index, :4]
            feet = road.to_ground(np.array([[(box[0] + box[2]) / 2, box[3]]]))
            if road.in_front(feet)[0] and _on_road(road, *feet[0]):
                paths[track_id].append((index, float(feet[0, 1]), float(feet[0, 0])))
            reason = _reject_box(box, width, height, sprites.min_height_px)
            mask, inner, origin = masks[det_index]
            if reason is None:
                reason = _reject_mask(mask, inner)
            if reason is None and _shared(mask, origin, claims):
                reason = "overlap"
            if reason is None:
                bgr, alpha, foot, corner = _cut(frame, mask, origin)
                ground = road.to_ground(np.array([[corner[0] + foot[0], corner[1] + foot[1]]]))
                u, s = ground[0]
                if not (road.in_front(ground)[0] and _on_road(road, u, s)):
                    reason = "off_road"
            if reason is not None:
                rejected[reason] += 1
                track_reasons[track_id][reason] += 1
                continue
            ppm = float(road.pixels_per_metre(ground)[0])
            candidates[track_id].append(_Candidate(bgr, alpha, foot, float(s), float(u), ppm, index))
        if progress is not None:
            progress(done, len(indices))

    vehicles, dropped = [], Counter()
    for track_id in sorted(set(paths) | set(candidates) | set(track_reasons)):
        path = np.array(paths[track_id]).reshape(-1, 3)
        if len(path) < 2 or max(np.ptp(path[:, 1]), np.ptp(path[:, 2])) < MIN_TRAVEL_M:
            reason = "parked_or_off_road"
        elif np.ptp(path[:, 2]) > np.ptp(path[:, 1]):
            reason = "crossing"  # turning or crossing at a junction: it faces across the road
        elif len(candidates[track_id]) < sprites.min_views:
            reason = "few_views"
        else:
            reason = None
        if reason is not None:
            dropped[reason] += 1
            log.debug(
                "sprites %s/%d: %s (%d clean views; views rejected: %s)",
                name, track_id, reason, len(candidates[track_id]), _counts(track_reasons[track_id]),
            )
            continue
        approaching = bool(np.polyfit(path[:, 0], path[:, 1], 1)[0] < 0)
        views = [
            SpriteView(c.bgr, c.alpha, c.foot, c.s, c.u, c.ppm, approaching, c.frame)
            for c in _spread(candidates[track_id], sprites.max_views)
        ]
        vehicles.append(SpriteVehicle(f"{name}/{track_id}", views))
    log.info(
        "sprites %s: kept %d vehicles, %d views from %d frames; rejected views: %s; rejected vehicles: %s",
        name,
        len(vehicles),
        sum(len(v.views) for v in vehicles),
        len(indices),
        _counts(rejected),
        _counts(dropped),
    )
    return vehicles


# --- cache ---------------------------------------------------------------------------------------


def _file_digest(path: Path) -> str:
    """sha256 of the video's bytes: a re-encoded or replaced file is harvested again."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(footage: FootageConfig, sprites: SpritesConfig) -> str:
    """Hash of everything a harvest depends on (not ``sprites.footage``, which only picks footage)."""
    inputs = {
        "version": CACHE_VERSION,
        "video": _file_digest(footage.video),
        "frames": footage.frames,
        "background_frames": footage.background_frames,
        "road": footage.road.model_dump(mode="json"),
        "sprites": sprites.model_dump(mode="json", exclude={"footage"}),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]


def _save(path: Path, key: str, background: np.ndarray, vehicles: list[SpriteVehicle]) -> None:
    """One .npz (arrays + a JSON ``meta`` entry), written to a temporary file and renamed into place."""
    arrays: dict[str, np.ndarray] = {"background": background}
    meta: dict[str, Any] = {"key": key, "vehicles": []}
    for i, vehicle in enumerate(vehicles):
        views = []
        for j, view in enumerate(vehicle.views):
            arrays[f"bgr_{i}_{j}"], arrays[f"alpha_{i}_{j}"] = view.bgr, view.alpha
            views.append(
                {
                    "foot": list(view.foot),
                    "s": view.s,
                    "u": view.u,
                    "ppm": view.ppm,
                    "approaching": view.approaching,
                    "frame": view.frame,
                }
            )
        meta["vehicles"].append({"key": vehicle.key, "views": views})
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str) -> tuple[np.ndarray, list[SpriteVehicle]]:
    """A cache entry; raises ValueError (or a read error) when it is not a complete one for ``key``."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta.get("key") != key:
            raise ValueError("written for other inputs")
        background = data["background"]
        vehicles = []
        for i, entry in enumerate(meta["vehicles"]):
            views = []
            for j, v in enumerate(entry["views"]):
                bgr, alpha = data[f"bgr_{i}_{j}"], data[f"alpha_{i}_{j}"]
                if bgr.dtype != np.uint8 or alpha.dtype != np.uint8 or bgr.shape != (*alpha.shape, 3):
                    raise ValueError(f"view {i}/{j}: {bgr.shape} {bgr.dtype}, {alpha.shape} {alpha.dtype}")
                foot = (float(v["foot"][0]), float(v["foot"][1]))
                s, u, ppm = float(v["s"]), float(v["u"]), float(v["ppm"])
                views.append(SpriteView(bgr, alpha, foot, s, u, ppm, bool(v["approaching"]), int(v["frame"])))
            vehicles.append(SpriteVehicle(entry["key"], views))
    if background.dtype != np.uint8 or background.ndim != 3:
        raise ValueError(f"background is {background.shape} {background.dtype}")
    return background, vehicles


def load_or_harvest(
    name: str, footage: FootageConfig, sprites: SpritesConfig, cache_dir: Path
) -> tuple[np.ndarray, list[SpriteVehicle]]:
    """Background and sprites of one footage, harvested once and then read from ``cache_dir``."""
    key = cache_key(footage, sprites)
    path = Path(cache_dir) / f"sprites-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-{key}.npz"
    if path.exists():
        try:
            return _load(path, key)
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            log.warning("sprites %s: cache entry %s is unreadable (%s); harvesting again", name, path, error)
            path.unlink(missing_ok=True)
    background, vehicles = _background_and_vehicles(name, footage, sprites, None)
    _save(path, key, background, vehicles)
    return background, vehicles
