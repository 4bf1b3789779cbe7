"""One camera's pipeline: source -> detector -> (embedder) -> tracker -> outputs.

Stage times are measured separately so that users see where a frame's milliseconds go.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.detect.base import Detector
from mtmc.errors import MtmcError
from mtmc.outputs import TrackWriter, VideoAnnotator
from mtmc.sources import Source, open_source


@dataclass
class CameraReport:
    camera: str
    frames: int = 0
    boxes: int = 0
    tracks: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: {"detect": 0.0, "embed": 0.0, "track": 0.0, "write": 0.0}
    )
    wall: float = 0.0
    lost: str = ""  # the source's frames it could not read, as ``Source.lost_summary()`` words them

    def ms_per_frame(self, stage: str) -> float:
        return 1000 * self.seconds[stage] / max(self.frames, 1)

    @property
    def fps(self) -> float:
        return self.frames / self.wall if self.wall else 0.0

    def summary(self) -> str:
        stages = ", ".join(f"{k} {self.ms_per_frame(k):.1f}" for k in self.seconds)
        lost = f"; {self.lost}, skipped" if self.lost else ""
        return (
            f"{self.camera}: {self.frames} frames at {self.fps:.1f} FPS ({stages} ms/frame), "
            f"{self.tracks} tracks{lost}"
        )


def build_parts(
    camera: CameraConfig, config: MtmcConfig, threads: int = 1, source: Source | None = None
) -> tuple[Source, Detector, Any, Any]:
    """The camera's source (``source`` when given, e.g. blank frames for boxes from a file) and the
    config's detector, tracker and (optional) embedder, by name."""
    from mtmc.detect import build_detector
    from mtmc.track import build_tracker

    if source is None:
        source = open_source(camera.source, fps=camera.fps, give_up_s=camera.give_up_s)
    detector = build_detector(config.detector.name, **{"threads": threads, **detector_options(config, camera)})
    detector.check_source(source)
    embedder = None
    if config.embedder is not None:
        from mtmc.reid import build_embedder

        embedder = build_embedder(config.embedder.name, **{"threads": threads, **config.embedder.options()})
    tracker = build_tracker(config.tracker.name, **{"fps": source.output_fps, **config.tracker.options()})
    every = detector_every(config)
    if every > 1 and not hasattr(tracker, "carry"):
        raise MtmcError(
            f"detector.every: {every} needs a tracker that carries tracks over skipped frames; "
            f"{config.tracker.name} does not (use a deepsort preset, or every: 1)"
        )
    return source, detector, tracker, embedder


def detector_every(config: MtmcConfig) -> int:
    """``detector.every``: detect on every N-th frame, the tracker carrying its tracks between."""
    every = config.detector.options().get("every", 1)
    if type(every) is not int or every < 1:
        raise MtmcError(f"detector.every must be an integer >= 1 (1: every frame), got {every!r}")
    return every


def skipped(frame: int, every: int) -> bool:
    """Whether the detector skips ``frame`` (1-based): it runs on frames 1, 1 + every, ...; a rule
    of the frame number alone, so a resumed worker detects on the same frames."""
    return every > 1 and (frame - 1) % every != 0


NO_DETECTIONS = np.zeros((0, 6), np.float32)


PLACEHOLDERS = ("camera", "number", "source_dir")


def detector_options(config: MtmcConfig, camera: CameraConfig) -> dict[str, Any]:
    """The detector's options for one camera: a detections file ``path`` may name the camera,
    ``{camera}`` (its name), ``{number}`` (its AI City number: ``c{number:03d}``) or ``{source_dir}``
    (its video's folder), so one config serves every camera of a benchmark (AI City's
    ``{source_dir}/det/det_mask_rcnn.txt``)."""
    options = config.detector.options()
    options.pop("every", None)  # the camera's loop reads it (detector_every), not the detector
    path = options.get("path")
    if config.detector.name != "file" or not isinstance(path, str) or "{" not in path:
        return options
    source_dir = os.path.dirname(camera.source) if "://" not in camera.source else ""
    try:
        options["path"] = path.format(camera=camera.id, number=camera.number, source_dir=source_dir)
    except (KeyError, IndexError, ValueError) as exc:
        raise MtmcError(
            f"detector.path {path!r}: cannot fill in {exc} (placeholders: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})"
        ) from None
    return options


