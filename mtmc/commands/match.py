"""``mtmc match``: associate per-camera single-camera tracks across cameras (offline)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HELP = "match per-camera tracks across cameras into global identities (AI City submission)"
DESCRIPTION = """\
Read single-camera tracks DIR/<camera id>.txt (MOTChallenge rows; optional appearance features in
DIR/<camera id>.npz with arrays track_id and feature, as `mtmc simulate --no-render` writes) for
every camera of CONFIG, associate them across cameras, and write an AI City submission
(camera id frame x y w h xworld yworld) with global ids.

CONFIG gives each camera's fps and clock offset (global time = offset_s + (frame - 1) / fps),
optional ground-plane homographies (geometric distance for overlapping views), an optional
topology (travel-time gates for non-overlapping cameras) and the matcher's distances, threshold,
linkage and re-ranking. Two tracklets of one camera that overlap in time never share an id.
"""
EPILOG = """\
examples:
  mtmc match configs/epfl-laboratory.yaml --tracks runs/epfl/tracks -o runs/epfl/submission.txt
  mtmc match match.yaml --tracks runs/sim/tracks -o out.txt --mot-dir out_mot --rerank
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "match", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", metavar="CONFIG", help="match config YAML (cameras, topology, matcher)")
    p.add_argument("--tracks", required=True, metavar="DIR", help="folder with <camera id>.txt [and .npz]")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="AI City submission to write")
    p.add_argument("--mode", choices=["offline"], default="offline", help="offline (all tracklets at once)")
    p.add_argument("--mot-dir", metavar="DIR", help="also write MOTChallenge <camera id>.txt with global ids")
    p.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=None, help="override rerank.enabled")
    p.add_argument("--threshold", type=float, metavar="T", help="override matcher.threshold")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    p.set_defaults(run=run, command="match")


def _features_calibration(given: Path | None) -> Any:
    """The tracks' features' appearance calibration: ``matcher.calibration``, else the cautious
    uncalibrated model, said once with how to give one."""
    import logging

    from mtmc.match.evidence import UNCALIBRATED
    from mtmc.runtime.matcher import calibration_of

    if given is not None:
        return calibration_of(given, None)
    logging.getLogger(__name__).warning(
        "appearance: the tracks' features are uncalibrated (evidence capped at +-%g, so appearance alone links no "
        "cameras); set matcher.calibration to the embedder's weights name or to a file of "
        "`mtmc reid calibrate WEIGHTS DATA -o FILE`", UNCALIBRATED.cap,
    )
    return UNCALIBRATED


def run(args: argparse.Namespace) -> int:
    from mtmc.errors import MtmcError
    from mtmc.match.distances import Scene
    from mtmc.match.files import global_ids, identity_rows, read_camera_tracklets, write_mot_dir, write_submission
    from mtmc.match.geometry import ground_maps
    from mtmc.match.offline import associate
    from mtmc.outputs.paths import writable_dir, writable_file

    config = _match_config(args.config)
    matcher = config.matcher
    if args.rerank is not None:
        matcher = matcher.model_copy(update={"rerank": matcher.rerank.model_copy(update={"enabled": args.rerank})})
    if args.threshold is not None:
        if not 0 < args.threshold < 1:
            raise MtmcError(f"--threshold: a probability between 0 and 1 (exclusive), got {args.threshold}")
        matcher = matcher.model_copy(update={"threshold": args.threshold})
    tracks_dir = Path(args.tracks)
    if not tracks_dir.is_dir():
        raise MtmcError(f"tracks folder not found: {tracks_dir} (check the path)")
    writable_file(args.output, "submission file")
    if args.mot_dir:
        writable_dir(args.mot_dir, "MOT folder")
    started = time.perf_counter()
    scene = Scene(ground_maps(config.cameras))
    tracklets = [t for camera in config.cameras for t in read_camera_tracklets(camera, tracks_dir)]
    if any(t.feature is not None for t in tracklets):
        scene.appearance = _features_calibration(matcher.calibration)
    topology = config.topology.by_number({c.id: c.number for c in config.cameras}) if config.topology else None
    labels = associate(tracklets, matcher, scene, topology)
    ids = global_ids(tracklets, labels)
    rows = identity_rows(tracklets, ids)
    write_submission(Path(args.output), rows, scene.homographies)
    if args.mot_dir:
        write_mot_dir(Path(args.mot_dir), rows, config.cameras)
    if not args.quiet:
        multi = sum(
            len({t.camera for t, i in zip(tracklets, ids.tolist()) if i == g}) >= 2 for g in set(ids.tolist())
        )
        print(
            f"{len(tracklets)} tracklets from {len(config.cameras)} cameras -> {len(set(ids.tolist()))} identities "
            f"({multi} seen by 2+ cameras) in {time.perf_counter() - started:.2f} s; written to {args.output}",
            file=sys.stderr,
        )
    return 0


def _match_config(path: str):  # -> MatchConfig
    """The match config at ``path``; a run config given by mistake is named as one, not as 14 errors."""
    from mtmc.config import MtmcConfig, load_config
    from mtmc.errors import MtmcError
    from mtmc.match.config import MatchConfig

    try:
        return load_config(path, MatchConfig)
    except MtmcError:
        try:
            load_config(path, MtmcConfig)
        except MtmcError:
            pass
        else:
            raise MtmcError(
                f"{path}: a run config (for mtmc run / mtmc matcher); mtmc match takes a match config: cameras "
                "with fps, optional topology and a matcher section (like configs/epfl-laboratory.yaml)"
            ) from None
        raise
