"""``mtmc aicity``: the whole system on an AI City Challenge Track 1 (CityFlow MTMC) download, scene by
scene, into one submission (``track1.txt``) and, where the split has ground truth, the challenge's score."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from mtmc.runtime.scenario import Scene
    from mtmc.types import TrackRows

HELP = "run the system on an AI City Challenge Track 1 download (scene by scene): track1.txt and scores"
DESCRIPTION = """\
Run the whole system (matcher + one worker per camera, as `mtmc run`) on each scene of one split of
an AI City Challenge Track 1 (CityFlow MTMC) download laid out as AI City ships it:

  ROOT/<split>/SXX/cXXX/vdo.avi, roi.jpg, calibration.txt, gt/gt.txt (not in test)
  ROOT/cam_timestamp/SXX.txt   (c001 0.000: each camera's start, seconds)
  ROOT/cam_framenum/SXX.txt    (c001 2110: each camera's frame count, checked against the video)

Each scene runs with its cameras, clocks, calibration and the parts of --config (defaults
otherwise) into OUT/SXX/ (run.yaml: the scene's config, submission.txt, mot/, videos/, logs/,
status.json; ground_truth.txt where the split has one). OUT/track1.txt is the challenge's
submission: `camera_id obj_id frame_id xmin ymin width height xworld yworld` for all scenes, ids
unique across scenes, boxes whose bottom centre lies outside the camera's roi.jpg dropped.

Where the split has ground truth (train, validation) each scene and all scenes together are scored
by the AI City protocol (as `mtmc eval --mode aicity`: ground truth from the cameras' gt/gt.txt,
vehicles of 2+ cameras; IDF1 is the challenge's score): a table, and OUT/scores.json.
Exit 0: every scene complete; 1: a camera failed or lost frames; 130/143: interrupted (--resume
continues: finished scenes are kept, the interrupted one resumes).
"""
EPILOG = """\
examples:
  mtmc aicity /data/AIC21_Track3_MTMC --split validation -o runs/aic-val
  mtmc aicity /data/AIC21_Track3_MTMC --split validation --scenes S02 --config my-parts.yaml -o runs/s02
  mtmc aicity /data/AIC21_Track3_MTMC --split test -o runs/aic-test     (track1.txt to submit)
  mtmc simulate configs/synthcity-small.yaml -o runs/aic-synth --layout aicity && \\
    mtmc aicity runs/aic-synth --split validation -o runs/aic-synth-run
"""
ROI_WHITE = 128  # roi.jpg is a JPEG: white (255) and black (0) blur into each other at the border


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from mtmc.runtime.scenario import SPLITS

    p = subparsers.add_parser(
        "aicity", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("root", metavar="ROOT", help="the download's folder (holding train/ validation/ test/ cam_timestamp/)")
    p.add_argument("--split", required=True, choices=SPLITS, help="which split to run")
    p.add_argument("--scenes", metavar="S02,S05", help="only these scenes (comma separated; default: all of the split)")
    p.add_argument("--config", metavar="CFG", help="run config whose parts (detector, tracker, embedder, matcher, ...) to use")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="write OUT/SXX/..., OUT/track1.txt, OUT/scores.json")
    p.add_argument("--mode", choices=["online", "offline"], help="override matcher.mode")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run: keep finished scenes, resume the rest")
    p.add_argument("--no-video", action="store_true", help="skip the annotated videos")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, command="aicity")


def run(args: argparse.Namespace) -> int:
    import signal

    from mtmc.config import MtmcConfig, load_config
    from mtmc.errors import MtmcError
    from mtmc.runtime.scenario import aicity_scenes

    names = [n.strip() for n in args.scenes.split(",") if n.strip()] if args.scenes else None
    if args.scenes is not None and not names:
        raise MtmcError("--scenes: give scene names, e.g. --scenes S02,S05")
    scenes = aicity_scenes(Path(args.root), args.split, names)  # every scene checked before any runs
    base = load_config(args.config) if args.config else MtmcConfig()
    if base.cameras:
        raise MtmcError(f"{args.config}: remove cameras: (mtmc aicity takes each scene's cameras from ROOT)")
    if base.scenario is not None:
        _say(f"note: {args.config}'s scenario: is not used; each scene of {args.root}/{args.split} is run")
    from mtmc.outputs.paths import writable_dir

    out = writable_dir(Path(args.out).resolve(), "output folder")
    _warn_shared_cameras(scenes)

    state: dict = {"supervisor": None, "signal": None}

    def stop(signum: int, _frame) -> None:
        state["signal"] = signum
        if state["supervisor"] is not None:
            state["supervisor"].interrupt(signum)

    handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    resume = f"mtmc aicity {args.root} --split {args.split}" + (f" --scenes {args.scenes}" if args.scenes else "")
    resume += (f" --config {args.config}" if args.config else "") + f" -o {args.out} --resume"
    finished: dict[str, dict] = {}
    try:
        for number, scene in enumerate(scenes, 1):
            if state["signal"] is not None:
                return _interrupted(out, scene.name, state["signal"], resume)
            code = _run_scene(scene, number, len(scenes), base, out, args, state)
            if code is not None:
                return _interrupted(out, scene.name, code, resume)
            finished[scene.name] = _read_scene_status(out / scene.name)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return _finish(scenes, base, out, finished)


def _say(text: str) -> None:
    print(f"mtmc aicity: {text}", file=sys.stderr)


def _warn_shared_cameras(scenes: list[Scene]) -> None:
    """AI City numbers cameras uniquely within a split; track1.txt cannot tell two scenes' c001 apart."""
    seen: dict[int, str] = {}
    for scene in scenes:
        for camera in scene.cameras:
            if camera.number in seen:
                _say(
                    f"warning: camera {camera.id} is in scenes {seen[camera.number]} and {scene.name}: track1.txt "
                    "names cameras by number only, so their rows share one camera there (the scores keep them apart)"
                )
            seen.setdefault(camera.number, scene.name)


def _interrupted(out: Path, scene: str, signum: int, resume: str) -> int:
    from mtmc.runtime.status import write_status

    write_status(out, "interrupted", why=f"mtmc aicity was interrupted in scene {scene}: results are partial", resume=resume)
    _say(f"interrupted in scene {scene}; the results in {out} are partial. Continue with: {resume}")
    return 128 + signum


def _read_scene_status(folder: Path) -> dict:
    from mtmc.runtime.status import read_status

    return read_status(folder) or {"state": "missing"}


def _run_scene(scene: Scene, number: int, count: int, base, out: Path, args, state: dict) -> int | None:
    """Run one scene into OUT/SXX; the signal number when interrupted, else None."""
    from mtmc.config import load_config
    from mtmc.formats import write_aicity
    from mtmc.progress import supervise_with_bars
    from mtmc.runtime.scenario import scene_truth, with_scenario
    from mtmc.runtime.status import write_status
    from mtmc.runtime.supervisor import Interrupted, Supervisor, render_global_videos

    folder = out / scene.name
    ids = ", ".join(c.id for c in scene.cameras)
    truth = "ground truth" if scene.has_truth else "no ground truth"
    print(f"scene {scene.name} ({number}/{count}): {len(scene.cameras)} cameras ({ids}), {truth}", file=sys.stderr)
    for note in scene.notes:
        _say(f"note: {note}")
    previous = _read_scene_status(folder)
    if args.resume and previous.get("state") in ("complete", "incomplete") and (folder / "submission.txt").is_file():
        print(f"scene {scene.name}: finished before ({previous['state']}), kept", file=sys.stderr)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    truth_path = None
    if scene.has_truth:
        truth_path = folder / "ground_truth.txt"
        write_aicity(truth_path, scene_truth(scene))
    config_path = _write_scene_config(base, scene, folder, truth_path)
    config = with_scenario(load_config(config_path))
    supervisor = Supervisor(config_path, config, folder, resume=args.resume, mode=args.mode)
    state["supervisor"] = supervisor
    started = time.monotonic()
    try:
        outcomes = supervise_with_bars(supervisor, quiet=args.quiet, prefix=f"{scene.name} ")
    except Interrupted as exc:
        write_status(folder, "interrupted", why="mtmc aicity was interrupted: these results are partial")
        return exc.code - 128
    finally:
        state["supervisor"] = None
    failed = {name: why for name, why in outcomes.items() if why != "done"}
    for name, why in failed.items():
        _say(f"error: scene {scene.name} camera {name}: {why}")
    lost = {w.name: w.lost for w in supervisor.workers.values() if w.lost}
    for name, what in lost.items():
        _say(f"warning: scene {scene.name} camera {name}: {what}, skipped; its results cover the rest")
    mismatched = _check_frame_counts(scene, supervisor)
    if failed or lost:
        write_status(folder, "incomplete", failed=failed, lost_frames=lost, frame_counts=mismatched)
    else:
        write_status(folder, "complete", frame_counts=mismatched)
    if config.output.video and not args.no_video:
        render_global_videos(config, folder)
    boxes = _count_lines(folder / "submission.txt")
    print(f"scene {scene.name}: done in {time.monotonic() - started:.1f} s, {boxes} boxes in {folder / 'submission.txt'}", file=sys.stderr)
    return None


def _write_scene_config(base, scene: Scene, folder: Path, truth: Path | None) -> Path:
    """OUT/SXX/run.yaml: the parts of CFG with this scene's folder, output and ground truth
    (``mtmc run OUT/SXX/run.yaml`` runs the scene again)."""
    import yaml

    evaluation = base.eval.model_copy(
        update={"gt": truth, "pred": None, "mode": "aicity", "roi_dir": scene.folder if truth else None, "json_out": None}
    )
    config = base.model_copy(
        update={
            "cameras": [],
            "scenario": scene.folder.resolve(),
            "output": base.output.model_copy(update={"dir": folder}),
            "eval": evaluation,
        }
    )
    path = folder / "run.yaml"
    head = f"# written by mtmc aicity: scene {scene.name} of {scene.root} ({scene.split})\n"
    path.write_text(head + yaml.safe_dump(config.model_dump(mode="json", by_alias=True), sort_keys=False))
    return path


def _check_frame_counts(scene: Scene, supervisor) -> dict[str, dict]:
    """Each camera's frames as decoded (the worker's count, else the container's) against cam_framenum."""
    mismatched = {}
    for camera in scene.cameras:
        if camera.frames is None:
            continue
        worker = supervisor.workers.get(camera.id)
        decoded = _decoded_frames(worker.log_path, camera.id) if worker is not None else None
        how = "decoded"
        if decoded is None:
            decoded, how = _container_frames(camera.video), "holds"
        if decoded is not None and decoded != camera.frames:
            _say(
                f"warning: scene {scene.name} camera {camera.id}: {scene.framenums} says {camera.frames} frames, "
                f"{camera.video.name} {how} {decoded}"
            )
            mismatched[camera.id] = {"cam_framenum": camera.frames, how: decoded}
    return mismatched


def _decoded_frames(log: Path, camera: str) -> int | None:
    """The frame count of the worker's last summary line (``c001: 2110 frames in ...``)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = re.findall(rf"^{re.escape(camera)}: (\d+) frames in ", text, re.MULTILINE)
    return int(found[-1]) if found else None


def _container_frames(video: Path) -> int | None:
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    finally:
        capture.release()
    return count if count > 0 else None


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as stream:
            return sum(1 for line in stream if line.strip())
    except OSError:
        return 0


# --- the submission and its score ------------------------------------------------------------------


def roi_masks(scene: Scene) -> dict[int, np.ndarray]:
    """Grey roi.jpg of each camera that has one, by camera number."""
    from mtmc.metrics.aicity import find_roi_masks

    return find_roi_masks(scene.folder, [c.number for c in scene.cameras if c.roi is not None])


def foot_outside_roi(rows: TrackRows, masks: dict[int, np.ndarray]) -> np.ndarray:
    """Rows whose box's bottom centre (clipped into the image) lies on a non-white ROI pixel;
    cameras without a mask keep every row."""
    import numpy as np

    outside = np.zeros(len(rows), bool)
    for camera, mask in masks.items():
        index = np.flatnonzero(rows.camera == camera)
        if len(index) == 0:
            continue
        height, width = mask.shape
        x, y, w, h = rows.xywh[index].T
        column = np.clip(np.floor(x + w / 2), 0, width - 1).astype(np.int64)
        row = np.clip(np.floor(y + h), 0, height - 1).astype(np.int64)
        outside[index] = mask[row, column] < ROI_WHITE
    return outside


def read_submission(path: Path) -> tuple[TrackRows, np.ndarray]:
    """An AI City submission's rows and (N, 2) world coordinates (-1 where it has none)."""
    import numpy as np

    from mtmc.formats.aicity import COLUMNS
    from mtmc.formats.table import read_numeric_table, whole_numbers
    from mtmc.types import TrackRows

    if not path.is_file() or not path.stat().st_size:
        return TrackRows.empty(), np.zeros((0, 2))
    table = read_numeric_table(path, 7, "submission", COLUMNS, optional=2)
    rows = TrackRows(
        camera=whole_numbers(table, 0, path, "camera"),
        id=whole_numbers(table, 1, path, "id"),
        frame=whole_numbers(table, 2, path, "frame"),
        xywh=table[:, 3:7],
    )
    return rows, np.nan_to_num(table[:, 7:9], nan=-1.0)


def build_submission(
    scenes: list[Scene], out: Path
) -> tuple[dict[str, TrackRows], dict[str, np.ndarray], dict[str, dict]]:
    """Each scene's predictions for track1.txt (ROI-filtered, ids renumbered 1.. after the previous
    scene's, so that they are unique across scenes), their world coordinates and per-scene counts;
    reads OUT/SXX/submission.txt."""
    import numpy as np

    predictions, worlds, details, offset = {}, {}, {}, 0
    for scene in scenes:
        rows, world = read_submission(out / scene.name / "submission.txt")
        outside = foot_outside_roi(rows, roi_masks(scene)) if len(rows) else np.zeros(0, bool)
        rows, world = rows.take(~outside), world[~outside]
        ids, inverse = np.unique(rows.id, return_inverse=True)
        predictions[scene.name] = rows.replace(id=offset + 1 + inverse.astype(np.int64))
        worlds[scene.name] = world
        offset += len(ids)
        details[scene.name] = {"boxes": len(rows), "dropped_outside_roi": int(outside.sum()), "ids": len(ids)}
    return predictions, worlds, details


def score_scenes(
    scenes: list[Scene], truths: dict[str, TrackRows], predictions: dict[str, TrackRows], iou: float = 0.5
) -> tuple[dict[str, dict], dict]:
    """The AI City protocol per scene and over all scenes together (every GT camera of every scene in
    one sequence, as the challenge joins them); returns (table for print_table, protocol counts)."""
    import numpy as np

    from mtmc.metrics.aicity import evaluate_aicity
    from mtmc.metrics.report import results_dict
    from mtmc.types import TrackRows

    per_scene, dropped = {}, {}
    all_gt, all_pred, all_masks = [], [], {}
    numbers = [c.number for s in scenes for c in s.cameras]
    shared = len(set(numbers)) != len(numbers)
    id_offset = 0
    for index, scene in enumerate(scenes):
        gt, pred = truths[scene.name], predictions[scene.name]
        masks = roi_masks(scene)
        result = evaluate_aicity(gt, pred, masks, iou, ignore_extra_cameras=True)
        per_scene[scene.name] = result.overall
        dropped[scene.name] = _dropped(result)
        # together: GT ids made unique per scene; cameras kept apart when two scenes share a number
        shift = (index + 1) * 100_000 if shared else 0
        ids, inverse = np.unique(gt.id, return_inverse=True)
        all_gt.append(gt.replace(id=id_offset + 1 + inverse.astype(np.int64), camera=gt.camera + shift))
        id_offset += len(ids)
        all_pred.append(pred.replace(camera=pred.camera + shift))
        all_masks.update({camera + shift: mask for camera, mask in masks.items()})
    together = evaluate_aicity(TrackRows.concat(all_gt), TrackRows.concat(all_pred), all_masks, iou, ignore_extra_cameras=True)
    table = results_dict(per_scene, together.overall)
    for name, counts in {**dropped, "overall": _dropped(together)}.items():
        table[name].update(counts)
    return table, {"scenes": list(per_scene)}


def _dropped(result) -> dict[str, int]:
    return {
        "dropped_roi": result.dropped_roi,
        "dropped_single_camera": result.dropped_single_camera,
        "dropped_repeats": result.dropped_repeats,
    }


def _finish(scenes: list[Scene], base, out: Path, finished: dict[str, dict]) -> int:
    import numpy as np

    from mtmc.formats import read_aicity, write_aicity
    from mtmc.metrics.report import print_table, write_json
    from mtmc.runtime.status import write_status
    from mtmc.types import TrackRows

    predictions, worlds, details = build_submission(scenes, out)
    submission = TrackRows.concat(list(predictions.values()))
    write_aicity(out / "track1.txt", submission, np.concatenate([worlds[s.name] for s in scenes]).reshape(-1, 2))
    dropped = sum(d["dropped_outside_roi"] for d in details.values())
    print(
        f"track1.txt: {len(submission)} boxes of {sum(d['ids'] for d in details.values())} ids from "
        f"{len(scenes)} scenes ({dropped} boxes with the bottom centre outside roi.jpg dropped) -> {out / 'track1.txt'}",
        file=sys.stderr,
    )
    incomplete = {
        name: {k: status[k] for k in ("failed", "lost_frames") if status.get(k)}
        for name, status in finished.items()
        if status.get("state") != "complete"
    }
    for name, status in finished.items():
        details[name]["state"] = status.get("state")
        if status.get("frame_counts"):
            details[name]["frame_counts"] = status["frame_counts"]
    write_status(out, "incomplete" if incomplete else "complete", scenes={n: s.get("state") for n, s in finished.items()})
    unscored = {s.name: s.missing_truth() for s in scenes if not s.has_truth}
    scored = [s for s in scenes if s.has_truth]
    for why in dict.fromkeys(unscored.values()):
        _say(f"note: {why}: not scored; {out / 'track1.txt'} is the submission")
    truths = {s.name: read_aicity(out / s.name / "ground_truth.txt", "ground truth") for s in scored}
    for scene in [s for s in scored if not len(truths[s.name])]:
        unscored[scene.name] = f"scene {scene.name}: no vehicle of its ground truth is seen by two or more cameras"
        _say(f"note: {unscored[scene.name]}: not scored")
        scored.remove(scene)
    if scored:
        table, _ = score_scenes(scored, truths, predictions, base.eval.iou)
        extra: dict = {"scenes": details}
        if unscored:
            extra["not_scored"] = unscored
        if incomplete:
            extra["incomplete"] = incomplete
        write_json(out / "scores.json", {**table, **extra})
        title = f"AI City protocol, {scenes[0].split} {', '.join(s.name for s in scored)}, IoU >= {base.eval.iou:g}"
        print_table(table, title)
        overall = table["overall"]
        _say(
            f"dropped from the prediction by the protocol: {overall['dropped_roi']} boxes with a corner outside the ROI, "
            f"{overall['dropped_single_camera']} boxes of ids seen by one camera, {overall['dropped_repeats']} repeated boxes"
        )
        _say(f"scores in {out / 'scores.json'}")
    for name, what in incomplete.items():
        _say(f"warning: scene {name} is incomplete: {what}")
    print(f"outputs in {out}", file=sys.stderr)
    return 1 if incomplete else 0
