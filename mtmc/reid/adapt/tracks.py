"""The pseudo-identities' raw material: every camera of a source tracked on its own, and its confident,
long tracks kept with their crops on disk (one track = one identity, :mod:`mtmc.reid.data.mining`).

Cameras are mined in parallel processes (one detector thread each), with a progress bar per camera.
The result is cached in ``DIR/tracks.json`` + ``DIR/crops/<camera>/t<track>/<frame>.jpg`` and reused
when the cameras (source, size, clock), the parts and the mining options are the same, so that a
second adaptation with another training recipe starts at once.

When a camera folder has ground truth (``cXXX/gt/gt.txt``, MOTChallenge with global ids, as AI City
and SynthCity write it), each crop gets the id of the ground-truth box it overlaps (IoU >= 0.5) or -1:
only for the report's purity numbers, never for training.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.camera_names import aicity_number
from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.reid.data.mining import MinedTrack, MiningOptions, mine_camera, select_identities

log = logging.getLogger(__name__)

TRACKS_FILE = "tracks.json"
TRACKS_FORMAT = "mtmc-reid-adapt-tracks/1"
TRUTH_IOU = 0.5


@dataclass
class CameraTrack:
    """One pseudo-identity's track: ``frames`` (1-based video frames), ``boxes`` (x1 y1 x2 y2),
    ``scores``; its crops' frames and files; ``truth``: the ground-truth id of each crop (-1: none
    overlaps) or None when the camera has no ground truth. Global time of frame f:
    ``offset_s + (f - 1) / fps``."""

    camera: str
    track: int
    frames: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    crop_frames: np.ndarray
    crop_paths: list[Path]
    offset_s: float
    fps: float
    truth: np.ndarray | None = None
    number: int | None = None  # the camera's AI City number (None: from a name like c001)

    @property
    def name(self) -> str:
        return f"{self.camera}_t{self.track:05d}"

    @property
    def camera_number(self) -> int:
        return self.number if self.number is not None else int(self.camera.lstrip("c"))

    @property
    def times(self) -> np.ndarray:
        return self.offset_s + (self.frames - 1) / self.fps

    def majority_truth(self) -> int:
        """The ground-truth id most of the crops carry (-1 when none or unknown)."""
        if self.truth is None or not (self.truth >= 0).any():
            return -1
        ids, counts = np.unique(self.truth[self.truth >= 0], return_counts=True)
        return int(ids[np.argmax(counts)])


@dataclass
class MinedSource:
    """Every camera's pseudo-identity tracks, and per camera what mining found (frames, tracks,
    identities, rejections by reason, seconds)."""

    tracks: list[CameraTrack]
    cameras: dict[str, dict[str, Any]]
    cached: bool
    has_truth: bool


def mine_source(
    run_config: MtmcConfig,
    options: MiningOptions,
    out_dir: Path,
    workers: int = 2,
    progress: bool = True,
) -> MinedSource:
    """Mine every camera of ``run_config`` into ``out_dir`` (or read it back from there)."""
    parameters = _parameters(run_config, options)
    cached = _read_cache(out_dir, parameters)
    if cached is not None:
        return cached
    started = time.perf_counter()
    mined = _mine_in_processes(run_config, options, workers, progress)
    shutil.rmtree(out_dir / "crops", ignore_errors=True)
    tracks, cameras = [], {}
    for camera in run_config.cameras:
        found, fps, frames, seconds = mined[camera.id]
        kept, rejected = select_identities(found, options)
        truth_rows = _read_truth(camera)
        for track in kept:
            tracks.append(_store(track, camera, fps, out_dir, truth_rows))
        cameras[camera.id] = {
            "source": camera.source,
            "frames": frames,
            "tracks": len(found),
            "identities": len(kept),
            "rejected": dict(sorted(rejected.items())),
            "has_truth": truth_rows is not None,
            "seconds": round(seconds, 1),
        }
        log.info("%s: %d frames, %d tracks, %d pseudo-identities", camera.id, frames, len(found), len(kept))
    has_truth = all(item["has_truth"] for item in cameras.values())
    _write_cache(out_dir, parameters, tracks, cameras)
    log.info("mined %d cameras in %.0f s", len(cameras), time.perf_counter() - started)
    return MinedSource(tracks, cameras, cached=False, has_truth=has_truth)


def _parameters(run_config: MtmcConfig, options: MiningOptions) -> dict[str, Any]:
    """What the mined tracks depend on, as JSON reads it back."""
    cameras = []
    for camera in run_config.cameras:
        source = Path(camera.source)
        size = source.stat().st_size if source.is_file() else None
        value = camera.model_dump(mode="json", exclude={"number", "placement"})
        if camera.number != aicity_number(camera.id):  # as before names were free: old caches stay valid
            value["number"] = camera.number
        cameras.append({**value, "bytes": size})
    value = {
        "cameras": cameras,
        "detector": run_config.detector.model_dump(mode="json"),
        "tracker": run_config.tracker.model_dump(mode="json"),
        "options": asdict(options),
    }
    return json.loads(json.dumps(value, default=str))


def _mine_in_processes(
    run_config: MtmcConfig, options: MiningOptions, workers: int, progress: bool
) -> dict[str, tuple[list[MinedTrack], float, int, float]]:
    from mtmc.progress import camera_bars, follow

    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    events = manager.Queue()
    payload = run_config.model_dump(mode="json")
    ids = [camera.id for camera in run_config.cameras]
    try:
        with (
            camera_bars(disable=not progress, transient=True) as bars,
            ProcessPoolExecutor(max_workers=max(1, min(workers, len(ids))), mp_context=context) as pool,
        ):
            tasks = {camera: bars.add_task(f"mine {camera}", total=None) for camera in ids}
            futures: dict[str, Future] = {
                camera.id: pool.submit(_mine_one, payload, camera.id, asdict(options), events)
                for camera in run_config.cameras
            }
            return follow(bars, tasks, events, futures, Future.result, lambda camera, _: f"mine {camera} done")
    finally:
        manager.shutdown()


def _mine_one(
    payload: dict[str, Any], camera_id: str, options: dict[str, Any], events: Any
) -> tuple[list[MinedTrack], float, int, float]:
    """Process entry point: one camera's tracks, its native frame rate, frames read and seconds."""
    from mtmc.sources import open_source

    config = MtmcConfig.model_validate(payload)
    camera = next(c for c in config.cameras if c.id == camera_id)
    source = open_source(camera.source, fps=camera.fps)
    events.put((camera_id, "total", source.expected_frames()))
    started = time.perf_counter()
    count = 0

    def on_frame(_: int) -> None:
        nonlocal count
        count += 1
        if count % 25 == 0:
            events.put((camera_id, "frame", 25))

    tracks = mine_camera(camera, config, MiningOptions(**options), threads=1, on_frame=on_frame)
    events.put((camera_id, "frame", count % 25))
    return tracks, source.fps, count, time.perf_counter() - started


