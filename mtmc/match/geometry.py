"""Ground maps: from image foot points to metres on the ground, per camera.

A camera's ground comes from the config's ``homography`` or from an AI City ``calibration.txt``
(``Homography matrix:`` world -> image, and for some cameras ``Intrinsic parameter matrix:`` and
``Distortion coefficients:``). Three things stand between a pixel and a distance in metres, and a
``GroundMap`` undoes each:

- **the lens**: when the file gives distortion, its homography is for the undistorted image, so
  detections (boxes in the distorted video) are undistorted first (OpenCV's model, k1 k2 p1 p2[ k3]);
- **the homography**: undistorted pixels -> the calibration's ground plane;
- **the unit**: CityFlow's calibrations map GPS degrees (latitude, longitude) to the image. A
  degree of longitude is shorter than one of latitude (by cos(latitude)), so distances in degrees
  are wrong in both size and shape; GPS grounds are turned into east/north metres around one
  origin shared by all cameras of a run, so distances between cameras are right too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mtmc.errors import InputFormatError, MtmcError
from mtmc.match.config import CameraGeometry, NamedCamera

_LINE = re.compile(r"\s*(homography matrix|intrinsic parameter matrix|distortion coefficients)\s*:(.*)", re.IGNORECASE)
_EXPECTED = {
    "homography matrix": "expected 'Homography matrix: a b c;d e f;g h i' (three rows of three numbers)",
    "intrinsic parameter matrix": "expected 'Intrinsic parameter matrix: fx 0 cx;0 fy cy;0 0 1'",
    "distortion coefficients": "expected 'Distortion coefficients: k1 k2 p1 p2[ k3]'",
}
# Undistortion is iterative; OpenCV's default 5 steps leave pixels of error under barrel
# distortion near the frame's corners, these leave none worth measuring.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
# A GPS calibration's view spans metres, i.e. around 1e-4 of a degree; in metres a view cannot
# span under a centimetre. A spread under 0.01 of a degree (about 1 km) at a valid latitude and
# longitude tells degrees from metres with orders of magnitude to spare.
_DEGREE_SPREAD = 0.01
# Where to look for the ground when the file gives no frame size: the lower half of a full HD
# frame, the near ground of any traffic view (points beyond a smaller frame still lie on its plane).
_NOMINAL_FRAME = (1920.0, 1080.0)


@dataclass(frozen=True)
class Lens:
    """A camera's intrinsics ``matrix`` (3x3) and OpenCV ``distortion`` (k1 k2 p1 p2[ k3])."""

    matrix: np.ndarray
    distortion: np.ndarray

    def undistort(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) pixels of the distorted picture -> where they are in the undistorted one (same intrinsics)."""
        points = np.asarray(points, np.float64).reshape(-1, 1, 2)
        if len(points) == 0:
            return points.reshape(0, 2)
        return cv2.undistortImagePoints(points, self.matrix, self.distortion, None, _UNDISTORT_CRITERIA).reshape(-1, 2)

    def distort(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) undistorted pixels -> where the lens puts them (the inverse of ``undistort``)."""
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if len(points) == 0:
            return points
        rays = np.column_stack([points, np.ones(len(points))]) @ np.linalg.inv(self.matrix).T
        zero = np.zeros(3)
        return cv2.projectPoints(rays, zero, zero, self.matrix, self.distortion)[0].reshape(-1, 2)


@dataclass(frozen=True)
class Calibration:
    """An AI City ``calibration.txt``: the world -> image ``homography`` (of the undistorted image
    when there is a ``lens``) and the ``lens``, None when the file gives no distortion."""

    homography: np.ndarray
    lens: Lens | None = None


