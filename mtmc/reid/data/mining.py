"""Labelled re-id sets mined from unlabelled footage with the single-camera pipeline.

The camera pipeline's parts (source -> detector -> tracker, :func:`mtmc.camera.build_parts`; by
default YOLOX-Nano ONNX and ``deepsort-byte`` on CPU) run over a video; every confirmed track keeps
its boxes and scores and a bounded, evenly spread sample of crops of confident, whole (not cut off
by the border), not tiny boxes. A confident, long track whose crops move (not a parked car) becomes
one pseudo-identity; its usable time span is cut
into segments that play the cameras of a re-id set, so that query and gallery images of an
identity come from different times of its track (issue 6 point 7: "identity = one confident long
track; query and gallery from different time segments of a track, as different cameras").

Tracks of one camera that overlap in time are different vehicles, and one track is one identity,
so such tracks are different identities by construction. Tracks that do not overlap may still be
one vehicle (a fragmented track, or the same car in two videos): that label noise is accepted, and
the summary lists each identity's video and frame span for anyone who wants cannot-link pairs.

    tracks = mine_tracks("street-a.mp4")
    identities, rejected = select_identities(tracks)
    summary = write_reid_set(identities, "runs/reid-street", test_fraction=0.5, seed=0)
    splits = load_dataset("folders", "runs/reid-street")

or all at once, skipped when the folder already holds a set built with the same parameters::

    summary = build_reid_set(["street-a.mp4", "street-b.mp4"], "runs/reid-street")

Layout written (read by the ``folders`` dataset): ``train/<identity>/s<k>/<frame>.jpg`` for
training identities, ``query/<identity>/s0/`` and ``gallery/<identity>/s<k>/`` (k >= 1) for
evaluation identities, and ``summary.json``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.errors import MtmcError

if TYPE_CHECKING:
    from mtmc.config import CameraConfig, MtmcConfig

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
SUMMARY_FORMAT = "mtmc-reid-mining/1"
SPLIT_FOLDERS = ("train", "query", "gallery")


@dataclass(frozen=True)
class MiningOptions:
    """Thresholds of crop collection (``frame_stride`` .. ``max_crops_per_track``), of identity
    selection (``min_track_frames`` .. ``min_images_per_segment``) and of the time segments."""

    frame_stride: int = 1  # run on every k-th frame of the video
    max_frames: int | None = None  # stop after this frame number of the video (None: to the end)
    min_score: float = 0.5  # a crop needs a detection at least this confident ...
    min_box_side: int = 32  # ... whose smaller side is at least this many pixels ...
    border_margin: int = 2  # ... and that stays this many pixels inside the image (not cut off)
    max_crops_per_track: int = 32  # crops kept per track, evenly spread over its usable frames
    min_track_frames: int = 24  # identity: the track spans at least this many video frames (1 s at 24 fps)
    min_mean_score: float = 0.6  # identity: mean detection score over the track
    min_travel: float = 1.0  # identity: box centre moves this many (median larger) box sides; parked cars do not
    segments: int = 2  # time segments per track, the "cameras" of the set
    segment_gap: float = 0.2  # fraction of the usable span left out around each boundary (evaluation ids)
    min_images_per_segment: int = 2  # identity: crops in every segment, gap left out

    def __post_init__(self) -> None:
        checks = [
            ("frame_stride", self.frame_stride, "an integer >= 1", _is_int(self.frame_stride, 1)),
            (
                "max_frames",
                self.max_frames,
                "an integer >= 1 or None",
                self.max_frames is None or _is_int(self.max_frames, 1),
            ),
            ("min_score", self.min_score, "a number with 0 <= value <= 1", _in(self.min_score, 0, 1)),
            ("min_box_side", self.min_box_side, "an integer >= 1", _is_int(self.min_box_side, 1)),
            ("border_margin", self.border_margin, "an integer >= 0", _is_int(self.border_margin, 0)),
            (
                "max_crops_per_track",
                self.max_crops_per_track,
                "an integer >= 2",
                _is_int(self.max_crops_per_track, 2),
            ),
            ("min_track_frames", self.min_track_frames, "an integer >= 1", _is_int(self.min_track_frames, 1)),
            (
                "min_mean_score",
                self.min_mean_score,
                "a number with 0 <= value <= 1",
                _in(self.min_mean_score, 0, 1),
            ),
            ("min_travel", self.min_travel, "a number >= 0", _in(self.min_travel, 0, np.inf)),
            ("segments", self.segments, "an integer >= 2", _is_int(self.segments, 2)),
            (
                "segment_gap",
                self.segment_gap,
                "a number with 0 <= value < 1",
                _in(self.segment_gap, 0, 1) and self.segment_gap < 1,
            ),
            (
                "min_images_per_segment",
                self.min_images_per_segment,
                "an integer >= 1",
                _is_int(self.min_images_per_segment, 1),
            ),
        ]
        for name, value, valid, ok in checks:
            if not ok:
                raise ValueError(f"MiningOptions.{name} must be {valid}, got {value!r}")


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= low


def _in(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


@dataclass
class MinedTrack:
    """One confirmed track of one video: every tracked detection (``frames`` 1-based video frame
    numbers, ``boxes`` x1 y1 x2 y2 of the matched detection, its ``scores``) and the crops (BGR
    uint8) of at most ``max_crops_per_track`` usable detections, at ``crop_frames``."""

    video: str
    track: int
    frames: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    crop_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    crops: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.frames = np.asarray(self.frames, np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        self.crop_frames = np.asarray(self.crop_frames, np.int64).reshape(-1)
        if not len(self.frames) == len(self.boxes) == len(self.scores) > 0:
            raise ValueError(
                f"track {self.name}: frames, boxes and scores must be non-empty and of one length, got "
                f"{len(self.frames)}, {len(self.boxes)}, {len(self.scores)}"
            )
        if len(self.crop_frames) != len(self.crops):
            raise ValueError(
                f"track {self.name}: {len(self.crops)} crops but {len(self.crop_frames)} crop frames"
            )
        if (np.diff(self.frames) <= 0).any() or not np.isin(self.crop_frames, self.frames).all():
            raise ValueError(f"track {self.name}: frames must increase and hold every crop frame")

    @property
    def name(self) -> str:
        """The identity's folder name: video and track id."""
        return f"{self.video}_t{self.track:05d}"

    @property
    def span_frames(self) -> int:
        """Video frames from the first to the last detection, both included."""
        return int(self.frames[-1] - self.frames[0] + 1)

    @property
    def mean_score(self) -> float:
        return float(self.scores.mean())

    @property
    def travel(self) -> float:
        """Distance between the box centres of the first and last crops, in median larger sides of the
        cropped boxes (0 without crops): a parked car stays put in its crops even while passing cars
        occlude it and shift its other boxes."""
        if len(self.crop_frames) == 0:
            return 0.0
        boxes = self.boxes[np.searchsorted(self.frames, self.crop_frames)]
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return float(np.linalg.norm(centres[-1] - centres[0]) / max(float(np.median(sides)), 1.0))


