"""SynthCity without pixels: geometry, road graph, routes, schedules, topology, tracklet streams."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from mtmc.config import load_config
from mtmc.errors import MtmcError
from mtmc.sim.appearance import Look, apply_look, assign_looks
from mtmc.sim.config import SimConfig, TrafficConfig
from mtmc.sim.geometry import RoadView, apply_homography
from mtmc.sim.topology import camera_links
from mtmc.sim.tracklets import write_tracklets
from mtmc.sim.world import build_world

CORNERS = [[218, 170], [380, 166], [1000, 352], [300, 352]]


def small_config(**changes) -> SimConfig:
    data = {
        "seed": 0,
        "duration_s": 60,
        "footage": {"street": {"video": "street.mp4", "road": {"corners": CORNERS, "width_m": 8, "length_m": 45}}},
        "world": {
            "nodes": {"W": [0, 0], "X": [140, 0], "Y": [300, 0], "E": [440, 0], "N": [140, 150], "S": [300, -140]},
            "roads": [["W", "X"], ["X", "Y"], ["Y", "E"], ["X", "N"], ["Y", "S"]],
        },
        "cameras": [
            {"id": "c001", "road": ["W", "X"]},
            {"id": "c002", "road": ["X", "Y"], "fps": 12.5},
            {"id": "c003", "road": ["Y", "E"]},
            {"id": "c004", "road": ["X", "N"], "fps": 8},
        ],
        "traffic": {"vehicles": 30},
    }
    data.update(changes)
    return SimConfig.model_validate(data)


def test_road_view_maps_its_corners_and_shrinks_with_distance():
    road = RoadView(np.array(CORNERS, float), 8.0, 45.0)
    ground = np.array([[-4, 45], [4, 45], [4, 0], [-4, 0]], float)
    assert np.allclose(road.to_image(ground), CORNERS, atol=1e-6)
    assert np.allclose(road.to_ground(road.to_image(ground)), ground, atol=1e-6)
    near, far = road.pixels_per_metre(np.array([[0, 0], [0, 45]], float))
    assert near > 3 * far > 0
    with pytest.raises(ValueError, match="4 image points"):
        RoadView(np.zeros((3, 2)), 8, 45)


def test_routes_pass_the_cameras_they_should():
    world = build_world(small_config())
    distractors = [v for v in world.vehicles if v.distractor]
    assert len(distractors) == round(0.2 * 30)
    assert all(len(v.cameras) == 1 for v in distractors)
    assert all(len(v.cameras) >= 2 for v in world.vehicles if not v.distractor)
    for v in world.vehicles:
        for leg, nxt in zip(v.legs, v.legs[1:]):
            assert leg.b == nxt.a and leg.t1 <= nxt.t0 + 1e-9  # contiguous; may wait at a junction
        assert all(leg.t1 > leg.t0 for leg in v.legs)


def test_lanes_keep_order_and_headway_everywhere():
    config = small_config(traffic={"vehicles": 60, "headway_s": 1.5})
    world = build_world(config)
    lanes: dict = {}
    for v in world.vehicles:
        for leg in v.legs:
            lanes.setdefault((leg.a, leg.b), []).append(leg)
    busy = 0
    for legs in lanes.values():
        legs.sort(key=lambda leg: leg.t0)
        for first, second in zip(legs, legs[1:]):
            busy += 1
            for fraction in np.linspace(0, 1, 11):  # time each reaches the same point of the road
                t_first = first.t0 + fraction * (first.t1 - first.t0)
                t_second = second.t0 + fraction * (second.t1 - second.t0)
                assert t_second - t_first >= 1.5 - 1e-9
    assert busy > 20


def test_world_is_a_function_of_config_and_seed():
    a, b = build_world(small_config()), build_world(small_config())
    assert [(v.cameras, [(l.a, l.t0) for l in v.legs]) for v in a.vehicles] == [
        (v.cameras, [(l.a, l.t0) for l in v.legs]) for v in b.vehicles
    ]
    c = build_world(small_config(seed=1))
    assert [l.t0 for v in a.vehicles for l in v.legs] != [l.t0 for v in c.vehicles for l in v.legs]


def test_bad_worlds_fail_in_one_clear_line():
    bad_road = small_config(cameras=[{"id": "c001", "road": ["W", "Y"]}])
    with pytest.raises(MtmcError, match="no road W-Y"):
        build_world(bad_road)
    too_short = small_config(cameras=[{"id": "c001", "road": ["W", "X"], "at_m": 10}])
    with pytest.raises(MtmcError, match="does not fit on road W-X"):
        build_world(too_short)
    impossible = small_config(cameras=[{"id": "c001", "road": ["W", "X"]}])
    with pytest.raises(MtmcError, match="at least 2 cameras"):
        build_world(impossible)
    with pytest.raises(ValueError, match="unknown node 'Q'"):
        small_config(world={"nodes": {"A": [0, 0]}, "roads": [["A", "Q"]]})


def test_topology_distances_by_hand():
    world = build_world(small_config())
    links = {(l["from"], l["to"]): l for l in camera_links(world, small_config())}
    # c001 centre 70 m from X; c002 centre 80 m from X; c004 centre 75 m from X
    assert links[("c001", "c002")]["distance_m"] == pytest.approx(150)
    assert links[("c001", "c004")]["distance_m"] == pytest.approx(145)
    assert links[("c002", "c003")]["distance_m"] == pytest.approx(150)
    assert ("c001", "c003") not in links  # every way passes c002
    link = links[("c001", "c002")]
    assert link["min_s"] == pytest.approx(150 / 14.0, abs=0.01)


def test_grid_city_and_auto_cameras():
    config = small_config(world={"grid": {"rows": 3, "cols": 4, "block_m": 150}}, cameras=[],
                          auto_cameras={"count": 8, "fps": [10, 12.5]})  # fmt: skip
    world = build_world(config)
    assert len(world.graph.names) == 12 and len(world.graph.roads) == 3 * 3 + 2 * 4
    assert len(world.cameras) == 8 and len({(min(c.a, c.b), max(c.a, c.b)) for c in world.cameras}) == 8
    assert {c.fps for c in world.cameras} <= {10, 12.5}


def test_no_render_tracklets(tmp_path: Path):
    config = small_config(embeddings={"dim": 64, "camera_shift": 0.2, "noise": 0.3})
    summary = write_tracklets(config, tmp_path, show_progress=False)
    assert summary["cameras"] == 4 and summary["multi_camera_vehicles"] > 10
    features, ids = [], []
    for camera in ["c001", "c002", "c003", "c004"]:
        data = np.load(tmp_path / "tracks" / f"{camera}.npz")
        assert data["feature"].dtype == np.float16 and data["feature"].shape[1] == 64
        assert np.allclose(np.linalg.norm(data["feature"].astype(float), axis=1), 1, atol=1e-2)
        assert np.all(data["end_s"] > data["start_s"])
        rows = np.loadtxt(tmp_path / "tracks" / f"{camera}.txt", delimiter=",", ndmin=2)
        assert set(rows[:, 1].astype(int)) == set(data["track_id"].tolist())
        features.append(data["feature"].astype(float))
        ids.append(data["global_id"])
    features, ids = np.concatenate(features), np.concatenate(ids)
    similarity = features @ features.T
    same = ids[:, None] == ids[None, :]
    np.fill_diagonal(same, False)
    different = ids[:, None] != ids[None, :]
    assert similarity[same].mean() > similarity[different].mean() + 0.3
    gt = np.loadtxt(tmp_path / "ground_truth.txt", ndmin=2)
    cameras_per_id = {i: len(set(gt[gt[:, 1] == i, 0])) for i in np.unique(gt[:, 1])}
    assert min(cameras_per_id.values()) >= 2
    topology = yaml.safe_load((tmp_path / "topology.yaml").read_text())
    for link in topology["links"]:
        if "observed_s" in link:
            low, high, _ = link["observed_s"]
            assert link["min_s"] - 1.0 <= low and high <= link["max_s"]


def test_looks_reuse_real_vehicles_before_copying():
    rng = np.random.default_rng(0)
    looks = assign_looks(20, 8, TrafficConfig(recolour_fraction=0.25, twin_fraction=0.1), rng)
    originals = [l.sprite for l in looks if l.kind == "original"]
    assert len(originals) == len(set(originals)) == 8
    assert sum(l.kind == "twin" for l in looks) == 2
    copied = {l.sprite for l in looks if l.kind != "original"}
    assert copied <= set(originals)


def test_recolour_paints_the_body_not_the_tyres():
    bgr = np.zeros((20, 20, 3), np.uint8)
    bgr[:16] = (200, 200, 200)  # silver body
    bgr[16:] = (20, 20, 20)  # tyres
    bgr[2:5, 5:15] = (90, 60, 40)  # tinted windscreen
    alpha = np.full((20, 20), 255, np.uint8)
    painted = apply_look(bgr, alpha, Look(0, "recolour", hue=0.0))  # red
    body = painted[10, 10].astype(int)
    assert body[2] > body[1] + 40 and body[2] > body[0] + 40
    assert np.array_equal(painted[16:], bgr[16:]) and np.array_equal(painted[2:5, 5:15], bgr[2:5, 5:15])
    twin = apply_look(bgr, alpha, Look(0, "twin", brightness=1.03))
    assert 0 < np.abs(twin.astype(int) - bgr).max() <= 7


def test_configs_load():
    root = Path(__file__).resolve().parents[1] / "configs"
    names = ["synthcity-small.yaml", "synthcity-city.yaml", "synthcity-scale.yaml", "synthcity-three-clips.yaml"]
    for name in names:
        config = load_config(root / name, SimConfig)
        assert config.footage and (config.cameras or config.auto_cameras)
    assert len(load_config(root / "synthcity-city.yaml", SimConfig).auto_cameras.count * [0]) >= 20
    three = load_config(root / "synthcity-three-clips.yaml", SimConfig)
    assert {camera.footage for camera in three.cameras} == set(three.footage) == {
        "street-a",
        "street-b",
        "detrac-intersection",
    }  # every clip gives sprites and is some camera's background
    assert three.sprites.detector.name == "openvino" and three.sprites.footage is None


def test_calibration_maps_world_to_local():
    world = build_world(small_config())
    camera = world.cameras[0]
    m = camera.world_to_local(world.graph)
    a, b = world.graph.xy[camera.a], world.graph.xy[camera.b]
    direction = (b - a) / np.linalg.norm(b - a)
    near_centre = a + direction * camera.start_m
    assert np.allclose(apply_homography(m, near_centre[None]), [[0, 0]], atol=1e-9)
    far = a + direction * (camera.start_m + 45)
    assert np.allclose(apply_homography(m, far[None]), [[0, 45]], atol=1e-9)
