"""What every source yields, and frame-rate subsampling shared by all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    index: int  # 1-based frame number in the source
    timestamp: float  # seconds since the source started
    image: np.ndarray  # BGR, uint8, (H, W, 3)


class Source:
    """A camera's frames. Subclasses implement ``_frames``; ``fps`` here is the native rate.

    ``lost_frames``: the 1-based native indices a file or folder could not read (a corrupt stretch
    of video, a corrupt image), in order, filled while iterating; the frames around them keep the
    indices and timestamps they have in an intact file. Streams reconnect instead and leave it empty.
    """

    name: str
    fps: float
    lost_frames: list[int]

    def __init__(self, name: str, fps: float, target_fps: float | None) -> None:
        if target_fps is not None and target_fps <= 0:
            raise ValueError(f"target fps must be > 0, got {target_fps}")
        self.name = name
        self.fps = fps
        self.target_fps = target_fps
        self.lost_frames = []

    def lost_summary(self) -> str:
        """The lost frames in one short text, e.g. ``"3 frames unreadable (289-291)"``; "" if none."""
        return describe_lost(self.lost_frames)

    def _frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        """Frames, keeping one per 1/target_fps seconds when subsampling (by timestamp)."""
        if self.target_fps is None or self.target_fps >= self.fps:
            yield from self._frames()
            return
        period = 1.0 / self.target_fps
        slack = 0.5 / self.fps  # take the frame nearest to when one is due
        due = None
        for frame in self._frames():
            if due is None or frame.timestamp >= due - slack:
                due = (frame.timestamp if due is None else due) + period
                yield frame

    @property
    def output_fps(self) -> float:
        return min(self.fps, self.target_fps) if self.target_fps else self.fps

    def native_frames(self) -> int | None:
        """How many frames the source holds, when known (files, folders); None for streams."""
        return None

    def expected_frames(self) -> int | None:
        """How many frames iteration will yield (after subsampling), when known: for progress bars."""
        native = self.native_frames()
        return None if native is None else int(np.ceil(native * self.output_fps / self.fps))


def describe_lost(indices: list[int], most: int = 4) -> str:
    """``"4 frames unreadable (7, 289-291)"``: runs compacted into ranges, at most ``most`` shown."""
    if not indices:
        return ""
    runs: list[list[int]] = []
    for index in sorted(set(indices)):
        if runs and index == runs[-1][1] + 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    shown = [str(a) if a == b else f"{a}-{b}" for a, b in runs[:most]]
    if len(runs) > most:
        more = len(runs) - most
        shown.append(f"+{more} more stretch{'es' if more != 1 else ''}")
    count = len(set(indices))
    return f"{count} frame{'s' if count != 1 else ''} unreadable ({', '.join(shown)})"
