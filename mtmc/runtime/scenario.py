"""A run config's ``scenario: DIR``: cameras, clocks, calibration, topology and ground truth taken
from an AI City layout folder (as AI City ships its scenarios and ``mtmc simulate`` writes them)::

    DIR/c001/vdo.mp4 (or .avi)   DIR/c001/calibration.txt   DIR/c001/roi.jpg
    DIR/cam_timestamp.txt        DIR/topology.yaml          DIR/ground_truth.txt
"""

from __future__ import annotations

import re
from pathlib import Path

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError

_VIDEOS = ("vdo.mp4", "vdo.avi", "vdo.mkv")


def read_offsets(path: Path) -> dict[str, float]:
    """``cam_timestamp.txt``: one ``c001 0.000`` line per camera (global start in seconds)."""
    offsets = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            offsets[parts[0]] = float(parts[1])
        except (IndexError, ValueError):
            raise MtmcError(f"{path}:{number}: expected 'c001 0.000' (camera id, start in seconds)") from None
    return offsets


def with_scenario(config: MtmcConfig) -> MtmcConfig:
    """``config`` with what its ``scenario`` folder holds filled in (explicit settings win)."""
    folder = config.scenario
    if folder is None:
        return config
    if not folder.is_dir():
        raise MtmcError(f"scenario folder not found: {folder} (check scenario: in the config)")
    if config.cameras:
        raise MtmcError("give cameras: or scenario:, not both (a scenario brings its own cameras)")
    offsets = read_offsets(folder / "cam_timestamp.txt") if (folder / "cam_timestamp.txt").is_file() else {}
    cameras = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"c\d{1,6}", p.name)):
        video = next((sub / name for name in _VIDEOS if (sub / name).is_file()), None)
        if video is None:
            continue
        calibration = sub / "calibration.txt"
        cameras.append(
            CameraConfig(
                id=sub.name,
                source=str(video),
                offset_s=offsets.get(sub.name, 0.0),
                calibration=calibration if calibration.is_file() else None,
            )
        )
    if not cameras:
        raise MtmcError(f"scenario {folder}: no camera folders with a vdo.mp4 or vdo.avi (expected {folder}/c001/vdo.mp4)")
    update: dict = {"cameras": cameras}
    if config.topology is None and (folder / "topology.yaml").is_file():
        update["topology"] = folder / "topology.yaml"
    if config.eval.gt is None and (folder / "ground_truth.txt").is_file():
        update["eval"] = config.eval.model_copy(
            update={"gt": folder / "ground_truth.txt", "mode": "aicity", "roi_dir": config.eval.roi_dir or folder}
        )
    return config.model_copy(update=update)