def crop_is_usable(box: np.ndarray, score: float, image_shape: tuple[int, ...], options: MiningOptions) -> bool:
    """Whether a detection gives a re-id image: confident, not tiny, and not cut off by the border."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    height, width = image_shape[:2]
    margin = options.border_margin
    return (
        score >= options.min_score
        and min(x2 - x1, y2 - y1) >= options.min_box_side
        and x1 >= margin
        and y1 >= margin
        and x2 <= width - margin
        and y2 <= height - margin
    )


class EvenSample:
    """At most ``capacity`` items of a stream of unknown length, evenly spread over it: item ``i`` is
    kept while ``i`` is a multiple of the current step, and the step doubles (dropping every other
    kept item) whenever the sample overflows, so between ``capacity / 2`` and ``capacity`` remain."""

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2, got {capacity}")
        self.capacity = capacity
        self.step = 1
        self.offered = 0
        self.kept: list[tuple[int, Any]] = []

    def wants_next(self) -> bool:
        """Whether the next offered item will be kept (so that an expensive item is made only then)."""
        return self.offered % self.step == 0

    def offer(self, item: Any) -> None:
        if self.wants_next():
            self.kept.append((self.offered, item))
            if len(self.kept) > self.capacity:
                self.step *= 2
                self.kept = [(i, kept) for i, kept in self.kept if i % self.step == 0]
        self.offered += 1

    def items(self) -> list[Any]:
        return [item for _, item in self.kept]


class TrackCollector:
    """Gathers :class:`MinedTrack` from a tracker's per-frame output (BoxMOT's ``(M, 8)`` rows
    ``[x1, y1, x2, y2, id, score, cls, det_index]``) and the frame's detections."""

    def __init__(self, video: str, options: MiningOptions | None = None) -> None:
        self.video = video
        self.options = options or MiningOptions()
        self._rows: dict[int, list[tuple[int, np.ndarray, float]]] = {}
        self._crops: dict[int, EvenSample] = {}

    def add(self, frame: int, image: np.ndarray, tracked: np.ndarray, detections: np.ndarray) -> None:
        """Record one frame: each tracked row's matched detection box and score, and its crop when usable
        and wanted by the track's even sample."""
        for row in np.asarray(tracked).reshape(-1, 8):
            track, detection = int(row[4]), detections[int(row[7])]
            box, score = detection[:4].astype(np.float32), float(detection[4])
            self._rows.setdefault(track, []).append((frame, box, score))
            if not crop_is_usable(box, score, image.shape, self.options):
                continue
            sample = self._crops.setdefault(track, EvenSample(self.options.max_crops_per_track))
            crop = None
            if sample.wants_next():  # copy the pixels only of crops that are kept
                x1, y1, x2, y2 = (int(round(float(v))) for v in box)
                crop = (frame, image[y1:y2, x1:x2].copy())
            sample.offer(crop)

    def tracks(self) -> list[MinedTrack]:
        """Every track seen so far, by id."""
        mined = []
        for track, rows in sorted(self._rows.items()):
            kept = self._crops[track].items() if track in self._crops else []
            mined.append(
                MinedTrack(
                    video=self.video,
                    track=track,
                    frames=[frame for frame, _, _ in rows],
                    boxes=np.stack([box for _, box, _ in rows]),
                    scores=[score for _, _, score in rows],
                    crop_frames=[frame for frame, _ in kept],
                    crops=[crop for _, crop in kept],
                )
            )
        return mined


