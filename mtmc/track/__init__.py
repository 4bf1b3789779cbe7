"""Single-camera trackers, built by name: ``build_tracker("deepsort", max_age=30)``.

Every tracker follows BoxMOT's contract, one instance per camera stream (ids count from 1):
``update(dets (N, 6) [x1, y1, x2, y2, score, cls], embeddings (N, D) | None, frame) -> (M, 8)
[x1, y1, x2, y2, id, score, cls, det_index]``. Defaults live in ``configs/<name>.yaml``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mtmc.registry import Registry
from mtmc.track.deepsort import DeepSort, build_deepsort


class Tracker(Protocol):
    def update(self, dets: np.ndarray, embeddings: np.ndarray | None, frame: int) -> np.ndarray: ...


TRACKERS: Registry[Tracker] = Registry("tracker")


@TRACKERS.register("deepsort")
def _deepsort(**options: Any) -> DeepSort:
    """Deep SORT as published."""
    return build_deepsort("deepsort", options)


@TRACKERS.register("deepsort-byte")
def _deepsort_byte(**options: Any) -> DeepSort:
    """Deep SORT with motion-only recovery of lost tracks and ByteTrack's low-score stage."""
    return build_deepsort("deepsort-byte", options)


@TRACKERS.register("deepsort-bot")
def _deepsort_bot(**options: Any) -> DeepSort:
    """deepsort-byte with BoT-SORT's (x, y, w, h) Kalman state, IoU-only association, sizes frozen
    while lost, and ByteTrack's first-frame activation (motion only)."""
    return build_deepsort("deepsort-bot", options)


@TRACKERS.register("deepsort-strong")
def _deepsort_strong(**options: Any) -> DeepSort:
    """deepsort-byte with a fused motion + appearance cost and EMA features (StrongSORT, BoT-SORT)."""
    return build_deepsort("deepsort-strong", options)


def build_tracker(name: str = "deepsort", **options: Any) -> Tracker:
    return TRACKERS.build(name, **options)


__all__ = ["TRACKERS", "DeepSort", "Tracker", "build_tracker"]
