"""The data types every stage shares.

``TrackRows`` holds boxes of many tracks as parallel arrays (one row per box), so that readers,
metrics and writers sort, filter and join whole files with numpy instead of looping per box.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class TrackRows:
    """Boxes of tracks: row ``i`` is track ``id[i]`` seen at ``frame[i]`` by ``camera[i]``.

    Frames are 1-based (MOTChallenge / AI City convention). ``xywh`` is the top-left corner,
    width and height in pixels. ``score`` is the confidence column (1 where the format has none).
    """

    frame: np.ndarray
    id: np.ndarray
    xywh: np.ndarray
    score: np.ndarray = field(default=None)  # type: ignore[assignment]
    camera: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.frame)
        object.__setattr__(self, "frame", np.asarray(self.frame, dtype=np.int64).reshape(n))
        object.__setattr__(self, "id", np.asarray(self.id, dtype=np.int64).reshape(n))
        object.__setattr__(self, "xywh", np.asarray(self.xywh, dtype=np.float64).reshape(n, 4))
        score = np.ones(n) if self.score is None else self.score
        camera = np.zeros(n, dtype=np.int64) if self.camera is None else self.camera
        object.__setattr__(self, "score", np.asarray(score, dtype=np.float64).reshape(n))
        object.__setattr__(self, "camera", np.asarray(camera, dtype=np.int64).reshape(n))
        for f in fields(self):
            if len(getattr(self, f.name)) != n:
                raise ValueError(f"TrackRows.{f.name} has {len(getattr(self, f.name))} rows, expected {n}")

    @classmethod
    def empty(cls) -> TrackRows:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)))

    @classmethod
    def concat(cls, parts: list[TrackRows]) -> TrackRows:
        if not parts:
            return cls.empty()
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, index: np.ndarray) -> TrackRows:
        """Rows selected by a boolean mask or an index array, in that order."""
        return TrackRows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def replace(self, **columns: np.ndarray) -> TrackRows:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(columns)
        return TrackRows(**values)

    @property
    def cameras(self) -> np.ndarray:
        return np.unique(self.camera)


@dataclass
class Tracklet:
    """One camera's track as the cross-camera matcher sees it.

    ``camera`` is the AI City camera number (c006 -> 6) and ``track`` the camera's local track id.
    ``frames`` (1-based), ``boxes`` (x, y, w, h pixels) and ``times`` (seconds on the global clock,
    i.e. with the camera's start offset added) are parallel. ``feature`` is the running mean of the
    track's appearance embeddings (not normalised; ``feature_count`` of them), None without
    appearance. ``attributes`` holds per-class scores (e.g. colour, type) when a model gives them.
    ``ended`` is set when the tracker has dropped the track. ``thumbnail``: a small JPEG crop of
    the vehicle the worker chose (its largest fully visible box), None when none was sent.
    """

    camera: int
    track: int
    frames: np.ndarray
    boxes: np.ndarray
    times: np.ndarray
    feature: np.ndarray | None = None
    feature_count: int = 0
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    ended: bool = False
    thumbnail: bytes | None = None

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.times = np.asarray(self.times, np.float64).reshape(-1)
        if not len(self.frames) == len(self.boxes) == len(self.times):
            raise ValueError(
                f"tracklet c{self.camera:03d}/{self.track}: frames, boxes and times differ in length "
                f"({len(self.frames)}, {len(self.boxes)}, {len(self.times)})"
            )
        if self.feature is not None:
            self.feature = np.asarray(self.feature, np.float32).reshape(-1)

    @property
    def key(self) -> tuple[int, int]:
        return (self.camera, self.track)

    @property
    def start(self) -> float:
        return float(self.times[0]) if len(self.times) else float("nan")

    @property
    def end(self) -> float:
        return float(self.times[-1]) if len(self.times) else float("nan")