def default_mining_config() -> MtmcConfig:
    """The default detector (``MtmcConfig``'s: vehicle-detection-0202, score >= 0.3) and the
    ``deepsort-byte`` tracker, on CPU.

    Not ``MtmcConfig()``'s plain Deep SORT: an identity is a whole track, and on street-a.mp4 Deep SORT
    cut two of the eight moving cars into two tracks each (two identities for one vehicle), where
    deepsort-byte's motion-only recovery of lost tracks keeps each of the eight in one track.
    """
    from mtmc.config import MtmcConfig
    from mtmc.schema import PartConfig

    return MtmcConfig(tracker=PartConfig(name="deepsort-byte"))


def mine_tracks(
    video: str | Path, config: MtmcConfig | None = None, options: MiningOptions | None = None, threads: int = 1
) -> list[MinedTrack]:
    """Detect and track ``video`` with ``config``'s parts (default: :func:`default_mining_config`)
    as a camera pipeline does, and collect every confirmed track with its crops."""
    from mtmc.config import CameraConfig
    from mtmc.sources import open_source

    options = options or MiningOptions()
    native_fps = open_source(video).fps
    fps = native_fps / options.frame_stride if options.frame_stride > 1 else None
    camera = CameraConfig(id="c001", source=str(video), fps=fps)
    return mine_camera(camera, config, options, threads, name=Path(video).stem)


