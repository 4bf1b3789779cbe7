"""Write a SynthCity scenario, as one scenario folder (``layout="scenario"``, the default)::

    DIR/cXXX/vdo.mp4, gt/gt.txt, roi.jpg, calibration.txt   one folder per camera
    DIR/ground_truth.txt    AI City submission format, vehicles seen by two or more cameras
    DIR/cam_timestamp.txt   each camera's start on the global clock (seconds)
    DIR/topology.yaml       cameras, and which camera follows which with travel-time ranges
    DIR/vehicles.json       per vehicle: which real vehicle it looks like, its route, its cameras

or as one scene of an AI City Challenge Track 1 download (``layout="aicity"``)::

    ROOT/<split>/SXX/cXXX/vdo.avi, roi.jpg, calibration.txt, gt/gt.txt (not in the test split:
                            MOTChallenge rows frame,id,left,top,width,height,1,-1,-1,-1 of the
                            vehicles seen by two or more cameras, as AI City's)
    ROOT/cam_timestamp/SXX.txt, ROOT/cam_framenum/SXX.txt   each camera's start (s) and frame count
    ROOT/synthcity/SXX/     what AI City does not ship: ground_truth.txt, topology.yaml, vehicles.json

The AI City layout's calibration.txt is CityFlow's: GPS degrees (latitude, longitude; the world's
metres placed east/north of ``GPS_ORIGIN``) to pixels, and every second camera (even numbers) films
through a distorting lens, its homography for the undistorted image with the lens given below it
(``Intrinsic parameter matrix:``, ``Distortion coefficients:``), so reading a real download's
units and lenses is tested end to end. The scenario layout stays in metres, without lenses.

Cameras render in parallel processes; every random draw comes from the seed, so the same config
and seed give the same files.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import re
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mtmc.errors import MtmcError
from mtmc.match.geometry import metres_from_degrees
from mtmc.progress import camera_bars, follow
from mtmc.sim.appearance import Look, assign_looks
from mtmc.sim.background import clear_parked_vehicles
from mtmc.sim.config import SimConfig
from mtmc.sim.geometry import RoadView
from mtmc.sim.render import MOT_CAR_CLASS, CameraLook, CameraRenderer, draw_lens
from mtmc.sim.sprites import SpriteVehicle, footage_background, load_or_harvest
from mtmc.sim.truth import write_scenario_truth
from mtmc.sim.world import World, build_world, rng_for

log = logging.getLogger(__name__)

GPS_ORIGIN = (42.5, -90.7)  # (lat, lon) of the world's (0, 0) in the AI City layout: CityFlow's Dubuque, Iowa


def default_cache_dir() -> Path:
    import os

    return Path(os.environ.get("MTMC_CACHE_DIR", Path.home() / ".cache" / "mtmc"))


@dataclass
class Scene:
    """Everything a camera needs to render, rebuilt identically in each worker from the config
    (backgrounds are handed over: clearing parked cars runs the detector once, in the parent)."""

    config: SimConfig
    world: World
    backgrounds: dict[str, np.ndarray]
    bank: list[SpriteVehicle]
    looks: dict[int, Look]

    @classmethod
    def build(cls, config: SimConfig, backgrounds: dict[str, np.ndarray] | None = None) -> Scene:
        """``backgrounds``: the finished backgrounds of an earlier build, reused as they are."""
        cache = config.cache_dir or default_cache_dir()
        sprite_footage = config.sprites.footage or list(config.footage)
        given = backgrounds
        backgrounds = {}
        bank: list[SpriteVehicle] = []
        for name in sprite_footage:
            backgrounds[name], vehicles = load_or_harvest(name, config.footage[name], config.sprites, cache)
            bank += vehicles
        if not bank:
            raise MtmcError(
                f"no vehicle could be cut from footage {', '.join(sprite_footage)}: check that the videos show "
                "moving vehicles, or lower sprites.min_height_px / sprites.min_views"
            )
        world = build_world(config)
        if given is not None:
            backgrounds = given
        else:
            for camera in world.cameras:
                if camera.footage not in backgrounds:
                    backgrounds[camera.footage] = footage_background(config.footage[camera.footage], config.sprites)
            if config.render.clear_parked:
                backgrounds = {name: clear_parked_vehicles(image, config.sprites) for name, image in backgrounds.items()}
        looks = assign_looks(len(world.vehicles), len(bank), config.traffic, rng_for(config.seed, "looks"))
        return cls(config, world, backgrounds, bank, {v.id: look for v, look in zip(world.vehicles, looks)})

    def renderer(self, camera_id: str, layout: str = "scenario") -> CameraRenderer:
        """Camera ``camera_id``'s renderer; in the AI City layout even-numbered cameras get a lens."""
        placement = next(c for c in self.world.cameras if c.id == camera_id)
        footage = self.config.footage[placement.footage]
        background = self.backgrounds[placement.footage]
        spec = next((c for c in self.config.cameras if c.id == camera_id), None)
        from mtmc.sim.config import ViewConfig

        look = CameraLook.draw(
            spec.view if spec is not None else ViewConfig(),
            (background.shape[1], background.shape[0]),
            placement.size,
            rng_for(self.config.seed, "look", placement.number),
        )
        road = RoadView(np.array(footage.road.corners), footage.road.width_m, footage.road.length_m)
        lens = None
        if layout == "aicity" and placement.number % 2 == 0:
            lens = draw_lens(look.size, rng_for(self.config.seed, "lens", placement.number))
        return CameraRenderer(self.world, placement, road, background, self.bank, self.looks, look, self.config.seed, lens)


