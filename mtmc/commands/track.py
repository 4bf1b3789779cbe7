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
beforehand (MOTChallenge det/det.txt, AI City det_*.txt, KITTI/AB3DMOT detection files) instead of
running a detector; appearance still comes from the frames when an embedder is configured. Without
frames (KITTI ships none), --size WxH, or a SOURCE folder whose seqinfo.ini gives imWidth and
imHeight but holds no images, tracks the boxes motion only (--fps then gives their frame rate).
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
  mtmc track -o 0000.txt --detections det_pointrcnn_car/0000.txt --size 1242x375 --fps 10
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
        "source",
        metavar="SOURCE",
        nargs="?",
        help="video file, MOTChallenge sequence folder, or rtsp:// / http:// URL (none with --size)",
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
    p.add_argument(
        "--size",
        metavar="WxH",
        help="with --detections: track without frames, images of this size (motion only)",
    )
    p.add_argument("--video", metavar="OUT.mp4", help="also write an annotated video")
    p.add_argument("--jsonl", metavar="OUT.jsonl", help="also write one JSON line per frame")
    p.add_argument(
        "--fps",
        type=float,
        metavar="F",
        help="subsample the stream to F frames per second; without frames: the detections' rate (default 25)",
    )
    p.add_argument(
        "--give-up",
        type=float,
        default=60.0,
        metavar="S",
        help="streams: stop after S seconds without frames",
    )
    p.add_argument(
        "--interpolate",
        type=float,
        metavar="S",
        help="offline, at the end: fill each track's gaps of up to S seconds in OUT linearly",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run, command="track")


def names_embedder(config_path: str | None) -> bool:
    """Whether the config file itself names an embedder (a loaded config holds the default one too)."""
    import yaml

    if config_path is None:
        return False
    data = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))  # load_config read it already
    return isinstance(data, dict) and data.get("embedder") is not None


def blank_frames(args: argparse.Namespace) -> tuple[int, int, int | None, float] | None:
    """(width, height, frames or None, fps) of a run without frames (--size, or a SOURCE folder
    whose seqinfo.ini has the size but no images), or None when the frames are there."""
    import configparser

    from mtmc.errors import MtmcError
    from mtmc.sources.folder import IMAGE_SUFFIXES

    info: dict[str, str] = {}
    folder = Path(args.source) if args.source else None
    if args.size is None:
        if folder is None:
            raise MtmcError("give SOURCE (a video, image folder or URL), or --detections DET.txt --size WxH")
        ini = folder / "seqinfo.ini"
        if not ini.is_file():
            return None
        parser = configparser.ConfigParser()
        try:
            parser.read(ini, encoding="utf-8")
        except configparser.Error as exc:
            raise MtmcError(f"{ini}: not a valid seqinfo.ini: {exc}") from None
        info = dict(parser["Sequence"]) if parser.has_section("Sequence") else {}
        images = folder / info.get("imdir", "img1")
        listed = images.iterdir() if images.is_dir() else folder.iterdir()
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in listed) or not {"imwidth", "imheight"} <= set(info):
            return None  # frames to read, or the image folder's own error says what is missing
        size = f"{info['imwidth']}x{info['imheight']}"
    else:
        if folder is not None:
            raise MtmcError("--size tracks boxes without frames: give --detections and no SOURCE")
        size = args.size
    where = "--size" if args.size else f"{folder}/seqinfo.ini without images"
    if not args.detections:
        raise MtmcError(f"without frames ({where}) the boxes come from a file: give --detections DET.txt")
    if args.video:
        raise MtmcError(f"--video draws on the frames, and this run has none ({where})")
    try:
        width, height = (int(v) for v in size.lower().split("x"))
        count = int(info["seqlength"]) if "seqlength" in info else None
        rate = args.fps if args.fps is not None else float(info.get("framerate", 25.0))
    except ValueError:
        raise MtmcError(f"image size {size!r} (or seqLength, frameRate) is not WxH in whole pixels, e.g. 1242x375") from None
    if width < 1 or height < 1 or (count is not None and count < 1):
        raise MtmcError(f"image size {size!r} and the frame count must be positive")
    return width, height, count, rate


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
    if args.interpolate is not None and not args.interpolate > 0:
        raise MtmcError(f"--interpolate must be a number of seconds > 0, got {args.interpolate:g}")
    if args.video:
        writable_file(args.video, "video")
    if args.jsonl:
        writable_file(args.jsonl, "JSON lines file")
    config = load_config(args.config) if args.config else MtmcConfig()
    if args.detector and args.detections:
        raise MtmcError("give --detector or --detections (boxes from a file), not both")
    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.detections:
        # a config's own file detector keeps its options (score_map, score_threshold, format)
        kept = config.detector.options() if config.detector.name == "file" else {}
        detector = PartConfig(name="file", **{**kept, "path": str(args.detections)})
        config = config.model_copy(update={"detector": detector})
    elif args.detector:
        config = config.model_copy(update={"detector": PartConfig(name=args.detector)})
    elif "detector" not in config.model_fields_set:  # the best measured detector for these classes
        config = config.model_copy(update={"detector": default_detector(classes)})
    blank = blank_frames(args)
    if blank is not None and config.embedder is not None and names_embedder(args.config):
        raise MtmcError(
            f"embedder {config.embedder.name} needs the frames, and this run has none (--size or a seqinfo.ini "
            "without images): give the frames as SOURCE, or set embedder: null for motion only"
        )
    if blank is not None:
        config = config.model_copy(update={"embedder": None})
    elif "embedder" not in config.model_fields_set:  # vehicle re-id for vehicles, motion only otherwise
        config = config.model_copy(update={"embedder": default_embedder(classes)})
    if classes:
        config = config.model_copy(update={"detector": config.detector.model_copy(update={"classes": classes})})
    source_text = str(args.source or args.detections)  # without frames: the detections file names the camera
    name = name_of_source(source_text)  # its logs, video title and {camera} name it as the user does
    camera = CameraConfig(
        id=name, number=aicity_number(name) or 1, source=source_text, fps=args.fps, give_up_s=args.give_up
    )
    source = None
    if blank is not None:
        from mtmc.camera import detector_options
        from mtmc.detect import build_detector
        from mtmc.sources.blank import BlankSource

        width, height, count, rate = blank
        if count is None:  # up to the last frame with a box
            count = build_detector("file", **detector_options(config, camera)).last_frame
        source = BlankSource(name, width, height, count, rate)
    pipeline = CameraPipeline.from_config(
        camera,
        config,
        Path(args.output).parent,
        threads=2,
        source=source,
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
    if args.interpolate:
        from mtmc.formats import read_mot, write_mot
        from mtmc.track.interpolate import interpolate_gaps

        rows = read_mot(args.output)
        filled = interpolate_gaps(rows, round(args.interpolate * pipeline.source.output_fps))
        write_mot(args.output, filled)
        print(f"interpolated {len(filled) - len(rows)} boxes in gaps of at most {args.interpolate:g} s", file=sys.stderr)
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
