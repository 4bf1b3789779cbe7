"""Ground in metres, lenses undone: GPS calibrations (CityFlow's) become metres around one origin
per run, distortion is undone before the homography, bad lines name file:line, and SynthCity's
AI City layout (GPS homographies, distorted cameras) projects its own ground truth back."""

from pathlib import Path

import numpy as np
import pytest

from mtmc.errors import InputFormatError
from mtmc.match.config import MatchCamera
from mtmc.match.geometry import (
    GroundMap,
    Lens,
    foot_points,
    ground_maps,
    image_to_ground,
    metres_from_degrees,
    project,
    read_calibration,
)

ORIGIN = (42.4975, -90.6735)  # CityFlow's Dubuque
# world metres (east, north) -> pixels of a camera looking north at the ground around (0, 30)
METRES_TO_IMAGE = np.array([[20.0, -5.0, 640.0], [0.0, -2.0, 700.0], [0.0, 0.02, 1.0]])
LENS = Lens(np.array([[1500.0, 0, 960], [0, 1500.0, 540], [0, 0, 1]]), np.array([-0.25, 0.05, 0.0005, -0.0003]))


def _degrees(metres: np.ndarray, origin: tuple[float, float] = ORIGIN) -> np.ndarray:
    return project(np.linalg.inv(metres_from_degrees(origin)), metres)


def _write(path: Path, world_to_image: np.ndarray, lens: Lens | None = None) -> Path:
    def matrix(m: np.ndarray) -> str:
        return ";".join(" ".join(f"{v:.17g}" for v in row) for row in m)

    lines = [f"Homography matrix: {matrix(world_to_image)}"]
    if lens is not None:
        lines += [f"Intrinsic parameter matrix: {matrix(lens.matrix)}", f"Distortion coefficients: {' '.join(map(str, lens.distortion))}"]
    path.write_text("\n".join(lines + ["Reprojection error: 2.1"]) + "\n")
    return path


def _gps_camera(tmp_path: Path, name: str, shift_m: tuple[float, float] = (0.0, 0.0), lens: Lens | None = None) -> MatchCamera:
    """A camera whose calibration maps GPS [lat, lon, 1] (CityFlow's order) to its image; ``shift_m``
    moves what it sees that many metres east/north."""
    shift = np.array([[1.0, 0, -shift_m[0]], [0, 1.0, -shift_m[1]], [0, 0, 1.0]])
    path = _write(tmp_path / f"{name}.txt", METRES_TO_IMAGE @ shift @ metres_from_degrees(ORIGIN), lens)
    return MatchCamera(id=name, fps=10, calibration=path)


def test_gps_round_trip_metres_to_degrees_to_image_and_back(tmp_path):
    camera = _gps_camera(tmp_path, "c001")
    world = np.array([[3.0, 20.0], [-4.0, 35.0], [10.0, 60.0]])
    pixels = project(METRES_TO_IMAGE, world)
    fixed = ground_maps([camera], origin=ORIGIN)[1]
    assert fixed.origin == ORIGIN and fixed(pixels) == pytest.approx(world, abs=0.01)
    own = image_to_ground(camera)  # detected as GPS, origin at its own view
    assert isinstance(own, GroundMap) and own.origin is not None and abs(own.origin[0] - ORIGIN[0]) < 1e-3
    assert np.linalg.norm(np.diff(own(pixels), axis=0), axis=1) == pytest.approx(np.linalg.norm(np.diff(world, axis=0), axis=1), abs=0.01)
    # longitude first (as some calibration tools write it): told by a first value past 90
    swapped = _write(tmp_path / "lonlat.txt", METRES_TO_IMAGE @ metres_from_degrees(ORIGIN, lat_first=False))
    assert ground_maps([MatchCamera(id="c002", fps=10, calibration=swapped)], ORIGIN)[2](pixels) == pytest.approx(world, abs=0.01)


