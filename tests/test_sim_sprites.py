"""Sprite harvesting: masks, feet and direction on a synthetic street; cache; real footage."""

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from mtmc.sim import background as background_module
from mtmc.sim import sprites as sprites_module
from mtmc.sim.background import clear_parked_vehicles
from mtmc.sim.config import FootageConfig, PartConfig, RoadConfig, SpritesConfig
from mtmc.sim.sprites import SpriteVehicle, harvest, load_or_harvest, median_background

SIZE = (320, 240)
FRAMES = 48
RECT = (40, 28)  # vehicle width, height in pixels
PAD = 2  # the fake detector's boxes are this much looser than the vehicles, like a real detector's
# Saturated colours (BGR) the fake detector finds; the textured background is grey.
RED, BLUE, GREEN = (0, 0, 230), (230, 0, 0), (0, 230, 0)
ROAD = RoadConfig(corners=[(20, 20), (300, 20), (300, 230), (20, 230)], width_m=8.0, length_m=45.0)


def vehicle_boxes(frame: int) -> dict[tuple[int, int, int], tuple[int, int]]:
    """Top-left corners: red drives down (toward the camera), blue up, green is parked."""
    t = frame / (FRAMES - 1)
    return {RED: (60, int(40 + 150 * t)), BLUE: (210, int(190 - 150 * t)), GREEN: (135, 110)}


def street_texture() -> np.ndarray:
    import cv2

    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(60, 190, (SIZE[1], SIZE[0])).astype(np.uint8), (0, 0), 2)
    return cv2.cvtColor(texture, cv2.COLOR_GRAY2BGR)


def write_video(path: Path, boxes) -> Path:
    """``boxes(frame)``: top-left corners by colour, drawn in order (later ones cover earlier ones)."""
    import cv2

    background = street_texture()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 24, SIZE)  # lossless: exact geometry
    for frame in range(FRAMES):
        image = background.copy()
        for colour, (x, y) in boxes(frame).items():
            image[y : y + RECT[1], x : x + RECT[0]] = colour
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "street.avi", vehicle_boxes)


class ColourDetector:
    """Finds the saturated rectangles by colour: a deterministic stand-in for YOLOX."""

    calls = 0

    def detect(self, image: np.ndarray) -> np.ndarray:
        ColourDetector.calls += 1
        rows = []
        for channel in range(3):
            others = [c for c in range(3) if c != channel]
            hit = (image[..., channel] > 150) & (image[..., others].max(axis=2) < 90)
            ys, xs = np.nonzero(hit)
            if len(xs) > 20:
                rows.append([xs.min() - PAD, ys.min() - PAD, xs.max() + 1 + PAD, ys.max() + 1 + PAD, 0.9, 2])
        return np.array(rows, np.float32).reshape(-1, 6)


@pytest.fixture
def fake_detector(monkeypatch):
    monkeypatch.setattr(sprites_module, "build_detector", lambda name, **options: ColourDetector())


def synthetic_config(video: Path) -> tuple[FootageConfig, SpritesConfig]:
    footage = FootageConfig(video=video, road=ROAD, background_frames=24)
    sprites = SpritesConfig(detector=PartConfig(name="colour"), frame_step=1, min_height_px=16, max_views=5)
    return footage, sprites


def colour_of(vehicle: SpriteVehicle) -> tuple[int, int, int]:
    view = vehicle.views[0]
    mean = view.bgr[view.alpha > 200].mean(axis=0)
    return (RED, BLUE, GREEN)[int(np.argmax(mean[[2, 0, 1]]))]


def test_median_background_removes_moving_vehicles(synthetic_video):
    background = median_background(synthetic_video, None, 24)
    assert background.shape == (SIZE[1], SIZE[0], 3) and background.dtype == np.uint8
    red_pixels = (background[..., 2] > 150) & (background[..., 0] < 90)
    assert red_pixels.sum() == 0  # the moving red vehicle is gone
    green = background[110 : 110 + RECT[1], 135 : 135 + RECT[0]]
    assert (green[..., 1] > 150).mean() > 0.9  # the parked one stays