def read_calibration(path: str | Path) -> Calibration:
    """Read an AI City ``calibration.txt``. Lines other than the homography, intrinsics and
    distortion (CityFlow adds reprojection errors) are skipped; intrinsics without distortion
    change nothing (the homography is then for the picture as it is). A malformed line is an
    ``InputFormatError`` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise MtmcError(f"calibration file not found: {path} (check the path)")
    found: dict[str, tuple[np.ndarray, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        match = _LINE.match(line)
        if match is None:
            continue
        key, text = match.group(1).lower(), match.group(2).strip()
        if key in found:
            raise InputFormatError(path, f"a second '{match.group(1)}:' line (the first is line {found[key][1]})", line=number)
        found[key] = (_numbers(path, number, key, text), number)
    if "homography matrix" not in found:
        raise InputFormatError(path, "no 'Homography matrix:' line")
    homography, number = found["homography matrix"]
    try:
        np.linalg.inv(homography)
    except np.linalg.LinAlgError:
        raise InputFormatError(path, "the homography is singular (it maps the ground onto a line)", line=number) from None
    if "distortion coefficients" not in found:
        return Calibration(homography)
    distortion, number = found["distortion coefficients"]
    if "intrinsic parameter matrix" not in found:
        raise InputFormatError(path, "distortion needs an 'Intrinsic parameter matrix: fx 0 cx;0 fy cy;0 0 1' line", line=number)
    matrix = found["intrinsic parameter matrix"][0]
    return Calibration(homography, Lens(matrix, distortion) if distortion.any() else None)


def _numbers(path: Path, number: int, key: str, text: str) -> np.ndarray:
    """The values of one calibration line, checked for its kind."""
    try:
        if key == "distortion coefficients":
            values = np.array([float(v) for v in text.split()], np.float64)
            ok = len(values) in (4, 5)
        else:
            values = np.array([[float(v) for v in row.split()] for row in text.split(";") if row.strip()], np.float64)
            ok = values.shape == (3, 3)
            if ok and key == "intrinsic parameter matrix":
                ok = values[0, 0] > 0 and values[1, 1] > 0 and np.allclose(values[2], [0, 0, 1])
    except ValueError:  # a word, or rows of different lengths
        ok = False
    if not ok or not np.isfinite(values).all():
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputFormatError(path, f"{_EXPECTED[key]}, got {shown!r}", line=number)
    return values


def metres_from_degrees(origin: tuple[float, float], lat_first: bool = True) -> np.ndarray:
    """3x3 affine map from GPS degrees (``[lat, lon, 1]``, or ``[lon, lat, 1]`` when not
    ``lat_first``) to east/north metres from ``origin`` (lat, lon).

    Equirectangular, with WGS84's lengths of a degree at the origin's latitude: affine, so a GPS
    homography stays a homography, and within a few kilometres of the origin off by under 0.02 %
    (the east scale drifts with cos(latitude))."""
    lat = np.radians(origin[0])
    north = 111132.92 - 559.82 * np.cos(2 * lat) + 1.175 * np.cos(4 * lat) - 0.0023 * np.cos(6 * lat)
    east = 111412.84 * np.cos(lat) - 93.5 * np.cos(3 * lat) + 0.118 * np.cos(5 * lat)
    affine = np.array([[0.0, east, -east * origin[1]], [north, 0.0, -north * origin[0]], [0.0, 0.0, 1.0]])
    return affine if lat_first else affine[:, [1, 0, 2]]


@dataclass(frozen=True)
class GroundMap:
    """Image pixels (N, 2) -> ground (N, 2) of one camera: undo the ``lens`` (when it has one),
    then the 3x3 ``homography`` from undistorted pixels to the ground.

    The ground is in metres: east/north metres from ``origin`` (lat, lon) when the calibration is
    in GPS degrees, else the calibration's own plane and unit (metres in AI City, SynthCity, EPFL)."""

    homography: np.ndarray
    lens: Lens | None = None
    origin: tuple[float, float] | None = None

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, np.float64).reshape(-1, 2)
        if self.lens is not None:
            points = self.lens.undistort(points)
        return project(self.homography, points)


def project(mapping: np.ndarray | GroundMap, points: np.ndarray) -> np.ndarray:
    """(N, 2) image points through a 3x3 homography or a ``GroundMap``; points at the horizon become nan."""
    if isinstance(mapping, GroundMap):
        return mapping(points)
    points = np.asarray(points, np.float64).reshape(-1, 2)
    mapped = np.column_stack([points, np.ones(len(points))]) @ mapping.T
    with np.errstate(divide="ignore", invalid="ignore"):
        out = mapped[:, :2] / mapped[:, 2:3]
    out[~np.isfinite(out).all(axis=1)] = np.nan
    return out


