"""``mtmc simulate --no-render``: per-camera tracklet streams for matcher load tests, no pixels.

Each passage of a vehicle through a camera's view becomes one tracklet: its boxes (the footage
road's homography and a nominal car size, so sizes and motion are those of the rendered cameras),
timestamps on the global clock, and a synthetic embedding

    f = normalise(identity + camera_shift * camera_direction + noise * random)

whose separation is set by ``embeddings:`` in the config. A recolour or twin's identity vector
lies ``lookalike`` away from the vehicle it copies, so look-alikes are hard here too.

Writes, per camera, ``tracks/cXXX.txt`` (MOTChallenge rows with per-camera track ids) and
``tracks/cXXX.npz`` (track_id, global_id, start_s, end_s, feature float16), the features'
calibration ``tracks/features.calibration.yaml`` (``matcher.calibration``), plus
``ground_truth.txt`` (AI City format, vehicles seen by two or more cameras), ``cam_timestamp.txt``
and ``topology.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtmc.match.evidence import AppearanceCalibration
from mtmc.sim.appearance import Look, assign_looks
from mtmc.sim.config import SimConfig
from mtmc.sim.geometry import RoadView
from mtmc.sim.truth import write_scenario_truth
from mtmc.sim.world import World, build_world, rng_for

CAR_LENGTH_M, CAR_WIDTH_M, CAR_HEIGHT_M = 4.5, 1.8, 1.5


def identity_vectors(world: World, looks: list[Look], config: SimConfig) -> np.ndarray:
    """(V, D) unit identity directions; look-alikes sit ``lookalike`` from their original."""
    dim = config.embeddings.dim
    rng = rng_for(config.seed, "identity")
    by_sprite = rng.standard_normal((max(look.sprite for look in looks) + 1, dim))
    vectors = np.empty((len(looks), dim))
    for k, look in enumerate(looks):
        base = by_sprite[look.sprite]
        if look.kind == "original":
            vectors[k] = base
        else:
            scale = config.embeddings.lookalike * (1.0 if look.kind == "recolour" else 0.3)
            vectors[k] = base + scale * rng.standard_normal(dim)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


CALIBRATION_VEHICLES = 200
CALIBRATION_FILE = "features.calibration.yaml"  # in tracks/, beside the features it calibrates


def feature_calibration(config: SimConfig) -> AppearanceCalibration:
    """The synthetic embedder's calibration, measured as ``mtmc reid calibrate`` measures a real one:
    cross-camera distances of ``CALIBRATION_VEHICLES`` other synthetic vehicles (look-alikes among
    them in the traffic's share), so the matcher reads these features as calibrated evidence."""
    e = config.embeddings
    rng = rng_for(config.seed, "calibration")
    identities = rng.standard_normal((CALIBRATION_VEHICLES, e.dim))
    share = min(1.0, config.traffic.recolour_fraction + config.traffic.twin_fraction)
    copies = np.flatnonzero(rng.uniform(size=CALIBRATION_VEHICLES) < share / (1 + share))
    originals = rng.integers(0, CALIBRATION_VEHICLES, len(copies))
    identities[copies] = identities[originals] + e.lookalike * rng.standard_normal((len(copies), e.dim))
    identities /= np.linalg.norm(identities, axis=1, keepdims=True)
    views = []
    for _ in range(2):  # two cameras
        direction = rng.standard_normal(e.dim)
        f = identities + e.camera_shift * direction / np.linalg.norm(direction)
        f = f + e.noise * rng.standard_normal(f.shape) / np.sqrt(e.dim)
        views.append(f / np.linalg.norm(f, axis=1, keepdims=True))
    distance = 1.0 - views[0] @ views[1].T
    different = ~np.eye(CALIBRATION_VEHICLES, dtype=bool)
    return AppearanceCalibration.fit(
        np.diag(distance), distance[different], f"{CALIBRATION_VEHICLES} other synthetic vehicles (seed {config.seed})"
    )


def box_of(road: RoadView, u: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h of a nominal car standing at ground points (u, s) of a footage road."""
    foot = road.to_image(np.column_stack([u, s]))
    ppm = road.pixels_per_metre(np.column_stack([u, s]))
    w = ppm * CAR_WIDTH_M * 1.4  # seen three-quarter on: wider than the car's width
    h = ppm * (CAR_HEIGHT_M + 0.3 * CAR_LENGTH_M)  # its height plus the roof's run toward the horizon
    return np.column_stack([foot[:, 0] - w / 2, foot[:, 1] - h, w, h])


def write_tracklets(config: SimConfig, out_dir: Path, show_progress: bool = True) -> dict:
    from rich.progress import track

    world = build_world(config)
    n_sprites = max(8, len(world.vehicles) // 2)  # no pixels: abstract "real vehicles" to copy
    looks = assign_looks(len(world.vehicles), n_sprites, config.traffic, rng_for(config.seed, "looks"))
    identity = identity_vectors(world, looks, config)
    index_of = {v.id: k for k, v in enumerate(world.vehicles)}
    dim = config.embeddings.dim
    passages = world.passages()
    roads = {
        name: RoadView(np.array(f.road.corners), f.road.width_m, f.road.length_m) for name, f in config.footage.items()
    }
    tracks_dir = out_dir / "tracks"
    tracks_dir.mkdir(parents=True, exist_ok=True)
    from mtmc.reid.calibration import calibration_yaml

    (tracks_dir / CALIBRATION_FILE).write_text(calibration_yaml(feature_calibration(config)))
    results: dict[str, dict] = {}
    for camera in track(world.cameras, description="tracklets", disable=not show_progress):
        road = roads[camera.footage]
        rng = rng_for(config.seed, "tracklets", camera.number)
        camera_direction = rng_for(config.seed, "camera-direction", camera.number).standard_normal(dim)
        camera_direction /= np.linalg.norm(camera_direction)
        count = int(np.floor((config.duration_s - camera.offset_s) * camera.fps))
        times = camera.offset_s + np.arange(count) / camera.fps
        length = world.graph.length(camera.a, camera.b)
        lines, meta, features, rows = [], [], [], []
        track_id = 0
        for vehicle, leg in passages.get((min(camera.a, camera.b), max(camera.a, camera.b)), []):
            inside = (times >= leg.t0) & (times <= leg.t1)
            if not inside.any():
                continue
            frames = np.nonzero(inside)[0]
            fraction = (times[frames] - leg.t0) / max(leg.t1 - leg.t0, 1e-9)
            receding = leg.a == camera.a
            from_a = fraction * length if receding else (1 - fraction) * length
            s = from_a - camera.start_m
            u = np.full_like(s, (1 if receding else -1) * world.lane_m + vehicle.lane_offset_m)
            in_view = (s >= 0) & (s <= camera.view_m)
            if in_view.sum() < 2:
                continue
            frames, u, s = frames[in_view], u[in_view], s[in_view]
            boxes = box_of(road, u, s)
            track_id += 1
            feature = identity[index_of[vehicle.id]] + config.embeddings.camera_shift * camera_direction
            feature = feature + config.embeddings.noise * rng.standard_normal(dim) / np.sqrt(dim)  # norm ~ noise
            features.append(feature / np.linalg.norm(feature))
            meta.append((track_id, vehicle.id, times[frames[0]], times[frames[-1]]))
            for f, (x, y, w, h) in zip(frames.tolist(), boxes.tolist()):
                lines.append(f"{f + 1},{track_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,-1,-1,-1\n")
                rows.append((f + 1, vehicle.id, x, y, w, h, 1.0, np.nan, np.nan))
        (tracks_dir / f"{camera.id}.txt").write_text("".join(lines))
        meta_array = np.array(meta, np.float64).reshape(-1, 4)
        np.savez(
            tracks_dir / f"{camera.id}.npz",
            track_id=meta_array[:, 0].astype(np.int64),
            global_id=meta_array[:, 1].astype(np.int64),
            start_s=meta_array[:, 2],
            end_s=meta_array[:, 3],
            feature=np.array(features, np.float16).reshape(-1, dim),
        )
        results[camera.id] = {"frames": count, "rows": np.array(rows, np.float64).reshape(-1, 9)}
    seen_by = write_scenario_truth(out_dir, world, config, results, [c.id for c in world.cameras])
    return {
        "cameras": len(world.cameras),
        "vehicles": len(world.vehicles),
        "tracklets": sum(len(np.unique(r["rows"][:, 1])) for r in results.values() if len(r["rows"])),
        "multi_camera_vehicles": sum(len(cams) >= 2 for cams in seen_by.values()),
        "boxes": sum(len(r["rows"]) for r in results.values()),
    }
