"""A run config's ``scenario: DIR``: cameras, clocks, calibration, topology and ground truth taken
from a scenario folder. Two layouts are read:

- a scenario folder, as ``mtmc simulate`` writes it::

    DIR/c001/vdo.mp4 (or .avi)   DIR/c001/calibration.txt   DIR/c001/roi.jpg   DIR/c001/gt/gt.txt
    DIR/cam_timestamp.txt        DIR/topology.yaml          DIR/ground_truth.txt

- a scene of an AI City Challenge Track 1 (CityFlow MTMC) download, ``DIR = ROOT/<split>/SXX``
  with ``split`` one of train, validation, test (``mtmc simulate --layout aicity`` writes it too)::

    ROOT/<split>/SXX/c001/vdo.avi, roi.jpg, calibration.txt, gt/gt.txt (not in test), det/det_*.txt
    ROOT/cam_timestamp/SXX.txt   lines ``c001 0.000``: each camera's start on the scene's clock, seconds
    ROOT/cam_framenum/SXX.txt    lines ``c001 2110``: each camera's frame count

  Its ground truth is assembled from the cameras' ``gt/gt.txt`` (MOTChallenge rows, ids shared by
  the cameras of the scene), keeping the vehicles seen by two or more cameras, as the challenge scores.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError

if TYPE_CHECKING:
    from mtmc.types import TrackRows

SPLITS = ("train", "validation", "test")
VIDEOS = ("vdo.avi", "vdo.mp4", "vdo.mkv")  # AI City ships .avi, mtmc simulate writes .mp4 by default
_VIDEOS = VIDEOS  # the old name
CAMERA_FOLDER = re.compile(r"c\d{1,6}")
SCENE_FOLDER = re.compile(r"S\d{1,4}")


@dataclass(frozen=True)
class SceneCamera:
    """One camera folder of a scene."""

    id: str  # c001
    folder: Path
    video: Path
    offset_s: float
    frames: int | None = None  # the frame count the layout states (cam_framenum), when it does
    calibration: Path | None = None
    roi: Path | None = None
    gt: Path | None = None

    @property
    def number(self) -> int:
        return int(self.id[1:])


@dataclass(frozen=True)
class Scene:
    """The cameras of one scenario folder or AI City scene, and where its clocks and truth came from."""

    name: str
    folder: Path
    cameras: list[SceneCamera]
    layout: str  # "aicity" (ROOT/<split>/SXX) or "scenario" (one folder, as mtmc simulate writes)
    root: Path | None = None  # aicity: the download's root
    split: str | None = None
    topology: Path | None = None
    truth_file: Path | None = None  # scenario: ground_truth.txt (AI City rows, 2+ cameras)
    notes: list[str] = field(default_factory=list)

    @property
    def timestamps(self) -> Path | None:
        return self.root / "cam_timestamp" / f"{self.name}.txt" if self.root is not None else None

    @property
    def framenums(self) -> Path | None:
        return self.root / "cam_framenum" / f"{self.name}.txt" if self.root is not None else None

    @property
    def has_truth(self) -> bool:
        return self.truth_file is not None or (bool(self.cameras) and all(c.gt is not None for c in self.cameras))

    def missing_truth(self) -> str:
        """Why this scene cannot be scored ("" when it can)."""
        if self.has_truth:
            return ""
        lacking = [c.id for c in self.cameras if c.gt is None]
        if len(lacking) == len(self.cameras):
            where = f"the {self.split} split" if self.split else f"scene {self.name}"
            return f"{where} has no ground truth (no cXXX/gt/gt.txt)"
        return f"scene {self.name}: cameras {', '.join(lacking)} have no gt/gt.txt"


def read_offsets(path: Path) -> dict[str, float]:
    """``cam_timestamp.txt``: one ``c001 0.000`` line per camera (global start in seconds)."""
    return {camera: float(value) for camera, value in _camera_table(path, float, "c001 0.000", "start in seconds").items()}


def read_frame_counts(path: Path) -> dict[str, int]:
    """``cam_framenum/SXX.txt``: one ``c001 2110`` line per camera (its number of frames)."""
    return {camera: int(value) for camera, value in _camera_table(path, int, "c001 2110", "frame count").items()}


def _camera_table(path: Path, kind: type, example: str, what: str) -> dict[str, float | int]:
    table = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            value = float(parts[1])
            if kind is int and not value.is_integer():
                raise ValueError(parts[1])
            table[parts[0]] = kind(value)
        except (IndexError, ValueError):
            raise MtmcError(f"{path}:{number}: expected '{example}' (camera id, {what}), got {line.strip()!r}") from None
    return table


def is_aicity_scene(folder: Path) -> bool:
    """A scene folder of the official layout: ``ROOT/<split>/SXX`` without its own cam_timestamp.txt."""
    return not (folder / "cam_timestamp.txt").is_file() and folder.parent.name in SPLITS


def read_scene(folder: Path) -> Scene:
    """The cameras, clocks, frame counts and truth of ``folder``, in either layout (module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MtmcError(f"scenario folder not found: {folder} (check the path)")
    if is_aicity_scene(folder):
        return _aicity_scene(folder)
    offsets = read_offsets(folder / "cam_timestamp.txt") if (folder / "cam_timestamp.txt").is_file() else {}
    cameras = [_camera(sub, offsets.get(sub.name, 0.0), None) for sub in _camera_folders(folder)]
    if not cameras:
        raise MtmcError(f"scenario {folder}: no camera folders (expected {folder}/c001/vdo.mp4 or vdo.avi)")
    return Scene(
        name=folder.name,
        folder=folder,
        cameras=cameras,
        layout="scenario",
        topology=folder / "topology.yaml" if (folder / "topology.yaml").is_file() else None,
        truth_file=folder / "ground_truth.txt" if (folder / "ground_truth.txt").is_file() else None,
    )


def _aicity_scene(folder: Path) -> Scene:
    root, split, name = folder.parent.parent, folder.parent.name, folder.name
    folders = _camera_folders(folder)
    if not folders:
        raise MtmcError(f"scene {folder} has no cameras (expected camera folders such as {folder}/c001/vdo.avi)")
    for sub in folders:
        _video(sub)
    timestamps = root / "cam_timestamp" / f"{name}.txt"
    if not (root / "cam_timestamp").is_dir():
        raise MtmcError(
            f"{root} is not an AI City layout: no cam_timestamp/ folder (each scene's camera clocks, "
            f"cam_timestamp/{name}.txt with lines 'c001 0.000')"
        )
    if not timestamps.is_file():
        raise MtmcError(f"no {timestamps}: scene {name}'s camera clocks (lines 'c001 0.000') are missing")
    offsets = read_offsets(timestamps)
    framenums = root / "cam_framenum" / f"{name}.txt"
    counts = read_frame_counts(framenums) if framenums.is_file() else None
    notes = [] if counts is not None else [f"no {framenums}: frame counts not checked"]
    cameras = []
    for sub in folders:
        if sub.name not in offsets:
            raise MtmcError(f"{timestamps} has no line for camera {sub.name} (expected '{sub.name} 0.000')")
        cameras.append(_camera(sub, offsets[sub.name], None if counts is None else counts.get(sub.name)))
        if counts is not None and sub.name not in counts:
            notes.append(f"{framenums} has no line for camera {sub.name}: its frame count is not checked")
    return Scene(name=name, folder=folder, cameras=cameras, layout="aicity", root=root, split=split, notes=notes)


def _camera_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and CAMERA_FOLDER.fullmatch(p.name))


