"""Ground-plane homographies: read them from the config, and project foot points to the ground."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.match.config import CameraGeometry

_HOMOGRAPHY = re.compile(r"homography\s+matrix\s*:\s*(.+)", re.IGNORECASE)


def read_calibration(path: str | Path) -> np.ndarray:
    """The world -> image matrix of an AI City ``calibration.txt`` (``Homography matrix: a b c;d e f;g h i``)."""
    path = Path(path)
    if not path.is_file():
        raise MtmcError(f"calibration file not found: {path} (check the path)")
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        found = _HOMOGRAPHY.search(line)
        if found:
            try:
                rows = [[float(v) for v in row.split()] for row in found.group(1).strip().split(";") if row.strip()]
                matrix = np.array(rows, np.float64)
            except ValueError:
                matrix = np.zeros(0)
            if matrix.shape != (3, 3):
                raise InputFormatError(path, "expected 'Homography matrix: a b c;d e f;g h i'")
            return matrix
    raise InputFormatError(path, "no 'Homography matrix:' line")


def image_to_ground(camera: CameraGeometry) -> np.ndarray | None:
    """The camera's 3x3 image -> ground homography, or None when the config gives none."""
    if camera.calibration is not None:
        return np.linalg.inv(read_calibration(camera.calibration))
    if camera.homography is None:
        return None
    matrix = np.array(camera.homography, np.float64)
    return matrix if camera.homography_maps == "image_to_ground" else np.linalg.inv(matrix)


def foot_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) bottom-centre of (N, 4) x, y, w, h boxes: where an object stands on the ground."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.column_stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]])


def project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) image points through a 3x3 homography; points at the horizon become nan."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    mapped = np.column_stack([points, np.ones(len(points))]) @ homography.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mapped[:, :2] / mapped[:, 2:3]
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out
