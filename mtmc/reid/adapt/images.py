"""Pseudo-identities' raw material from a folder of vehicle crops instead of footage.

Re-id sets and exports of other systems are crops, not videos: one vehicle per image, each image
from a known camera, no identity. Each image becomes a one-crop track of its camera, so the rest of
adaptation is unchanged, except that round 0 cannot train on "one track, one identity" (a single
crop teaches nothing but augmentation): it clusters the crops across cameras with the model it
starts from instead (:func:`mtmc.reid.adapt.runner.adapt`). Two crops of one camera are taken to be
different vehicles, as in re-id sets that keep one view per vehicle and camera; the clustering's
stopping distance is calibrated on those pairs.

The camera of an image is its folder below ``root`` (``root/<camera>/<image>``), or the ``camera``
group of ``camera_pattern`` matched in its name (``car_0088_cam2.jpg`` with ``_cam(?P<camera>\\d+)\\.``).
``truth_pattern``'s ``identity`` group, when given, labels the report's purity numbers, never training.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.reid.adapt.config import ImageSourceConfig
from mtmc.reid.adapt.tracks import CameraTrack, MinedSource

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def image_tracks(source: ImageSourceConfig) -> MinedSource:
    """Every image of ``source`` as a one-crop :class:`CameraTrack`, cameras numbered 1.. in name order."""
    paths = _listed_images(source)
    cameras = [_camera_of(path, source) for path in paths]
    truths = (
        None if source.truth_pattern is None else [_match(source.truth_pattern, "identity", p) for p in paths]
    )
    numbers = {name: index + 1 for index, name in enumerate(sorted(set(cameras)))}
    vehicles = {name: index for index, name in enumerate(sorted(set(truths or [])))}
    tracks = [
        CameraTrack(
            camera=camera,
            track=index,
            frames=np.ones(1, np.int64),
            boxes=np.zeros((1, 4), np.float32),
            scores=np.ones(1, np.float32),
            crop_frames=np.ones(1, np.int64),
            crop_paths=[path],
            offset_s=0.0,
            fps=1.0,
            truth=None if truths is None else np.array([vehicles[truths[index]]], np.int64),
            number=numbers[camera],
        )
        for index, (path, camera) in enumerate(zip(paths, cameras))
    ]
    summary: dict[str, dict[str, Any]] = {
        name: {
            "source": str(source.root),
            "frames": 0,
            "tracks": cameras.count(name),
            "identities": cameras.count(name),
            "rejected": {},
            "has_truth": truths is not None,
            "seconds": 0.0,
        }
        for name in numbers
    }
    return MinedSource(tracks, summary, cached=False, has_truth=truths is not None)


def _listed_images(source: ImageSourceConfig) -> list[Path]:
    root = source.root
    if not root.is_dir():
        raise MtmcError(f"source.images.root: {root} is not a folder; give the folder of vehicle crops")
    if source.list is None:
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    else:
        try:
            names = [line.strip() for line in source.list.read_text(encoding="utf-8").splitlines()]
        except OSError as error:
            raise MtmcError(f"source.images.list: cannot read {source.list} ({error.strerror})") from None
        paths = [root / name for name in names if name and not name.startswith("#")]
        missing = [path for path in paths if not path.is_file()]
        if missing:
            raise MtmcError(
                f"source.images.list: {missing[0].name} ({len(missing)} of {len(paths)} listed) not found under {root}"
            )
    if not paths:
        raise MtmcError(f"source.images: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    return paths


def _camera_of(path: Path, source: ImageSourceConfig) -> str:
    if source.camera_pattern is not None:
        return _match(source.camera_pattern, "camera", path)
    relative = path.relative_to(source.root)
    if len(relative.parts) < 2:
        raise MtmcError(
            f"source.images: {relative} is not in a camera folder; lay crops out as root/<camera>/<image> "
            "or set camera_pattern (a regular expression with a 'camera' group)"
        )
    return relative.parts[0]


def _match(pattern: str, group: str, path: Path) -> str:
    found = re.search(pattern, path.name)
    if found is None or not found.group(group):
        raise MtmcError(
            f"source.images: {path.name} does not match {pattern!r} (its {group!r} group names the {group})"
        )
    return found.group(group)