def _video(sub: Path) -> Path:
    video = next((sub / name for name in VIDEOS if (sub / name).is_file()), None)
    if video is None:
        raise MtmcError(f"camera folder {sub} has no video ({' or '.join(VIDEOS)})")
    return video


def _camera(sub: Path, offset_s: float, frames: int | None) -> SceneCamera:
    video = _video(sub)
    optional = {"calibration": sub / "calibration.txt", "roi": sub / "roi.jpg", "gt": sub / "gt" / "gt.txt"}
    found = {key: path if path.is_file() else None for key, path in optional.items()}
    return SceneCamera(id=sub.name, folder=sub, video=video, offset_s=offset_s, frames=frames, **found)


def aicity_scenes(root: Path, split: str, names: list[str] | None = None) -> list[Scene]:
    """The scenes of ``ROOT/<split>`` (all, or ``names`` in that order), each checked as it is read."""
    root = Path(root)
    if not root.is_dir():
        raise MtmcError(f"AI City folder not found: {root} (check the path)")
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        raise MtmcError(
            f"{root} is not an AI City layout: no train/, validation/ or test/ folder "
            "(expected ROOT/<split>/SXX/cXXX/vdo.avi and ROOT/cam_timestamp/SXX.txt)"
        )
    if split not in present:
        raise MtmcError(f"{root} has no {split}/ split (it has {', '.join(present)})")
    if not (root / "cam_timestamp").is_dir():
        raise MtmcError(
            f"{root} is not an AI City layout: no cam_timestamp/ folder (each scene's camera clocks, "
            "cam_timestamp/SXX.txt with lines 'c001 0.000')"
        )
    available = sorted(p.name for p in (root / split).iterdir() if p.is_dir() and SCENE_FOLDER.fullmatch(p.name))
    if not available:
        raise MtmcError(f"{root / split} has no scenes (expected scene folders such as {root / split}/S01/c001/vdo.avi)")
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise MtmcError(
                f"no scene {', '.join(unknown)} in {root / split} (it has {', '.join(available)})"
            )
    return [_aicity_scene(root / split / name) for name in (names or available)]


