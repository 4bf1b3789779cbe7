"""``mtmc track``: track one stream (video file, MOTChallenge folder or URL) into a MOT file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "track one video, image folder or stream; write MOTChallenge rows (and a video)"
DESCRIPTION = """\
Detect and track objects in one stream and write MOTChallenge rows
(frame,id,x,y,w,h,score,-1,-1,-1) to OUT. Parts (detector, tracker, embedder) come from
--config (a run config; its cameras are ignored) or the best measured defaults for --classes:
vehicles: openvino vehicle-detection-0202 and the glamor-mobilenetv2-2cam re-id embedder; people
and bicycles: openvino person-vehicle-bike-detection-crossroad-0078, motion only; other COCO
classes: YOLOX-Nano, motion only; the tracker is deepsort-bot. The first line says which. --detections reads boxes computed
beforehand (MOTChallenge det/det.txt, AI City det_*.txt) instead of running a detector; appearance
still comes from the frames when an embedder is configured.
Prints detection, embedding and tracking milliseconds per frame at the end.
Frames a corrupt file or image cannot give are skipped and named in a warning; the exit code is
then 1 (the output holds every readable frame).
"""
EPILOG = """\
examples:
  mtmc track street.mp4 -o street.txt --video street-annotated.mp4
  mtmc track data/PETS09-S2L1 -o pets.txt --classes person
  mtmc track rtsp://camera.local/stream -o live.txt --fps 5
  mtmc track data/MOT17-04-FRCNN -o mot17-04.txt --detections data/MOT17-04-FRCNN/det/det.txt --classes person
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "track",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source", metavar="SOURCE", help="video file, MOTChallenge sequence folder, or rtsp:// / http:// URL"
    )
    p.add_argument("-o", "--output", required=True, metavar="OUT.txt", help="MOTChallenge rows go here")
    p.add_argument("--config", metavar="CFG", help="YAML naming detector, tracker and embedder")
    p.add_argument(
        "--detector", metavar="NAME", help="a detector by name with its own defaults (e.g. onnx-yolox)"
    )
    p.add_argument(
        "--detections",
        metavar="DET.txt",
        help="boxes from this file (frame,-1,left,top,width,height,score[,x,y,z]) instead of a detector: "
        "detector 'file'; --classes names their one class (default car)",
    )
    p.add_argument(
        "--classes",
        metavar="NAMES",
        help="COCO classes to keep, comma-separated (default: car,bus,truck,motorcycle)",
    )
    p.add_argument("--video", metavar="OUT.mp4", help="also write an annotated video")
    p.add_argument("--jsonl", metavar="OUT.jsonl", help="also write one JSON line per frame")
    p.add_argument("--fps", type=float, metavar="F", help="subsample the stream to F frames per second")
    p.add_argument(
        "--give-up",
        type=float,
        default=60.0,
        metavar="S",
        help="streams: stop after S seconds without frames",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run, command="track")


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mtmc.camera import CameraPipeline
    from mtmc.camera_names import aicity_number, name_of_source
    from mtmc.config import CameraConfig, MtmcConfig, load_config
    from mtmc.detect.defaults import default_detector, default_embedder, describe_parts
    from mtmc.errors import MtmcError
    from mtmc.outputs.paths import writable_file
    from mtmc.schema import PartConfig

    writable_file(args.output, "tracks file")
    if args.video:
        writable_file(args.video, "video")
    if args.jsonl:
        writable_file(args.jsonl, "JSON lines file")
    config = load_config(args.config) if args.config else MtmcConfig()
    if args.detector and args.detections:
        raise MtmcError("give --detector or --detections (boxes from a file), not both")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.detections:
        config = config.model_copy(update={"detector": PartConfig(name="file", path=str(args.detections))})
    elif args.detector:
        config = config.model_copy(update={"detector": PartConfig(name=args.detector)})
    elif "detector" not in config.model_fields_set:  # the best measured detector for these classes
        config = config.model_copy(update={"detector": default_detector(classes)})
    if "embedder" not in config.model_fields_set:  # vehicle re-id for vehicles, motion only otherwise
        config = config.model_copy(update={"embedder": default_embedder(classes)})
    if classes:
        config = config.model_copy(update={"detector": config.detector.model_copy(update={"classes": classes})})
    name = name_of_source(str(args.source))  # its logs, video title and {camera} name it as the user does
    camera = CameraConfig(
        id=name, number=aicity_number(name) or 1, source=str(args.source), fps=args.fps, give_up_s=args.give_up
    )
    pipeline = CameraPipeline.from_config(
        camera,
        config,
        Path(args.output).parent,
        threads=2,
        mot=Path(args.output),
        aicity=None,
        jsonl=Path(args.jsonl) if args.jsonl else None,
        video=Path(args.video) if args.video else None,
    )
    print(f"mtmc track: {describe_parts(config)}", file=sys.stderr)  # once they are built: errors stay one line
    columns = (TextColumn(pipeline.source.name), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=args.quiet, transient=True) as progress:
        task = progress.add_task("track", total=pipeline.source.expected_frames())
        report = pipeline.run(on_frame=lambda index: progress.advance(task))
    print(report.summary(), file=sys.stderr)
    print(
        f"tracks written to {args.output}" + (f", video to {args.video}" if args.video else ""),
        file=sys.stderr,
    )
    if pipeline.source.lost_frames:
        # The output is complete for every readable frame, but the camera did lose some: say so.
        print(
            f"mtmc track: warning: {args.source}: {pipeline.source.lost_summary()}, skipped; "
            "the output covers the rest",
            file=sys.stderr,
        )
        return 1
    return 0
