"""Pseudo-identities of mined tracks: one per track at first, then clusters of tracks across cameras.

Round 0 labels every track as its own identity (tracks of one camera that overlap in time are
different vehicles by construction; tracks that do not overlap may be one vehicle, label noise
that is accepted). A later round embeds every crop with the current model, averages each track's
L2-normalised crop features (as the matcher does), and clusters the tracks with the matcher's own
core: cosine distance, the topology's travel-time gates (a pair that fails its gate is no direct
evidence), the cannot-link constraint (tracks of one camera that overlap in time never merge; by
default no two tracks of one camera merge at all) and constrained agglomerative clustering
(:func:`mtmc.match.cluster.constrained_agglomerative`), the bottom-up clustering of unsupervised
re-id (Lin et al., AAAI 2019) with constraints.

The stopping distance is calibrated on the data rather than fixed: it is the ``link_quantile``
quantile of the distances between tracks of one camera, which are different vehicles by the same
rule that round 0 trains on. Only pairs closer than all but that fraction of known-different pairs
merge, whatever the model's distance scale, so the links are confident ones.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.cluster import constrained_agglomerative
from mtmc.match.config import TopologyConfig
from mtmc.match.distances import DISTANCES, Scene
from mtmc.match.gates import cannot_link, time_gates
from mtmc.reid.adapt.config import RoundsConfig
from mtmc.reid.adapt.tracks import CameraTrack
from mtmc.types import Tracklet


@dataclass(frozen=True)
class Clustering:
    """Labels (identity per track, 0..K-1) and how they were found: the calibrated stopping
    distance and the number of same-camera pairs it was calibrated on."""

    labels: np.ndarray
    threshold: float
    calibration_pairs: int


def one_track_one_identity(tracks: Sequence[CameraTrack]) -> np.ndarray:
    """Round 0's labels: track i is identity i."""
    return np.arange(len(tracks), dtype=np.int64)


def track_features(crop_features: np.ndarray, tracks: Sequence[CameraTrack]) -> np.ndarray:
    """(T, D) mean of each track's L2-normalised crop features; ``crop_features`` holds the crops of
    ``tracks`` in order (track 0's crops, then track 1's, ...)."""
    counts = [len(track.crop_paths) for track in tracks]
    if sum(counts) != len(crop_features):
        raise ValueError(f"{len(crop_features)} crop features for {sum(counts)} crops")
    unit = crop_features / np.maximum(np.linalg.norm(crop_features, axis=1, keepdims=True), 1e-12)
    bounds = np.cumsum([0, *counts])
    return np.stack([unit[start:stop].mean(axis=0) for start, stop in zip(bounds[:-1], bounds[1:])])


def tracklets_of(tracks: Sequence[CameraTrack], features: np.ndarray) -> list[Tracklet]:
    """The tracks as the matcher sees them: camera number, global times, boxes (x, y, w, h), feature."""
    return [
        Tracklet(
            camera=track.camera_number,
            track=index,
            frames=track.frames,
            boxes=np.column_stack([track.boxes[:, :2], track.boxes[:, 2:] - track.boxes[:, :2]]),
            times=track.times,
            feature=feature,
            feature_count=len(track.crop_paths),
            ended=True,
        )
        for index, (track, feature) in enumerate(zip(tracks, features))
    ]


def calibrated_threshold(distance: np.ndarray, cameras: np.ndarray, quantile: float) -> tuple[float, int]:
    """The ``quantile`` of the distances between tracks of one camera, and how many such pairs there are."""
    upper = np.triu_indices(len(cameras), k=1)
    same_camera = (cameras[:, None] == cameras[None, :])[upper]
    values = distance[upper][same_camera]
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise MtmcError(
            "rounds: no camera has two pseudo-identity tracks, so no distance between different vehicles "
            "calibrates the clustering; mine more footage or set rounds.count: 0"
        )
    return float(np.quantile(values, quantile)), len(values)


def cluster_tracks(
    tracks: Sequence[CameraTrack],
    features: np.ndarray,
    rounds: RoundsConfig,
    topology: TopologyConfig | None = None,
) -> Clustering:
    """Cross-camera identities of ``tracks`` from their (T, D) track-mean ``features``."""
    if len(tracks) != len(features):
        raise ValueError(f"{len(features)} features for {len(tracks)} tracks")
    tracklets = tracklets_of(tracks, features)
    topology = topology if rounds.use_topology else None
    plain = DISTANCES.build("cosine")(tracklets, Scene())  # every pair: the calibration needs same-camera ones
    np.fill_diagonal(plain, np.nan)
    cameras = np.array([track.camera_number for track in tracks])
    threshold, pairs = calibrated_threshold(plain, cameras, rounds.link_quantile)
    gated = np.where(time_gates(tracklets, topology), plain, np.nan)
    forbidden = cannot_link(tracklets, topology)
    if not rounds.same_camera:
        forbidden |= cameras[:, None] == cameras[None, :]
        np.fill_diagonal(forbidden, False)
    labels = constrained_agglomerative(gated, forbidden, threshold, rounds.linkage)
    return Clustering(labels, threshold, pairs)