def scene_truth(scene: Scene) -> TrackRows | None:
    """The scene's AI City ground truth (camera numbers, vehicles seen by 2+ cameras), or None."""
    import numpy as np

    from mtmc.formats import read_aicity, read_mot
    from mtmc.metrics.aicity import seen_by_one_camera
    from mtmc.types import TrackRows

    if scene.truth_file is not None:
        return read_aicity(scene.truth_file, "ground truth")
    if not scene.has_truth:
        return None
    parts = []
    for camera in scene.cameras:
        rows = read_mot(camera.gt, "ground truth", drop_zero_conf=True)
        parts.append(rows.replace(camera=np.full(len(rows), camera.number, np.int64), score=np.ones(len(rows))))
    rows = TrackRows.concat(parts)
    return rows.take(~seen_by_one_camera(rows))


def truth_file(scene: Scene, cache_dir: Path | None = None) -> Path | None:
    """A file holding ``scene_truth(scene)`` in AI City format: the scenario's own ground_truth.txt, or
    for an AI City scene one assembled once into the cache (keyed by the gt files' paths, sizes, times)."""
    from mtmc.formats import write_aicity

    if scene.truth_file is not None or not scene.has_truth:
        return scene.truth_file
    key = hashlib.sha256()
    for camera in scene.cameras:
        stat = camera.gt.stat()
        key.update(f"{camera.gt.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    cache = cache_dir or Path(os.environ.get("MTMC_CACHE_DIR", Path.home() / ".cache" / "mtmc"))
    path = cache / "aicity-truth" / f"{scene.name}-{key.hexdigest()[:16]}.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        write_aicity(tmp, scene_truth(scene))
        os.replace(tmp, path)  # several processes may assemble it at once: each writes the same rows
    return path


def with_scenario(config: MtmcConfig) -> MtmcConfig:
    """``config`` with what its ``scenario`` folder holds filled in (explicit settings win)."""
    folder = config.scenario
    if folder is None:
        return config
    if not folder.is_dir():
        raise MtmcError(f"scenario folder not found: {folder} (check scenario: in the config)")
    if config.cameras:
        raise MtmcError("give cameras: or scenario:, not both (a scenario brings its own cameras)")
    scene = read_scene(folder)
    cameras = [
        CameraConfig(id=c.id, source=str(c.video), offset_s=c.offset_s, calibration=c.calibration)
        for c in scene.cameras
    ]
    update: dict = {"cameras": cameras}
    if config.topology is None and scene.topology is not None:
        update["topology"] = scene.topology
    if config.eval.gt is None and scene.has_truth:
        update["eval"] = config.eval.model_copy(
            update={"gt": truth_file(scene), "mode": "aicity", "roi_dir": config.eval.roi_dir or folder}
        )
    return config.model_copy(update=update)