def _read_truth(camera: CameraConfig) -> np.ndarray | None:
    """(N, 6) ground-truth rows ``frame, id, x1, y1, x2, y2`` from ``gt/gt.txt`` beside the camera's
    video (the AI City layout), or None."""
    from mtmc.formats.motchallenge import read_mot

    path = Path(camera.source).parent / "gt" / "gt.txt"
    if not path.is_file():
        return None
    rows = read_mot(path, "ground truth")
    xyxy = np.concatenate([rows.xywh[:, :2], rows.xywh[:, :2] + rows.xywh[:, 2:]], axis=1)
    return np.column_stack([rows.frame, rows.id, xyxy])


def truth_ids(frames: np.ndarray, boxes: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The id of the ground-truth box of the same frame that overlaps each box best with IoU >=
    :data:`TRUTH_IOU`; -1 where none does."""
    ids = np.full(len(frames), -1, np.int64)
    for k, (frame, box) in enumerate(zip(frames.tolist(), boxes)):
        rows = truth[truth[:, 0] == frame]
        if len(rows) == 0:
            continue
        top_left = np.maximum(rows[:, 2:4], box[:2])
        bottom_right = np.minimum(rows[:, 4:6], box[2:4])
        intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=1)
        areas = (rows[:, 4:6] - rows[:, 2:4]).prod(axis=1) + (box[2:4] - box[:2]).prod()
        iou = intersection / np.maximum(areas - intersection, 1e-9)
        if iou.max() >= TRUTH_IOU:
            ids[k] = int(rows[np.argmax(iou), 1])
    return ids


def _store(
    track: MinedTrack, camera: CameraConfig, fps: float, out_dir: Path, truth_rows: np.ndarray | None
) -> CameraTrack:
    """Write ``track``'s crops under ``out_dir/crops`` and return it as a :class:`CameraTrack`."""
    import cv2

    folder = out_dir / "crops" / camera.id / f"t{track.track:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for frame, crop in zip(track.crop_frames.tolist(), track.crops):
        path = folder / f"{frame:06d}.jpg"
        if not cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise MtmcError(f"cannot write {path} (disk full or read-only?)")
        paths.append(path)
    crop_boxes = track.boxes[np.searchsorted(track.frames, track.crop_frames)]
    truth = None if truth_rows is None else truth_ids(track.crop_frames, crop_boxes, truth_rows)
    return CameraTrack(
        camera=camera.id,
        track=track.track,
        frames=track.frames,
        boxes=track.boxes,
        scores=track.scores,
        crop_frames=track.crop_frames,
        crop_paths=paths,
        offset_s=camera.offset_s,
        fps=fps,
        truth=truth,
        number=camera.number,
    )


def _write_cache(out_dir: Path, parameters: dict[str, Any], tracks: list[CameraTrack], cameras: dict) -> None:
    rows = [
        {
            "camera": t.camera,
            "track": t.track,
            "frames": t.frames.tolist(),
            "boxes": np.round(t.boxes, 2).tolist(),
            "scores": np.round(t.scores, 4).tolist(),
            "crop_frames": t.crop_frames.tolist(),
            "crops": [str(path.relative_to(out_dir)) for path in t.crop_paths],
            "offset_s": t.offset_s,
            "fps": t.fps,
            "truth": None if t.truth is None else t.truth.tolist(),
            "number": t.number,
        }
        for t in tracks
    ]
    value = {"format": TRACKS_FORMAT, "parameters": parameters, "cameras": cameras, "tracks": rows}
    path = out_dir / TRACKS_FILE
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(value) + "\n", encoding="utf-8")
    partial.replace(path)


