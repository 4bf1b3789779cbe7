"""Is a camera's batch fit for this run? Checked before it is journaled, and again on replay.

The codec (:func:`mtmc.transport.codec.decode`) checks that a message is well formed: types, finite
numbers, sizes, frames increasing within an update. What only the run knows is checked here: the
feature has the length of the run's embedder (a 3-d feature from a stray process once crashed every
restart of the matcher, replaying it from the journal), attributes are the ones the run's model
sends, boxes have a positive size and lie in the camera's frame (its size as the worker says it), a track's new rows start where the matcher's
copy ends and after its last frame, and an ended track gets no more rows.

An update that fails is dropped and counted by reason; the batch keeps its number and progress
mark with the updates that pass, so the camera's numbered sequence (go-back-N) never stalls on a
bad message and every journal replays the same way. Replay screens old journals with the same
rules, so a record that a new version refuses is skipped, not applied: a journal never locks a
run out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mtmc.transport.codec import Batch, TrackletUpdate

log = logging.getLogger(__name__)

MAX_COORDINATE = float(1 << 16)  # pixels: no camera frame is wider or taller


@dataclass
class _Track:
    """What the screen knows of a track: rows held, the frame of the last one."""

    rows: int = 0
    last_frame: int = -1


class BatchScreen:
    """``screen(batch)`` -> (the batch with the updates fit for the run, refusals by reason).

    Batches are screened in the order they are applied (numbered, per camera), so the screen keeps
    its own copy of each track's rows and whether it ended, and a second batch of a camera received
    before the first was applied is judged after the first. ``feature_dim``: the run's embedder's
    feature length (None: the first feature screened fixes it); ``attributes``: the sizes of the
    attributes the run's model sends (none: no attributes)."""

    def __init__(self, feature_dim: int | None, attributes: Mapping[str, int] | None = None) -> None:
        self.feature_dim = feature_dim
        self.attributes = dict(attributes or {})
        self.refused: Counter = Counter()
        self._tracks: dict[tuple[int, int], _Track] = {}
        self._ended: set[tuple[int, int]] = set()
        self._frame_sizes: dict[int, tuple[int, int]] = {}  # camera -> (width, height), as its worker said last

    def screen(self, batch: Batch) -> tuple[Batch, Counter]:
        refusals: Counter = Counter()
        kept = []
        if batch.frame_size is not None:
            self._frame_sizes[batch.camera] = batch.frame_size
        frame = self._frame_sizes.get(batch.camera)
        for update in batch.updates:
            key = (batch.camera, update.track)
            reason = self._problem(update, key, frame)
            if reason is not None:
                refusals[reason] += 1
                continue
            kept.append(update)
            track = self._tracks.setdefault(key, _Track())
            new = len(update.frames) - (track.rows - update.first_row)
            if new > 0:
                track.rows, track.last_frame = track.rows + new, int(update.frames[-1])
            if update.ended:
                del self._tracks[key]
                self._ended.add(key)
        if refusals:
            self.refused.update(refusals)
            batch = dataclasses.replace(batch, updates=tuple(kept))
        return batch, refusals

    def _problem(self, update: TrackletUpdate, key: tuple[int, int], frame: tuple[int, int] | None) -> str | None:
        """The reason ``update`` is refused, or None."""
        if update.feature is not None:
            if self.feature_dim is None:
                self.feature_dim = len(update.feature)
                log.info("feature length %d, from the first feature (the embedder's files do not say)", self.feature_dim)
            if len(update.feature) != self.feature_dim:
                return "feature_length"
        for name, scores in update.attributes.items():
            if self.attributes.get(name) != len(scores):
                return "attributes"
        if key in self._ended:
            return "track_ended"
        track = self._tracks.get(key) or _Track()
        if update.first_row > track.rows:
            return "row_gap"
        new = len(update.frames) - (track.rows - update.first_row)
        if new > 0:
            if int(update.frames[-new]) <= track.last_frame:
                return "frames_backwards"
            if not _boxes_fit(update.boxes[-new:], frame):
                return "box"
        return None


def _boxes_fit(boxes: np.ndarray, frame: tuple[int, int] | None) -> bool:
    """(x, y, w, h) rows with a positive size that lie in the camera's ``frame`` (width, height):
    each overlaps it and is at most twice its size (a tracker's box may run over an edge). Without
    a frame size (a journal of an older worker): inside any frame, |x|, |y|, x + w, y + h within
    :data:`MAX_COORDINATE`."""
    if not len(boxes):
        return True
    sizes = boxes[:, 2:]
    corners = np.concatenate([boxes[:, :2], boxes[:, :2] + sizes], axis=1)
    if not ((sizes > 0).all() and (np.abs(corners) <= MAX_COORDINATE).all()):
        return False
    if frame is None:
        return True
    extent = np.array(frame, np.float64)
    overlaps = (corners[:, :2] < extent) & (corners[:, 2:] > 0)
    return bool(overlaps.all() and (sizes <= 2 * extent).all())