def render_camera(
    config: dict,
    camera_id: str,
    out_dir: str,
    backgrounds: dict[str, np.ndarray],
    events: multiprocessing.Queue | None = None,
    layout: str = "scenario",
) -> dict:
    """Process entry point: render one camera's video and ground truth; returns its GT rows.
    ``layout``: scenario (vdo.mp4, ``render.codec``) or aicity (vdo.avi, ``render.avi_codec``,
    CityFlow's calibration: module docstring)."""
    import cv2

    scene = Scene.build(SimConfig.model_validate(config), backgrounds)
    renderer = scene.renderer(camera_id, layout)
    video_name = "vdo.avi" if layout == "aicity" else "vdo.mp4"
    folder = Path(out_dir) / camera_id
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    count = renderer.frame_count()
    if events is not None:
        events.put((camera_id, "total", count))
    placement = renderer.placement
    codec, setting = (
        (scene.config.render.avi_codec, "render.avi_codec") if video_name.endswith(".avi") else (scene.config.render.codec, "render.codec")
    )
    writer = cv2.VideoWriter(str(folder / video_name), cv2.VideoWriter_fourcc(*codec), placement.fps, placement.size)
    if not writer.isOpened():
        fix = "XVID or MJPG" if video_name.endswith(".avi") else "mp4v"
        raise MtmcError(f"cannot write {folder / video_name} with codec {codec!r} (set {setting} to {fix})")
    rows = []
    keep = scene.config.render
    try:
        for index in range(count):
            image, truth = renderer.render(index)
            writer.write(image)
            for box in truth:
                if box.visibility >= keep.min_visibility and box.box[3] >= keep.min_box_px and box.box[2] >= 2:
                    rows.append((index + 1, box.vehicle, *box.box, box.visibility, *box.world))
            if events is not None and index % 10 == 9:
                events.put((camera_id, "frame", 10))
    finally:
        writer.release()
    if events is not None and count % 10:
        events.put((camera_id, "frame", count % 10))
    table = np.array(rows, np.float64).reshape(-1, 9)
    lines = [
        f"{int(f)},{int(i)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},1,{MOT_CAR_CLASS},{v:.4f}\n"
        for f, i, x, y, w, h, v, _wx, _wy in table.tolist()
    ]
    (folder / "gt" / "gt.txt").write_text("".join(lines))
    cv2.imwrite(str(folder / "roi.jpg"), renderer.roi(), [cv2.IMWRITE_JPEG_QUALITY, 100])
    (folder / "calibration.txt").write_text(calibration_text(renderer, scene.world, layout))
    return {"camera": camera_id, "frames": count, "rows": table}