def test_two_cameras_share_one_origin_so_distances_between_them_are_metres(tmp_path):
    cameras = [_gps_camera(tmp_path, "c001"), _gps_camera(tmp_path, "c002", shift_m=(150.0, 80.0))]
    maps = ground_maps(cameras)
    assert maps[1].origin == maps[2].origin
    a, b = np.array([[2.0, 25.0]]), np.array([[150.0 + 5.0, 80.0 + 40.0]])  # world metres, one in each view
    ga = maps[1](project(METRES_TO_IMAGE, a))
    gb = maps[2](project(METRES_TO_IMAGE, b - [150.0, 80.0]))
    assert np.linalg.norm(gb - ga) == pytest.approx(np.linalg.norm(b - a), abs=0.02)
    # a point both cameras could see lands on one spot
    both = np.array([[20.0, 40.0]])
    assert maps[1](project(METRES_TO_IMAGE, both)) == pytest.approx(maps[2](project(METRES_TO_IMAGE, both - [150.0, 80.0])), abs=0.01)


def test_ground_units_auto_keeps_metres_and_can_be_forced(tmp_path):
    path = _write(tmp_path / "metres.txt", METRES_TO_IMAGE)
    world = np.array([[3.0, 20.0]])
    auto = image_to_ground(MatchCamera(id="c001", fps=10, calibration=path))
    assert auto.origin is None and auto(project(METRES_TO_IMAGE, world)) == pytest.approx(world)
    inline = MatchCamera(id="c002", fps=10, homography=METRES_TO_IMAGE.tolist(), homography_maps="ground_to_image")
    assert image_to_ground(inline).origin is None
    gps = _gps_camera(tmp_path, "c003")
    forced = image_to_ground(gps.model_copy(update={"ground_units": "metres"}))  # taken as it comes: degrees
    assert forced.origin is None and forced(project(METRES_TO_IMAGE, world))[0] == pytest.approx(_degrees(world)[0])
    assert image_to_ground(gps.model_copy(update={"ground_units": "degrees"})).origin is not None


def test_distortion_is_undone_before_the_homography(tmp_path):
    camera = _gps_camera(tmp_path, "c001", lens=LENS)
    calibration = read_calibration(camera.calibration)
    assert calibration.lens is not None and calibration.lens.distortion == pytest.approx(LENS.distortion)
    world = np.array([[3.0, 20.0], [-12.0, 25.0], [25.0, 30.0]])
    ideal = project(METRES_TO_IMAGE, world)
    seen = LENS.distort(ideal)  # cv2.projectPoints: where the lens puts them
    assert np.abs(seen - ideal).max() > 5  # the lens matters here
    assert LENS.undistort(seen) == pytest.approx(ideal, abs=1e-6)
    ground = ground_maps([camera], origin=ORIGIN)[1]
    assert ground(seen) == pytest.approx(world, abs=0.01)
    assert project(ground, seen) == pytest.approx(world, abs=0.01)  # what distances and the writer call
    assert not np.allclose(project(ground.homography, seen), world, atol=0.1)


