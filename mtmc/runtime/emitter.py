"""A camera's tracker output turned into numbered wire batches: track updates and a progress mark.

The emitter keeps, per live track, the rows not yet sent and the running sums of its embeddings
and attribute scores, so its memory is bounded by the number of live tracks, not by the run's length. It is pickled
into the worker's checkpoint, so a restarted worker continues with the same track numbering.

Each track also keeps one thumbnail: a small JPEG of its largest box that lies wholly inside the
frame (a clipped box only until a whole one is seen), re-encoded only when a box a quarter larger
comes, and sent once per change, not with every update, so messages stay small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtmc.transport.codec import MAX_MESSAGE_BYTES, MAX_THUMBNAIL_BYTES, THUMBNAIL_SIDE, Batch, TrackletUpdate

THUMBNAIL_QUALITY = 80
THUMBNAIL_GROWTH = 1.25  # a new thumbnail only for a box this much larger (in area) than the kept one
_EDGE = 2  # pixels: a box this close to the frame's border may be cut off by it
_MIN_SIDE = 8  # pixels: smaller boxes make no useful picture


def thumbnail_jpeg(image: np.ndarray, box: np.ndarray, side: int = THUMBNAIL_SIDE) -> bytes | None:
    """The crop of ``box`` (x1, y1, x2, y2) from a BGR ``image`` as JPEG, its longest side at most
    ``side`` pixels and its size within the wire's bound (quality lowered if need be); None: the
    box holds no pixels or no quality fits."""
    import cv2

    height, width = image.shape[:2]
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    crop = image[y1:y2, x1:x2]
    scale = side / max(crop.shape[:2])
    if scale < 1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    for quality in (THUMBNAIL_QUALITY, 60, 40):
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok and jpeg.size <= MAX_THUMBNAIL_BYTES:
            return jpeg.tobytes()
    return None


@dataclass
class _Track:
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    sent_rows: int = 0
    seq: int = 0
    feature_sum: np.ndarray | None = None
    feature_count: int = 0
    attribute_sums: dict[str, np.ndarray] = field(default_factory=dict)
    attribute_count: int = 0
    last_time: float = 0.0
    ended: bool = False
    # plain defaults (class attributes too): a checkpoint pickled before thumbnails still loads
    thumbnail: bytes | None = None
    thumbnail_area: float = 0.0
    thumbnail_whole: bool = False
    thumbnail_new: bool = False

    def offer(self, image: np.ndarray, box: np.ndarray) -> None:
        """Keep ``box``'s crop as the thumbnail when it is better than the one kept: whole where
        that one was clipped, or a quarter larger."""
        height, width = image.shape[:2]
        w, h = box[2] - box[0], box[3] - box[1]
        if min(w, h) < _MIN_SIDE:
            return
        whole = box[0] >= _EDGE and box[1] >= _EDGE and box[2] <= width - _EDGE and box[3] <= height - _EDGE
        area = float(w * h)
        if self.thumbnail is not None and (whole, area) <= (self.thumbnail_whole, self.thumbnail_area * THUMBNAIL_GROWTH):
            return
        jpeg = thumbnail_jpeg(image, box)
        if jpeg is not None:
            self.thumbnail, self.thumbnail_area, self.thumbnail_whole, self.thumbnail_new = jpeg, area, whole, True


class TrackletEmitter:
    """``add`` every frame's tracker output; ``flush`` at each commit for the messages to send."""

    frame_size: tuple[int, int] | None = None  # (width, height) of the frames seen (a class default: old checkpoints load)

    def __init__(self, camera: int) -> None:
        self.camera = camera
        self.frames_done = 0
        self.now = -np.inf
        self.promised = 0.0  # the closed_s of the last batch
        self._tracks: dict[int, _Track] = {}

    def add(
        self,
        frame: int,
        time_s: float,
        tracks: np.ndarray,
        embeddings: np.ndarray | None,
        alive: set[int] | None = None,
        attributes: dict[str, np.ndarray] | None = None,
        image: np.ndarray | None = None,
    ) -> None:
        """``tracks``: (M, 8) [x1, y1, x2, y2, id, score, cls, det_index]; ``embeddings``: (N, D) rows of
        this frame's detections; ``alive``: the tracker's live ids (a track not in it has ended; None:
        a track ends when it is missing from the output); ``attributes``: {name: (N, K)} scores of
        this frame's detections (zero rows: not classified this frame); ``image``: the frame (BGR),
        for the tracks' thumbnails (None: none)."""
        attributes = attributes or {}
        if image is not None:
            self.frame_size = (int(image.shape[1]), int(image.shape[0]))
        classified = len(next(iter(attributes.values()))) if attributes else 0
        for row in np.asarray(tracks, np.float64).reshape(-1, 8):
            track = self._tracks.setdefault(int(row[4]), _Track())
            track.frames.append(int(frame))
            track.boxes.append(np.array([row[0], row[1], row[2] - row[0], row[3] - row[1]], np.float32))
            track.times.append(float(time_s))
            track.last_time = float(time_s)
            det = int(row[7])
            if image is not None and det >= 0:  # a box matched to a detection, not a prediction
                track.offer(image, row[:4])
            if embeddings is not None and 0 <= det < len(embeddings) and np.any(embeddings[det]):
                vector = np.asarray(embeddings[det], np.float64)
                track.feature_sum = vector if track.feature_sum is None else track.feature_sum + vector
                track.feature_count += 1
            if 0 <= det < classified and all(np.any(scores[det]) for scores in attributes.values()):
                for name, scores in attributes.items():
                    value = np.asarray(scores[det], np.float64)
                    held = track.attribute_sums.get(name)
                    track.attribute_sums[name] = value if held is None else held + value
                track.attribute_count += 1
        seen = {int(i) for i in np.asarray(tracks).reshape(-1, 8)[:, 4]}
        still = alive if alive is not None else seen
        for track_id, track in self._tracks.items():
            if track_id not in still and track_id not in seen:
                track.ended = True
        self.now = float(time_s)
        self.frames_done += 1

    def end_all(self) -> None:
        """The source has ended: every track is over."""
        for track in self._tracks.values():
            track.ended = True

    def closed_s(self) -> float:
        """Every tracklet that will end at or before this time has ended already: live tracks may
        still grow from their last row on, and new tracks start after ``now``."""
        live = [t.last_time for t in self._tracks.values() if not t.ended]
        return min([self.now, *live]) if np.isfinite(self.now) else 0.0

    def flush(self, first_number: int, done: bool = False, max_bytes: int = MAX_MESSAGE_BYTES) -> list[Batch]:
        """The updates of the tracks that gained rows or ended, then the progress mark, as batches
        numbered from ``first_number``: one, unless the updates would exceed half of ``max_bytes``
        (then the earlier batches repeat the last promise and only the last one makes the new one).
        Ended tracks are forgotten."""
        updates: list[TrackletUpdate] = []
        for track_id in sorted(self._tracks):
            track = self._tracks[track_id]
            if not track.frames and not track.ended:
                continue
            feature = None if track.feature_sum is None else track.feature_sum / track.feature_count
            attributes = {name: total / track.attribute_count for name, total in track.attribute_sums.items()}
            updates.append(
                TrackletUpdate(
                    camera=self.camera,
                    track=track_id,
                    seq=track.seq,
                    first_row=track.sent_rows,
                    frames=np.asarray(track.frames, np.int32),
                    boxes=np.asarray(track.boxes, np.float32).reshape(-1, 4),
                    times=np.asarray(track.times, np.float64),
                    feature=feature,
                    feature_count=track.feature_count if feature is not None else 0,
                    attributes=attributes,
                    ended=track.ended,
                    thumbnail=track.thumbnail if track.thumbnail_new else None,
                )
            )
            track.thumbnail_new = False
            track.sent_rows += len(track.frames)
            track.seq += 1
            track.frames, track.boxes, track.times = [], [], []
        self._tracks = {i: t for i, t in self._tracks.items() if not t.ended}
        chunks: list[list[TrackletUpdate]] = [[]]
        size = 0
        for update in updates:
            cost = 64 + 28 * len(update.frames) + 2 * (0 if update.feature is None else update.feature.size)
            cost += sum(16 + 2 * v.size for v in update.attributes.values())
            cost += 0 if update.thumbnail is None else 8 + len(update.thumbnail)
            if chunks[-1] and size + cost > max_bytes // 2:
                chunks.append([])
                size = 0
            chunks[-1].append(update)
            size += cost
        before = self.promised
        self.promised = max(before, self.closed_s() if not done else (self.now if np.isfinite(self.now) else 0.0))
        last = len(chunks) - 1
        return [
            Batch(self.camera, first_number + k, self.promised if k == last else before, self.frames_done,
                  done and k == last, tuple(chunk), self.frame_size)  # fmt: skip
            for k, chunk in enumerate(chunks)
        ]