def calibration_text(renderer: CameraRenderer, world: World, layout: str) -> str:
    """The camera's calibration.txt: world metres -> pixels (scenario layout), or as CityFlow's
    (aicity layout): GPS (lat, lon) -> pixels of the undistorted image, and the lens when it has one."""
    ground_to_image = renderer.look.warp @ renderer.road.ground_to_image @ renderer.placement.world_to_local(world.graph)
    if layout != "aicity":
        return (
            f"Homography matrix: {_matrix(ground_to_image / ground_to_image[2, 2], '.9g')}\n"
            "# maps ground-plane world metres (x, y, 1) to image pixels of this camera\n"
        )
    # GPS values differ in their 5th digit across a view: 17 digits keep the map to the millimetre
    gps_to_image = ground_to_image @ metres_from_degrees(GPS_ORIGIN)
    lines = [f"Homography matrix: {_matrix(gps_to_image / np.abs(gps_to_image).max(), '.17g')}"]
    if renderer.lens is not None:
        lines.append(f"Intrinsic parameter matrix: {_matrix(renderer.lens.matrix, '.17g')}")
        lines.append(f"Distortion coefficients: {' '.join(f'{v:.17g}' for v in renderer.lens.distortion)}")
    lines.append(
        f"# maps GPS (latitude, longitude, 1) to pixels of this camera's {'undistorted ' if renderer.lens else ''}image; "
        f"SynthCity's world metres are east/north of {GPS_ORIGIN[0]}, {GPS_ORIGIN[1]}"
    )
    return "".join(line + "\n" for line in lines)


def _matrix(matrix: np.ndarray, spec: str) -> str:
    """``a b c;d e f;g h i``"""
    return ";".join(" ".join(format(v, spec) for v in row) for row in matrix)


SPLITS = ("train", "validation", "test")


def simulate(
    config: SimConfig, out_dir: Path, show_progress: bool = True, layout: str = "scenario",
    split: str = "validation", scene_name: str = "S01",
) -> dict:  # fmt: skip
    """Render every camera and write the scenario files; returns a summary.

    ``layout="aicity"`` writes ``out_dir`` as an AI City download holding one scene (module docstring)."""
    if layout not in ("scenario", "aicity"):
        raise MtmcError(f"unknown layout {layout!r}: scenario or aicity")
    if layout == "aicity":
        if split not in SPLITS:
            raise MtmcError(f"unknown split {split!r}: {', '.join(SPLITS)}")
        if not re.fullmatch(r"S\d{1,4}", scene_name):
            raise MtmcError(f"scene name {scene_name!r} is not an AI City scene name (S01, S02, ...)")
    check_footage(config)
    cameras_dir = out_dir / split / scene_name if layout == "aicity" else out_dir
    cameras_dir.mkdir(parents=True, exist_ok=True)
    scene = Scene.build(config)  # harvest (or load) sprites once, before the workers read the cache
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    events = manager.Queue()
    payload = config.model_dump(mode="json")
    cameras = [c.id for c in scene.world.cameras]
    with (
        camera_bars(disable=not show_progress) as progress,
        ProcessPoolExecutor(max_workers=min(config.render.workers, len(cameras)), mp_context=context) as pool,
    ):
        tasks = {c: progress.add_task(f"render {c}", total=None) for c in cameras}
        futures: dict[str, Future] = {
            c: pool.submit(render_camera, payload, c, str(cameras_dir), scene.backgrounds, events, layout) for c in cameras
        }
        results = follow(progress, tasks, events, futures, Future.result, lambda camera, _: f"render {camera} done")
    manager.shutdown()
    if layout == "aicity":
        return write_aicity_files(scene, out_dir, split, scene_name, results)
    return write_scenario_files(scene, out_dir, results)