def _read_cache(out_dir: Path, parameters: dict[str, Any]) -> MinedSource | None:
    """The mined source stored in ``out_dir`` for the same ``parameters`` with every crop present, else None."""
    try:
        stored = json.loads((out_dir / TRACKS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("format") != TRACKS_FORMAT or stored.get("parameters") != parameters:
        return None
    tracks = []
    for row in stored["tracks"]:
        paths = [out_dir / relative for relative in row["crops"]]
        if not all(path.is_file() for path in paths):
            return None
        tracks.append(
            CameraTrack(
                camera=row["camera"],
                track=int(row["track"]),
                frames=np.asarray(row["frames"], np.int64),
                boxes=np.asarray(row["boxes"], np.float32).reshape(-1, 4),
                scores=np.asarray(row["scores"], np.float32),
                crop_frames=np.asarray(row["crop_frames"], np.int64),
                crop_paths=paths,
                offset_s=float(row["offset_s"]),
                fps=float(row["fps"]),
                truth=None if row["truth"] is None else np.asarray(row["truth"], np.int64),
                number=row.get("number"),
            )
        )
    cameras = stored["cameras"]
    log.info("mined tracks read back from %s (same cameras, parts and options)", out_dir / TRACKS_FILE)
    return MinedSource(tracks, cameras, cached=True, has_truth=all(c["has_truth"] for c in cameras.values()))