@dataclass(frozen=True)
class _Ground:
    """A camera's ground as its config gives it: undistorted pixels -> the calibration's unit, and
    for GPS calibrations the axis order and the (lat, lon) of the ground it sees."""

    homography: np.ndarray
    lens: Lens | None
    gps: bool
    lat_first: bool = True
    centre: tuple[float, float] | None = None

    def in_metres(self, origin: tuple[float, float] | None) -> GroundMap:
        if not self.gps:
            return GroundMap(self.homography, self.lens)
        origin = origin if origin is not None else self.centre
        return GroundMap(metres_from_degrees(origin, self.lat_first) @ self.homography, self.lens, origin)


def _ground(camera: CameraGeometry) -> _Ground | None:
    """The camera's ground in its calibration's unit, with GPS told from metres (``ground_units``)."""
    source = f"calibration {camera.calibration}" if camera.calibration is not None else "homography"
    if camera.calibration is not None:
        calibration = read_calibration(camera.calibration)
        homography, lens = np.linalg.inv(calibration.homography), calibration.lens
    elif camera.homography is not None:
        matrix = np.array(camera.homography, np.float64)
        homography = matrix if camera.homography_maps == "image_to_ground" else np.linalg.inv(matrix)
        lens = None
    else:
        return None
    if camera.ground_units == "metres":
        return _Ground(homography, lens, gps=False)
    footprint = _footprint(homography, lens)
    if len(footprint) == 0:
        if camera.ground_units == "degrees":
            raise MtmcError(f"{source}: no point of the picture maps onto the ground in front of the camera")
        return _Ground(homography, lens, gps=False)
    centre = np.median(footprint, axis=0)
    lat_first = abs(centre[0]) <= 90  # CityFlow writes [lat, lon]; a first value past 90 is a longitude
    lat, lon = centre if lat_first else centre[::-1]
    spread = float(np.median(np.linalg.norm(footprint - centre, axis=1)))
    gps = camera.ground_units == "degrees" or (abs(lat) <= 90 and abs(lon) <= 180 and spread < _DEGREE_SPREAD)
    return _Ground(homography, lens, gps, lat_first, (float(lat), float(lon)))


def _footprint(homography: np.ndarray, lens: Lens | None) -> np.ndarray:
    """(M, 2) ground points (the calibration's unit) under a grid over the lower half of the frame
    (twice the principal point when the lens is known, else full HD), keeping only those on the
    same side of the horizon as the frame's bottom centre: the ground the camera looks at."""
    width, height = (2 * lens.matrix[0, 2], 2 * lens.matrix[1, 2]) if lens is not None else _NOMINAL_FRAME
    xs, ys = np.meshgrid(np.linspace(0, width, 9), np.linspace(height / 2, height, 5))
    grid = np.column_stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    w = grid @ homography[2]
    bottom_centre = np.array([width / 2, height, 1.0]) @ homography[2]
    below = (w * bottom_centre > 0) & (np.abs(w) > 1e-12 * np.abs(w).max())
    ground = grid[below] @ homography.T
    ground = ground[:, :2] / ground[:, 2:3]
    return ground[np.isfinite(ground).all(axis=1)]


def image_to_ground(camera: CameraGeometry) -> GroundMap | None:
    """The camera's ``GroundMap``, or None when the config gives no homography. A GPS ground is in
    metres around the camera's own view; for several cameras use ``ground_maps`` (one origin)."""
    ground = _ground(camera)
    return None if ground is None else ground.in_metres(None)


def ground_maps(cameras: Iterable[NamedCamera], origin: tuple[float, float] | None = None) -> dict[int, GroundMap]:
    """``GroundMap`` by camera number of the cameras that have a homography. GPS grounds share one
    origin, ``origin`` (lat, lon) or by default the mean of the GPS cameras' views, so that a
    vehicle seen by two cameras lands on one spot and distances between cameras are in metres."""
    grounds = {camera.number: g for camera in cameras if (g := _ground(camera)) is not None}
    centres = [g.centre for g in grounds.values() if g.gps]
    if origin is None and centres:
        lat, lon = np.mean(centres, axis=0)
        origin = (float(lat), float(lon))
    return {number: g.in_metres(origin) for number, g in grounds.items()}


def foot_points(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) bottom-centre of (N, 4) x, y, w, h boxes: where an object stands on the ground."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.column_stack([boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3]])