def check_footage(config: SimConfig) -> None:
    """Every footage video the render reads exists: a missing one is named with the fix, not a traceback."""
    used = list(config.sprites.footage or config.footage)
    used += [c.footage for c in config.cameras if c.footage is not None and c.footage not in used]
    if config.auto_cameras is not None or any(c.footage is None for c in config.cameras):
        used += [name for name in config.footage if name not in used]  # cameras take the footage list in turn
    for name in used:
        footage = config.footage.get(name)
        if footage is None:
            continue  # the config's own checks name an unknown footage
        if not Path(footage.video).is_file():
            raise MtmcError(
                f"footage {name}: video not found: {footage.video} (set footage.{name}.video in the config to "
                "an existing video; relative paths are taken from the config's folder)"
            )


def write_aicity_files(scene: Scene, root: Path, split: str, scene_name: str, results: dict[str, dict]) -> dict:
    """The AI City scene files of a rendered scene: clocks and frame counts at ``root``, each camera's
    gt/gt.txt in AI City's form (vehicles seen by 2+ cameras; none in the test split), and the files AI
    City does not ship (ground_truth.txt, topology.yaml, vehicles.json) under ``root/synthcity/SXX``."""
    world = scene.world
    extras = root / "synthcity" / scene_name
    extras.mkdir(parents=True, exist_ok=True)
    summary = write_scenario_files(scene, extras, results)
    (extras / "cam_timestamp.txt").unlink(missing_ok=True)  # the clocks are ROOT/cam_timestamp/SXX.txt
    for folder, lines in (
        ("cam_timestamp", [f"{c.id} {c.offset_s:.3f}\n" for c in world.cameras]),
        ("cam_framenum", [f"{c.id} {results[c.id]['frames']}\n" for c in world.cameras]),
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{scene_name}.txt").write_text("".join(lines))
    seen_by: dict[int, set[str]] = {}
    for camera, result in results.items():
        for vehicle in np.unique(result["rows"][:, 1]).astype(int).tolist():
            seen_by.setdefault(vehicle, set()).add(camera)
    multi = {v for v, cams in seen_by.items() if len(cams) >= 2}
    for camera, result in results.items():
        gt = root / split / scene_name / camera / "gt"
        if split == "test":  # AI City's test split comes without ground truth
            (gt / "gt.txt").unlink(missing_ok=True)
            if gt.is_dir() and not any(gt.iterdir()):
                gt.rmdir()
            continue
        lines = [
            f"{int(f)},{int(i)},{round(x)},{round(y)},{round(w)},{round(h)},1,-1,-1,-1\n"
            for f, i, x, y, w, h, *_ in result["rows"].tolist()
            if int(i) in multi
        ]
        (gt / "gt.txt").write_text("".join(lines))
    return {**summary, "scene": f"{split}/{scene_name}"}


def write_scenario_files(scene: Scene, out_dir: Path, results: dict[str, dict]) -> dict:
    world = scene.world
    seen_by = write_scenario_truth(out_dir, world, scene.config, results, sorted(results))
    vehicles = [
        {
            "id": v.id,
            "looks_like": scene.bank[scene.looks[v.id].sprite].key,
            "look": scene.looks[v.id].kind,
            "route": [world.graph.names[leg.a] for leg in v.legs] + [world.graph.names[v.legs[-1].b]],
            "cameras_on_route": v.cameras,
            "seen_by": sorted(seen_by.get(v.id, ())),
            "distractor": v.distractor,
        }
        for v in world.vehicles
    ]
    (out_dir / "vehicles.json").write_text(json.dumps(vehicles, indent=1) + "\n")
    summary = {
        "cameras": len(results),
        "frames": sum(r["frames"] for r in results.values()),
        "boxes": sum(len(r["rows"]) for r in results.values()),
        "vehicles": len(world.vehicles),
        "multi_camera_vehicles": sum(len(cams) >= 2 for cams in seen_by.values()),
        "real_vehicles": len(scene.bank),
    }
    log.info("scenario written to %s: %s", out_dir, summary)
    return summary