def write_training_set(tracks: Sequence[CameraTrack], labels: np.ndarray, folder: Path) -> None:
    """The ``folders`` layout of the labelled crops, ``folder/<identity>/<camera>/<track>_<frame>.jpg``,
    as hard links to the mined crops (copies where the file system has none); replaces ``folder``."""
    shutil.rmtree(folder, ignore_errors=True)
    for track, label in zip(tracks, labels.tolist()):
        target = folder / f"id{label:05d}" / track.camera
        target.mkdir(parents=True, exist_ok=True)
        for path in track.crop_paths:
            link_or_copy(path, target / f"t{track.track:05d}_{path.name}")


def link_or_copy(path: Path, target: Path) -> None:
    """``target`` as a hard link to ``path`` (no space taken), or a copy where links are not possible."""
    try:
        os.link(path, target)
    except OSError:
        shutil.copy2(path, target)


def label_statistics(tracks: Sequence[CameraTrack], labels: np.ndarray) -> dict[str, Any]:
    """What a round trains on: identities, tracks, images, identities by number of tracks and of
    cameras; with ground truth also how right the labels are (:func:`purity`)."""
    images = np.array([len(track.crop_paths) for track in tracks])
    sizes = np.bincount(labels)
    cameras_per_identity = [len({tracks[i].camera for i in np.flatnonzero(labels == k)}) for k in range(len(sizes))]
    statistics: dict[str, Any] = {
        "identities": int(len(sizes)),
        "tracks": len(tracks),
        "images": int(images.sum()),
        "images_per_identity": {
            "min": int(np.bincount(labels, weights=images).min()),
            "median": float(np.median(np.bincount(labels, weights=images))),
            "max": int(np.bincount(labels, weights=images).max()),
        },
        "identities_by_tracks": {str(k): v for k, v in sorted(Counter(sizes.tolist()).items())},
        "identities_by_cameras": {str(k): v for k, v in sorted(Counter(cameras_per_identity).items())},
    }
    if all(track.truth is not None for track in tracks):
        statistics["truth"] = purity(tracks, labels)
    return statistics


def purity(tracks: Sequence[CameraTrack], labels: np.ndarray) -> dict[str, Any]:
    """How the pseudo-labels agree with ground truth (crops matched to a ground-truth box only):

    - ``image_purity``: the fraction of crops whose vehicle is their identity's most common vehicle;
    - ``link_precision`` / ``link_recall``: of the pairs of tracks in different cameras given one
      identity, the fraction that are one vehicle; of the pairs of tracks in different cameras that
      are one vehicle (by their crops' majority), the fraction given one identity (None: no pairs);
    - ``vehicles`` seen, and ``identities_per_vehicle`` (1: none split).
    """
    truth = np.concatenate([track.truth for track in tracks])
    image_labels = np.repeat(labels, [len(track.crop_paths) for track in tracks])
    known = truth >= 0
    correct = 0
    for label in np.unique(image_labels[known]):
        vehicles = truth[known & (image_labels == label)]
        correct += int(np.bincount(vehicles).max())
    majority = np.array([track.majority_truth() for track in tracks])
    cameras = np.array([track.camera for track in tracks])
    upper = np.triu_indices(len(tracks), k=1)
    other_camera = (cameras[:, None] != cameras[None, :])[upper]
    linked = (labels[:, None] == labels[None, :])[upper] & other_camera
    both_known = ((majority[:, None] >= 0) & (majority[None, :] >= 0))[upper]
    same_vehicle = (majority[:, None] == majority[None, :])[upper] & both_known & other_camera
    vehicles = majority[majority >= 0]
    identities_per_vehicle = [len(np.unique(labels[majority == vehicle])) for vehicle in np.unique(vehicles)]
    return {
        "matched_images": int(known.sum()),
        "image_purity": correct / max(int(known.sum()), 1),
        "cross_camera_links": int(linked.sum()),
        "link_precision": _ratio(int((linked & same_vehicle).sum()), int((linked & both_known).sum())),
        "link_recall": _ratio(int((linked & same_vehicle).sum()), int(same_vehicle.sum())),
        "vehicles": int(len(np.unique(vehicles))),
        "identities_per_vehicle": float(np.mean(identities_per_vehicle)) if identities_per_vehicle else None,
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
