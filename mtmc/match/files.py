"""Per-camera single-camera tracks in, identities out.

In: ``DIR/<camera id>.txt`` (MOTChallenge rows) and optionally ``DIR/<camera id>.npz`` with
``track_id`` (N,) and ``feature`` (N, D) (as ``mtmc simulate --no-render`` writes). Out: an AI City
submission (``camera id frame x y w h xworld yworld``; world = the foot point on the ground, in
metres, when the camera has a homography, else -1) and optionally MOTChallenge per camera with global ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.formats import read_mot, write_aicity, write_mot
from mtmc.match.config import MatchCamera
from mtmc.match.geometry import GroundMap, foot_points, project
from mtmc.types import Tracklet, TrackRows


def read_features(path: Path) -> dict[int, np.ndarray]:
    try:
        with np.load(path) as data:
            ids, feats = np.asarray(data["track_id"]).astype(np.int64), np.asarray(data["feature"], np.float32)
    except KeyError as exc:
        raise InputFormatError(path, f"missing array {exc} (expected track_id and feature)") from None
    except (OSError, ValueError) as exc:
        raise InputFormatError(path, f"not a readable .npz ({exc})") from None
    feats = feats.reshape(len(ids), -1)
    return {int(i): f for i, f in zip(ids.tolist(), feats)}


def read_camera_tracklets(camera: MatchCamera, tracks_dir: Path) -> list[Tracklet]:
    path = Path(tracks_dir) / f"{camera.id}.txt"
    if not path.is_file():
        raise MtmcError(f"tracks file not found: {path} (expected one {camera.id}.txt per camera in --tracks)")
    rows = read_mot(path, what="tracks file")
    npz = path.with_suffix(".npz")
    feats = read_features(npz) if npz.is_file() else {}
    out = []
    for track in np.unique(rows.id).tolist():
        r = rows.take(rows.id == track)
        r = r.take(np.argsort(r.frame, kind="stable"))
        feature = feats.get(int(track))
        out.append(
            Tracklet(
                camera=camera.number,
                track=int(track),
                frames=r.frame,
                boxes=r.xywh,
                times=camera.offset_s + (r.frame - 1) / camera.fps,
                feature=feature,
                feature_count=0 if feature is None else 1,
                ended=True,
            )
        )
    return out


def global_ids(tracklets: Sequence[Tracklet], labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 1..K in order of each identity's first appearance on the global clock."""
    first: dict[int, tuple[float, int]] = {}
    for k, (t, label) in enumerate(zip(tracklets, labels.tolist())):
        key = (t.start, k)
        if label not in first or key < first[label]:
            first[label] = key
    order = sorted(first, key=lambda label: first[label])
    number = {label: k + 1 for k, label in enumerate(order)}
    return np.array([number[label] for label in labels.tolist()], np.int64)


def identity_rows(tracklets: Sequence[Tracklet], ids: np.ndarray) -> TrackRows:
    parts = [
        TrackRows(frame=t.frames, id=np.full(len(t.frames), i), xywh=t.boxes, camera=np.full(len(t.frames), t.camera))
        for t, i in zip(tracklets, ids.tolist())
    ]
    return TrackRows.concat(parts)


def ground_points(rows: TrackRows, homographies: dict[int, GroundMap | np.ndarray]) -> np.ndarray:
    """(N, 2) where each box's foot stands on the ground, through its camera's ground map: metres
    (GPS calibrations: east/north metres from the run's origin, ``ground_maps``); -1 where unknown
    (no ground map, or a foot at the horizon), as AI City's xworld/yworld."""
    world = np.full((len(rows), 2), -1.0)
    for camera, h in homographies.items():
        mine = rows.camera == camera
        if mine.any():
            world[mine] = np.nan_to_num(project(h, foot_points(rows.xywh[mine])), nan=-1.0)
    return world


def write_submission(path: Path, rows: TrackRows, homographies: dict[int, GroundMap | np.ndarray]) -> None:
    write_aicity(path, rows, ground_points(rows, homographies))


def write_mot_dir(directory: Path, rows: TrackRows, cameras: Sequence[MatchCamera]) -> None:
    for camera in cameras:
        write_mot(directory / f"{camera.id}.txt", rows.take(rows.camera == camera.number))