@pytest.mark.parametrize(
    "lines, line, expected",
    [
        (["Homography matrix: 1 0 0;0 1 0"], 1, "expected 'Homography matrix: a b c;d e f;g h i'"),
        (["Homography matrix: 1 0 0;0 1 0;0 0 x"], 1, "expected 'Homography matrix: a b c;d e f;g h i'"),
        (["Homography matrix: 1 2 3;2 4 6;0 0 1"], 1, "the homography is singular"),
        (["Homography matrix: 1 0 0;0 1 0;0 0 1", "Intrinsic parameter matrix: 1000 0 960;0 1000", "Distortion coefficients: 0 0 0 0"], 2,
         "expected 'Intrinsic parameter matrix: fx 0 cx;0 fy cy;0 0 1'"),
        (["Homography matrix: 1 0 0;0 1 0;0 0 1", "Intrinsic parameter matrix: 1000 0 960;0 1000 540;0 0 1", "Distortion coefficients: -0.2 0.01"], 3,
         "expected 'Distortion coefficients: k1 k2 p1 p2[ k3]', got '-0.2 0.01'"),
        (["Homography matrix: 1 0 0;0 1 0;0 0 1", "Distortion coefficients: -0.2 0.01 0 0"], 2, "needs an 'Intrinsic parameter matrix:"),
        (["Homography matrix: 1 0 0;0 1 0;0 0 1", "homography matrix: 1 0 0;0 1 0;0 0 1"], 2, "a second 'homography matrix:' line"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, lines, line, expected):
    path = tmp_path / "calibration.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputFormatError) as caught:
        read_calibration(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ") and expected in message and "\n" not in message


def test_an_inline_homography_must_be_invertible():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="invertible"):
        MatchCamera(id="c001", fps=10, homography=[[1, 2, 3], [2, 4, 6], [0, 0, 1]])


@pytest.mark.integration
def test_synthcity_aicity_layout_gps_and_lenses_project_its_ground_truth(data_dir, tmp_path):
    from test_sim_render import tiny_config

    from mtmc.sim.scenario import GPS_ORIGIN, simulate

    sim = tiny_config(data_dir, tmp_path / "cache").model_copy(update={"duration_s": 6.0})
    root = tmp_path / "AIC"
    simulate(sim, root, show_progress=False, layout="aicity", split="validation", scene_name="S01")
    scene = root / "validation" / "S01"
    cameras = [MatchCamera(id=c, fps=5, calibration=scene / c / "calibration.txt") for c in ("c001", "c002")]
    assert read_calibration(cameras[0].calibration).lens is None  # odd cameras: no lens
    lens = read_calibration(cameras[1].calibration).lens
    assert lens is not None and -0.3 <= lens.distortion[0] <= -0.2
    automatic = ground_maps(cameras)
    assert automatic[1].origin == automatic[2].origin and abs(automatic[1].origin[0] - GPS_ORIGIN[0]) < 0.01
    maps = ground_maps(cameras, origin=GPS_ORIGIN)  # metres east/north of the origin: SynthCity's world
    truth = np.loadtxt(root / "synthcity" / "S01" / "ground_truth.txt", ndmin=2)  # camera id frame x y w h wx wy
    for number in (1, 2):
        rows = truth[truth[:, 0] == number]
        whole = (rows[:, 3] > 0) & (rows[:, 3] + rows[:, 5] < 319) & (rows[:, 4] + rows[:, 6] < 179)
        rows = rows[whole]  # boxes cut by the border have no foot
        assert len(rows) >= 5
        feet = foot_points(rows[:, 3:7])
        # world -> GPS -> the calibration -> the lens lands on the (distorted) boxes' bottoms
        calibration = read_calibration(cameras[number - 1].calibration)
        ideal = project(calibration.homography, _degrees(rows[:, 7:9], GPS_ORIGIN))
        pictured = calibration.lens.distort(ideal) if calibration.lens is not None else ideal
        off = np.abs(pictured - feet)
        assert np.all(off[:, 0] <= 0.1 * rows[:, 5] + 2) and np.all(off[:, 1] <= 0.1 * rows[:, 6] + 2)
        if calibration.lens is not None:  # the boxes really are distorted: without the lens they miss more
            assert np.abs(pictured - ideal).max() > 3 and np.abs(ideal - feet).mean() > off.mean()
        # and back: the boxes' feet land where the vehicles stand, in metres, within what the
        # boxes' whole pixels allow (far away a pixel spans metres of road)
        missed = np.linalg.norm(maps[number](feet) - rows[:, 7:9], axis=1)
        three_pixels = np.linalg.norm(maps[number](feet + [0.0, 3.0]) - maps[number](feet), axis=1)
        assert np.all(missed <= three_pixels + 0.3) and np.median(missed) < 2.0