def test_median_background_leaves_out_detected_vehicles(tmp_path):
    # Red queues at one place for two thirds of the clip, then drives off: the plain median keeps it.
    def queue(frame):
        return {RED: (60, 100) if frame < 2 * FRAMES // 3 else (60, 100 + 6 * (frame - 2 * FRAMES // 3))}

    video = write_video(tmp_path / "queue.avi", queue)
    spot = (slice(100, 100 + RECT[1]), slice(60, 60 + RECT[0]))
    plain = median_background(video, None, FRAMES)
    assert (plain[spot][..., 2] > 150).mean() > 0.9
    cleared = median_background(video, None, FRAMES, ColourDetector())
    assert np.abs(cleared[spot].astype(int) - street_texture()[spot]).max() <= 2


def pair_boxes(gap: int):
    """Red and blue drive down the road side by side, blue ``gap`` px below and right of red (corners
    facing); the fake detector's loose boxes intersect at the corners for a gap under 2 * PAD."""

    def boxes(frame):
        y = int(30 + 120 * frame / (FRAMES - 1))
        return {RED: (60, y), BLUE: (60 + RECT[0] + gap, y + RECT[1] + gap)}

    return boxes


@pytest.mark.parametrize("gap, kept", [(3, 2), (-6, 0)])
def test_overlap_is_read_from_masks_not_boxes(tmp_path, fake_detector, caplog, gap, kept):
    # gap 3: the boxes intersect on road, the silhouettes are apart: both vehicles are whole.
    # gap -6: blue hides red's corner: every view of both is rejected as "overlap".
    video = write_video(tmp_path / "pair.avi", pair_boxes(gap))
    footage, sprites = synthetic_config(video)
    with caplog.at_level(logging.INFO, logger="mtmc.sim.sprites"):
        vehicles = harvest("pair", footage, sprites)
    assert len(vehicles) == kept
    if kept:
        for vehicle in vehicles:
            for view in vehicle.views:
                opaque = int((view.alpha > 127).sum())
                assert abs(opaque - RECT[0] * RECT[1]) < 0.08 * RECT[0] * RECT[1]  # one vehicle, not two
    else:
        assert "overlap=" in caplog.text


def test_crossing_traffic_is_not_harvested(tmp_path, fake_detector, caplog):
    # Red drives across the road (5 m across, nothing along it): it faces across the road drawn.
    video = write_video(tmp_path / "crossing.avi", lambda frame: {RED: (30 + int(180 * frame / (FRAMES - 1)), 100)})
    footage, sprites = synthetic_config(video)
    with caplog.at_level(logging.INFO, logger="mtmc.sim.sprites"):
        assert harvest("crossing", footage, sprites) == []
    assert "crossing=1" in caplog.text


def test_clearing_parked_vehicles_skips_boxes_too_big_to_be_one(monkeypatch):
    class Boxes:
        def detect(self, image):
            return np.array([[0, 0, 320, 240, 0.3, 2], [200, 100, 240, 128, 0.9, 2]], np.float32)

    monkeypatch.setattr(background_module, "build_detector", lambda name, **options: Boxes())
    image = street_texture()
    image[100:128, 200:240] = RED
    cleared = clear_parked_vehicles(image, SpritesConfig())
    assert (cleared[100:128, 200:240][..., 2] > 150).mean() < 0.1  # the parked car is painted out
    assert np.array_equal(cleared[:60], image[:60])  # the frame-sized false box is not


def test_synthetic_harvest_masks_feet_and_direction(synthetic_video, fake_detector):
    footage, sprites = synthetic_config(synthetic_video)
    vehicles = harvest("synth", footage, sprites)
    by_colour = {colour_of(v): v for v in vehicles}
    assert set(by_colour) == {RED, BLUE}  # the parked green one sits in the background
    assert by_colour[RED].views[0].approaching and not by_colour[BLUE].views[0].approaching
    for vehicle in vehicles:
        assert vehicle.key.startswith("synth/")
        assert sprites.min_views <= len(vehicle.views) <= sprites.max_views
        s = [view.s for view in vehicle.views]
        assert s == sorted(s) and s[-1] - s[0] > 15  # spread along the road
        for view in vehicle.views:
            h, w = view.alpha.shape
            assert view.bgr.shape == (h, w, 3) and view.bgr.dtype == view.alpha.dtype == np.uint8
            # The silhouette is the rectangle, not the detector's looser box.
            opaque = view.alpha > 127
            assert abs(int(opaque.sum()) - RECT[0] * RECT[1]) < 0.08 * RECT[0] * RECT[1]
            ys, xs = np.nonzero(opaque)
            assert xs.max() - xs.min() + 1 == pytest.approx(RECT[0], abs=2)
            assert ys.max() - ys.min() + 1 == pytest.approx(RECT[1], abs=2)
            # The foot is the silhouette's bottom centre.
            assert view.foot[0] == pytest.approx((xs.min() + xs.max() + 1) / 2, abs=1.0)
            assert view.foot[1] == pytest.approx(ys.max() + 1, abs=1.0)
            # 280 px across 8 m, no perspective.
            assert view.ppm == pytest.approx(35.0, rel=0.01)
            assert 0 <= view.s <= 45 and abs(view.u) <= 4


def test_cache_hit_skips_detection_and_corrupt_entry_is_rebuilt(synthetic_video, fake_detector, tmp_path):
    footage, sprites = synthetic_config(synthetic_video)
    background, vehicles = load_or_harvest("synth", footage, sprites, tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    assert not list(tmp_path.glob("*.tmp"))

    calls = ColourDetector.calls
    cached_background, cached = load_or_harvest("synth", footage, sprites, tmp_path)
    assert ColourDetector.calls == calls
    assert_same(background, vehicles, cached_background, cached)

    entry.write_bytes(entry.read_bytes()[:200])  # truncated: not a readable archive
    rebuilt_background, rebuilt = load_or_harvest("synth", footage, sprites, tmp_path)
    assert ColourDetector.calls > calls
    assert_same(background, vehicles, rebuilt_background, rebuilt)
    assert_same(background, vehicles, *load_or_harvest("synth", footage, sprites, tmp_path))

    other = sprites.model_copy(update={"max_views": 3})
    load_or_harvest("synth", footage, other, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2  # other settings, other entry


def assert_same(background_a, vehicles_a, background_b, vehicles_b) -> None:
    np.testing.assert_array_equal(background_a, background_b)
    assert [v.key for v in vehicles_a] == [v.key for v in vehicles_b]
    for a, b in zip(vehicles_a, vehicles_b):
        assert len(a.views) == len(b.views)
        for view_a, view_b in zip(a.views, b.views):
            np.testing.assert_array_equal(view_a.bgr, view_b.bgr)
            np.testing.assert_array_equal(view_a.alpha, view_b.alpha)
            assert (view_a.foot, view_a.s, view_a.u, view_a.ppm, view_a.approaching, view_a.frame) == (
                view_b.foot,
                view_b.s,
                view_b.u,
                view_b.ppm,
                view_b.approaching,
                view_b.frame,
            )


@pytest.fixture(scope="module")
def street_a(data_dir) -> tuple[FootageConfig, SpritesConfig]:
    config_path = Path(__file__).resolve().parents[1] / "configs" / "synthcity-small.yaml"
    config = yaml.safe_load(config_path.read_text())
    road = RoadConfig(**config["footage"]["street-a"]["road"])
    footage = FootageConfig(video=data_dir / "videos" / "street-a.mp4", road=road, frames=(0, 200))
    return footage, SpritesConfig(frame_step=4)


@pytest.mark.integration
def test_real_footage_gives_silhouettes_and_is_deterministic(street_a):
    footage, sprites = street_a
    vehicles = harvest("street-a", footage, sprites)
    assert vehicles
    for vehicle in vehicles:
        assert len(vehicle.views) >= sprites.min_views
        for view in vehicle.views:
            h, w = view.alpha.shape
            assert h >= sprites.min_height_px and view.bgr.shape == (h, w, 3)
            opaque = (view.alpha > 127).mean()
            assert 0.4 < opaque < 0.95  # a vehicle's outline, not its box
            corners = view.alpha[[0, 0, -1, -1], [0, -1, 0, -1]]
            assert (corners < 128).any()
            assert 0 <= view.s <= 46 and view.ppm > 0
    assert_same(np.zeros(1), vehicles, np.zeros(1), harvest("street-a", footage, sprites))