def embed_for_tracker(embedder: Any, tracker: Any, image: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """(N, D) embeddings of the boxes the tracker's appearance stages will use (one batch per
    frame): the tracker's ``embedding_wanted`` where it has one (Deep SORT leaves out clear
    continuations of fresh tracks), else every box scoring at least its ``high_score``. The other
    rows are zeros: not embedded, never stored, never averaged into a tracklet."""
    if hasattr(tracker, "embedding_wanted"):
        used = tracker.embedding_wanted(detections)
    else:
        used = detections[:, 4] >= getattr(tracker, "high_score", 0.0)
    embeddings = np.zeros((len(detections), embedder.dim), np.float32)
    if used.any():
        embeddings[used] = embedder.embed(image, detections[used, :4])
    return embeddings


def track_frame(
    frame: Any, detector: Detector, embedder: Any | None, tracker: Any, every: int = 1,
    seconds: dict[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One frame through detector -> (embedder) -> tracker, or carried by the tracker where the
    detector skips it (``detector.every``): ``(detections, embeddings, tracks)``, the same step in
    ``mtmc track`` and a worker. ``seconds`` gains each stage's time (detect, embed, track)."""
    t0 = time.perf_counter()
    detections, embeddings = NO_DETECTIONS, None
    if skipped(frame.index, every):
        t1 = t2 = t0
        tracks = tracker.carry(frame.index)
    else:
        detections = detector.detect_frame(frame.index, frame.image)
        t1 = time.perf_counter()
        if embedder is not None:
            embeddings = embed_for_tracker(embedder, tracker, frame.image, detections)
        t2 = time.perf_counter()
        tracks = tracker.update(detections, embeddings, frame.index)
    if seconds is not None:
        for stage, spent in zip(("detect", "embed", "track"), (t1 - t0, t2 - t1, time.perf_counter() - t2)):
            seconds[stage] += spent
    return detections, embeddings, tracks


def build_attributes(config: MtmcConfig, threads: int = 1) -> Any | None:
    """The config's attribute classifier by name, or None when ``attributes:`` is absent."""
    if config.attributes is None:
        return None
    from mtmc.reid.attributes import build_attributes as build

    return build(config.attributes.name, **{"threads": threads, **config.attributes.options()})


def attributes_for_matcher(
    classifier: Any, image: np.ndarray, detections: np.ndarray, tracks: np.ndarray, frame: int, every: int = 1
) -> dict[str, np.ndarray]:
    """{attribute: (N, K)} scores of this frame's detections, classified only where a confirmed
    track (the tracker's output, what the matcher receives) matched one and is due: track ``id``
    at frames with ``frame % every == id % every``. That rule keeps no state (a resumed worker
    classifies the same crops) and spreads the tracks over the frames. Other rows are zero."""
    scores = {name: np.zeros((len(detections), len(labels)), np.float32) for name, labels in classifier.labels.items()}
    rows = np.asarray(tracks, np.float64).reshape(-1, 8)
    det = rows[:, 7].astype(np.int64)
    due = (det >= 0) & (det < len(detections)) & (rows[:, 4].astype(np.int64) % every == frame % every)
    picked = np.unique(det[due])
    if len(picked):
        for name, values in classifier.classify(image, detections[picked, :4]).items():
            scores[name][picked] = values
    return scores


class CameraPipeline:
    """The parts of one camera, composed; ``from_config`` builds them by name."""

    def __init__(
        self,
        name: str,
        source: Source,
        detector: Detector,
        tracker: Any,
        writer: TrackWriter,
        embedder: Any | None = None,
        annotator: VideoAnnotator | None = None,
        every: int = 1,
    ) -> None:
        self.name, self.source, self.detector, self.tracker = name, source, detector, tracker
        self.writer, self.embedder, self.annotator = writer, embedder, annotator
        self.every = every  # detect on every N-th frame (detector.every), the tracker carrying the others

    @classmethod
    def from_config(
        cls,
        camera: CameraConfig,
        config: MtmcConfig,
        out_dir: Path,
        threads: int = 1,
        source: Source | None = None,
        **paths: Path | None,
    ) -> CameraPipeline:
        """Parts named in ``config``; outputs under ``out_dir`` as ``<camera>.txt|.aicity.txt|.jsonl|.mp4``
        unless ``paths`` gives ``mot``, ``aicity``, ``jsonl`` or ``video`` explicitly (None: off)."""
        out = config.output
        default = {
            "mot": out_dir / f"{camera.id}.txt" if out.mot else None,
            "aicity": out_dir / f"{camera.id}.aicity.txt" if out.aicity else None,
            "jsonl": out_dir / f"{camera.id}.jsonl" if out.jsonl else None,
            "video": out_dir / f"{camera.id}.mp4" if out.video else None,
        }
        where = {**default, **paths}
        source, detector, tracker, embedder = build_parts(camera, config, threads, source)
        return cls(
            name=camera.id,
            source=source,
            detector=detector,
            tracker=tracker,
            writer=TrackWriter(camera.number, where["mot"], where["aicity"], where["jsonl"]),
            embedder=embedder,
            annotator=VideoAnnotator(where["video"], source.output_fps, label=camera.id)
            if where["video"]
            else None,
            every=detector_every(config),
        )

    def run(self, on_frame: Callable[[int], None] | None = None) -> CameraReport:
        report = CameraReport(self.name)
        started = time.perf_counter()
        ids: set[int] = set()
        try:
            for frame in self.source:
                _, _, tracks = track_frame(frame, self.detector, self.embedder, self.tracker, self.every, report.seconds)
                written = time.perf_counter()
                self.writer.add(frame.index, frame.timestamp, tracks)
                if self.annotator is not None:
                    self.annotator.add(frame.image, tracks, frame.index)
                report.seconds["write"] += time.perf_counter() - written
                report.frames += 1
                report.boxes += len(tracks)
                ids.update(np.asarray(tracks[:, 4], int).tolist())
                if on_frame is not None:
                    on_frame(frame.index)
        finally:
            # Whatever was computed before an error is written out.
            self.writer.close()
            if self.annotator is not None:
                self.annotator.close()
            report.tracks = len(ids)
            report.lost = self.source.lost_summary()
            report.wall = time.perf_counter() - started
        return report