def mine_camera(
    camera: CameraConfig,
    config: MtmcConfig | None = None,
    options: MiningOptions | None = None,
    threads: int = 1,
    name: str | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> list[MinedTrack]:
    """:func:`mine_tracks` for one camera of a run config (its source and frame rate as given);
    ``name`` labels the tracks (default: the camera id), ``on_frame(frame index)`` follows progress."""
    from mtmc.camera import build_parts, embed_for_tracker

    options = options or MiningOptions()
    config = config or default_mining_config()
    source, detector, tracker, embedder = build_parts(camera, config, threads)
    collector = TrackCollector(name or camera.id, options)
    for frame in source:
        if options.max_frames is not None and frame.index > options.max_frames:
            break
        detections = detector.detect(frame.image)
        embeddings = None
        if embedder is not None:
            embeddings = embed_for_tracker(embedder, tracker, frame.image, detections)
        tracked = tracker.update(detections, embeddings, frame.index)
        collector.add(frame.index, frame.image, tracked, detections)
        if on_frame is not None:
            on_frame(frame.index)
    return collector.tracks()


def time_segments(track: MinedTrack, segments: int, gap: float = 0.0) -> np.ndarray:
    """Segment index (0..segments-1) of each crop by its time within the track's crop span: the span
    is cut into ``segments`` equal parts; crops within ``gap / 2`` of the span from an inner boundary
    get -1 (left out, so that query and gallery images are never neighbouring frames)."""
    if segments < 1 or not 0 <= gap < 1:
        raise ValueError(f"need segments >= 1 and 0 <= gap < 1, got {segments} and {gap}")
    frames = track.crop_frames
    if len(frames) == 0:
        return np.zeros(0, np.int64)
    first, last = frames.min(), frames.max()
    position = (frames - first) / max(last - first, 1)
    segment = np.minimum((position * segments).astype(np.int64), segments - 1)
    boundaries = np.arange(1, segments) / segments
    near = np.abs(position[:, None] - boundaries[None, :]).min(axis=1) < gap / 2 if segments > 1 else False
    return np.where(near, -1, segment)


def rejection_reason(track: MinedTrack, options: MiningOptions | None = None) -> str | None:
    """Why ``track`` is not a pseudo-identity (``short``, ``low-score``, ``few-images``: too few usable
    crops, i.e. tiny, cut-off or unconfident boxes, in some segment, ``static``: its crops do not move),
    None when it is one."""
    options = options or MiningOptions()
    if track.span_frames < options.min_track_frames:
        return "short"
    if track.mean_score < options.min_mean_score:
        return "low-score"
    segment = time_segments(track, options.segments, options.segment_gap)
    per_segment = np.bincount(segment[segment >= 0], minlength=options.segments)
    if per_segment.min() < options.min_images_per_segment:
        return "few-images"
    if track.travel < options.min_travel:
        return "static"
    return None


def select_identities(
    tracks: Sequence[MinedTrack], options: MiningOptions | None = None
) -> tuple[list[MinedTrack], Counter[str]]:
    """The tracks that are pseudo-identities (one track = one identity), and how many were rejected
    for each reason of :func:`rejection_reason`."""
    kept, rejected = [], Counter[str]()
    for track in tracks:
        reason = rejection_reason(track, options)
        if reason is None:
            kept.append(track)
        else:
            rejected[reason] += 1
    return kept, rejected


def write_reid_set(
    tracks: Sequence[MinedTrack],
    out_dir: str | Path,
    test_fraction: float = 0.5,
    seed: int = 0,
    options: MiningOptions | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the identities ``tracks`` in the ``folders`` layout and return the summary (also written
    to ``summary.json``; ``parameters`` is recorded in it as given).

    A seeded permutation sends ``round(test_fraction * N)`` identities (at least 1 when
    ``test_fraction > 0``, at most N - 1) to evaluation and the rest to train, disjoint. A training
    identity's crops go to ``train/<id>/s<k>/`` by segment; an evaluation identity's segment-0 crops
    are its queries and its later segments its gallery, with the gap left out. Only a folder this
    function wrote (it holds ``summary.json``) or an empty one is overwritten.
    """
    import cv2

    options = options or MiningOptions()
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be a number with 0 <= value < 1, got {test_fraction!r}")
    names = [track.name for track in tracks]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise MtmcError(f"identity names must be unique, {duplicated[0]} occurs twice (two videos of one name?)")
    count = len(tracks)
    minimum = 2 if test_fraction > 0 else 1
    if count < minimum:
        raise MtmcError(
            f"{count} identities found, need at least {minimum}: mine more video or relax MiningOptions "
            "(min_track_frames, min_mean_score, min_travel, min_box_side)"
        )
    n_test = min(max(round(test_fraction * count), 1), count - 1) if test_fraction > 0 else 0
    order = sorted(range(count), key=lambda i: names[i])
    permuted = np.random.default_rng(seed).permutation(count)
    test = {order[i] for i in permuted[:n_test]}

    out_dir = Path(out_dir)
    _prepare_folder(out_dir)
    header = {"format": SUMMARY_FORMAT, "complete": False, "parameters": parameters or {}}
    _write_json(out_dir / SUMMARY_FILE, header)
    images = Counter[str]()
    identities = []
    for index in order:
        track = tracks[index]
        evaluation = index in test
        segment = time_segments(track, options.segments, options.segment_gap if evaluation else 0.0)
        if evaluation and not ((segment == 0).any() and (segment > 0).any()):
            raise MtmcError(
                f"{track.name} has no crops for its query or gallery segment: choose identities with "
                "select_identities first"
            )
        written = Counter[str]()
        for crop, frame, k in zip(track.crops, track.crop_frames, segment):
            if k < 0:
                continue
            split = ("query" if k == 0 else "gallery") if evaluation else "train"
            folder = out_dir / split / track.name / f"s{k}"
            folder.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(folder / f"{frame:06d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise MtmcError(f"cannot write {folder / f'{frame:06d}.jpg'} (disk full or read-only?)")
            written[split] += 1
        images.update(written)
        identities.append(
            {
                "name": track.name,
                "video": track.video,
                "track": int(track.track),
                "split": "test" if evaluation else "train",
                "first_frame": int(track.frames[0]),
                "last_frame": int(track.frames[-1]),
                "mean_score": round(track.mean_score, 4),
                "images": dict(written),
            }
        )
    summary = {
        **header,
        "complete": True,
        "options": asdict(options),
        "test_fraction": test_fraction,
        "seed": seed,
        "splits": {
            split: {
                "identities": sum(1 for item in identities if split in item["images"]),
                "images": images[split],
            }
            for split in SPLIT_FOLDERS
        },
        "identities": identities,
    }
    _write_json(out_dir / SUMMARY_FILE, summary)
    return summary


def build_reid_set(
    videos: Sequence[str | Path],
    out_dir: str | Path,
    config: MtmcConfig | None = None,
    options: MiningOptions | None = None,
    test_fraction: float = 0.5,
    seed: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """Mine ``videos``, select identities and write the set to ``out_dir``; when ``out_dir`` already
    holds a complete set built with the same videos (path and size), parts and options, return its
    summary (with ``"cached": True``) without running anything."""
    options = options or MiningOptions()
    config = config or default_mining_config()
    paths = [Path(video).resolve() for video in videos]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise MtmcError(f"video not found: {missing[0]} (check the path)")
    parameters = _normalised(
        {
            "videos": [{"path": str(path), "bytes": path.stat().st_size} for path in paths],
            "detector": config.detector.model_dump(),
            "tracker": config.tracker.model_dump(),
            "embedder": config.embedder.model_dump() if config.embedder is not None else None,
            "options": asdict(options),
            "test_fraction": test_fraction,
            "seed": seed,
        }
    )
    previous = _read_summary(Path(out_dir))
    if previous is not None and previous.get("complete") and previous.get("parameters") == parameters:
        return {**previous, "cached": True}

    identities: list[MinedTrack] = []
    per_video = {}
    for path in paths:
        started = time.perf_counter()
        tracks = mine_tracks(path, config, options, threads)
        kept, rejected = select_identities(tracks, options)
        seconds = time.perf_counter() - started
        per_video[path.stem] = {
            "tracks": len(tracks),
            "tracks_with_crops": sum(1 for track in tracks if track.crops),
            "identities": len(kept),
            "rejected": dict(sorted(rejected.items())),
            "seconds": round(seconds, 2),
        }
        log.info("%s: %d tracks, %d identities in %.1f s", path.name, len(tracks), len(kept), seconds)
        identities.extend(kept)
    summary = write_reid_set(identities, out_dir, test_fraction, seed, options, parameters)
    summary["videos"] = per_video
    _write_json(Path(out_dir) / SUMMARY_FILE, summary)
    return {**summary, "cached": False}


def _normalised(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from JSON (tuples become lists), so that it compares with a stored one."""
    return json.loads(json.dumps(value, default=str))


def _read_summary(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("format") == SUMMARY_FORMAT else None


def _prepare_folder(out_dir: Path) -> None:
    """Make ``out_dir`` ready for a new set: remove the splits of a set written here before; refuse a
    non-empty folder that holds no such set."""
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if _read_summary(out_dir) is None:
            raise MtmcError(
                f"{out_dir} is not empty and holds no {SUMMARY_FILE} of a mined set: choose an empty "
                "or new folder (nothing there is overwritten)"
            )
        for split in SPLIT_FOLDERS:
            shutil.rmtree(out_dir / split, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)
