"""The sightings store's interface: one row per camera track (a *sighting*), with its global id.

A sighting is recorded when its tracklet ends (``global_id`` still None), given its id when the
association decides it (``assign``), and moves with its identity when online revision merges two
identities (``relabel``: every sighting of the old id, so none keeps a stale one). Writes gather in
a transaction until ``commit`` (the matcher commits once a tick). People's corrections
(:mod:`mtmc.store.corrections`) apply over the matcher's ids wherever identities are read.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtmc.types import Tracklet

SCHEMA_VERSION = 2  # 2: the corrections table (a version-1 store is read, and migrated by its first correction)


@dataclass
class Sighting:
    """One camera's track of one identity. ``boxes``: a few ``[frame, time_s, x, y, w, h]`` (first,
    middle, last); ``attributes``: ``{name: {"label": argmax class, "scores": {class: p}}}``;
    ``thumbnail``: the worker's JPEG crop of the vehicle (None: none sent)."""

    camera: int
    camera_name: str
    track: int
    global_id: int | None
    first_s: float
    last_s: float
    first_frame: int
    last_frame: int
    boxes: list[list[float]] = field(default_factory=list)
    feature: np.ndarray | None = None
    feature_count: int = 0
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    thumbnail: bytes | None = None

    @property
    def colour(self) -> str | None:
        return self.attributes.get("colour", {}).get("label")

    @property
    def vehicle_type(self) -> str | None:
        return self.attributes.get("type", {}).get("label")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the feature and thumbnail left out: ``feature_dim`` and ``thumbnail_bytes``
        say whether there is one)."""
        return {
            "global_id": self.global_id, "camera": self.camera_name, "camera_number": self.camera,
            "track": self.track, "first_s": self.first_s, "last_s": self.last_s,
            "first_frame": self.first_frame, "last_frame": self.last_frame, "boxes": self.boxes,
            "colour": self.colour, "type": self.vehicle_type, "attributes": self.attributes,
            "feature_dim": None if self.feature is None else int(self.feature.size), "feature_count": self.feature_count,
            "thumbnail_bytes": None if self.thumbnail is None else len(self.thumbnail),
        }  # fmt: skip


def attribute_scores(tracklet: Tracklet, labels: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """A tracklet's mean attribute scores -> ``{name: {label, scores}}`` (class names from ``labels``
    when their count fits, else the class's index); an all-zero row (nothing seen) is left out."""
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(tracklet.attributes):
        scores = np.asarray(tracklet.attributes[name], np.float64).reshape(-1)
        if scores.size == 0 or not np.isfinite(scores).all() or not scores.any():
            continue
        classes = labels.get(name)
        if classes is None or len(classes) != scores.size:
            classes = tuple(str(k) for k in range(scores.size))
        out[name] = {"label": classes[int(np.argmax(scores))], "scores": {c: round(float(s), 4) for c, s in zip(classes, scores)}}
    return out


def key_boxes(tracklet: Tracklet) -> list[list[float]]:
    """First, middle and last ``[frame, time_s, x, y, w, h]`` of a tracklet (fewer when it is short)."""
    n = len(tracklet.frames)
    picks = sorted({0, n // 2, n - 1}) if n else []
    return [
        [int(tracklet.frames[k]), round(float(tracklet.times[k]), 3), *(round(float(v), 1) for v in tracklet.boxes[k])]
        for k in picks
    ]


class SightingStore(ABC):
    """Where sightings live: one schema and these methods over SQLite and PostgreSQL (``mtmc.store.sql``)."""

    @abstractmethod
    def record(self, tracklet: Tracklet, global_id: int | None = None) -> None:
        """A tracklet ended: store its sighting (a key already stored is left as it is)."""

    @abstractmethod
    def assign(self, key: tuple[int, int], global_id: int) -> None:
        """The association gave ``key`` (camera number, track) its global id."""

    @abstractmethod
    def relabel(self, ids: Mapping[int, int]) -> None:
        """Identities merged: every sighting of an old id (a key of ``ids``) takes the new one."""

    @abstractmethod
    def global_id(self, key: tuple[int, int]) -> int | None:
        """The stored id of a sighting (None: not decided or not stored)."""

    @abstractmethod
    def journey(self, global_id: int) -> list[Sighting]:
        """One identity's sightings in time order (empty: no such id)."""

    @abstractmethod
    def find(
        self, colour: str | None = None, vehicle_type: str | None = None, camera: str | None = None,
        since: float | None = None, until: float | None = None, limit: int | None = None,
    ) -> list[Sighting]:  # fmt: skip
        """Decided sightings matching every filter given (camera by name or number; seen at some
        time in ``[since, until]``, seconds on the run's clock), in time order."""

    def features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every decided sighting with a feature, for search by picture: global ids (N,) int64,
        feature counts (N,) int64 and features (N, D) float32 (a store holds one embedder's)."""
        found = [s for s in self.find() if s.feature is not None]
        dim = found[0].feature.size if found else 0
        return (
            np.array([s.global_id for s in found], np.int64), np.array([s.feature_count for s in found], np.int64),
            np.stack([s.feature for s in found]).astype(np.float32) if found else np.zeros((0, dim), np.float32),
        )  # fmt: skip

    def spans(self) -> list[tuple[int, str, float, float]]:
        """Every decided sighting's (global id, camera name, first_s, last_s), in time order: what
        the camera graph needs."""
        return [(int(s.global_id), s.camera_name, s.first_s, s.last_s) for s in self.find()]

    @abstractmethod
    def rows(self) -> list[tuple]:
        """Every sighting as a plain tuple, sorted (to compare two stores)."""

    @abstractmethod
    def prune(self) -> int:
        """Apply the retention (``keep_days``); how many sightings went."""

    @abstractmethod
    def commit(self) -> None:
        """Make the writes so far durable and visible to readers."""

    @abstractmethod
    def close(self) -> None:
        """Commit and close."""
