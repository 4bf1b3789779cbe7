"""``mtmc simulate``: render a SynthCity scenario (or, with --no-render, its tracklet streams)."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "generate a semi-synthetic multi-camera vehicle scenario with exact ground truth"
DESCRIPTION = """\
Build a SynthCity scenario from CONFIG (configs/synthcity-*.yaml): vehicles cut from real footage
drive routes through a road network watched by several cameras, each with its own background,
perspective, colour, blur, noise and frame rate. Writes a scenario folder to DIR:
cXXX/vdo.mp4, cXXX/gt/gt.txt, cXXX/roi.jpg, cXXX/calibration.txt, ground_truth.txt (AI City
submission format, vehicles seen by 2+ cameras), cam_timestamp.txt, topology.yaml, vehicles.json.
The same CONFIG and seed give the same files.

With --layout aicity DIR is written as an AI City Challenge Track 1 download holding one scene:
DIR/<split>/<scene>/cXXX/vdo.avi, roi.jpg, calibration.txt, gt/gt.txt (MOTChallenge rows of
the vehicles seen by 2+ cameras; none in the test split), DIR/cam_timestamp/<scene>.txt,
DIR/cam_framenum/<scene>.txt, and what AI City does not ship under DIR/synthcity/<scene>/
(ground_truth.txt, topology.yaml, vehicles.json). `mtmc aicity DIR --split <split>` runs it.

With --no-render no pixels are made: per-camera tracklets (boxes, timestamps, synthetic
embeddings) go to DIR/tracks/, for matcher load tests with thousands of cameras.
"""
EPILOG = """\
examples:
  mtmc simulate configs/synthcity-small.yaml -o runs/synthcity-small
  mtmc simulate configs/synthcity-city.yaml -o runs/city --seed 3
  mtmc simulate configs/synthcity-scale.yaml -o runs/scale --no-render
  mtmc simulate configs/synthcity-small.yaml -o runs/aic --layout aicity --split validation --scene S01
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("config", metavar="CONFIG", help="SynthCity YAML (footage, world, cameras, traffic)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="scenario folder to write")
    p.add_argument("--seed", type=int, help="override the config's seed")
    p.add_argument("--no-render", action="store_true", help="tracklet streams only, no video")
    p.add_argument("--duration", type=float, metavar="S", help="override duration_s")
    p.add_argument(
        "--layout", choices=["scenario", "aicity"], default="scenario",
        help="scenario: one folder (default); aicity: an AI City Track 1 download's layout",
    )  # fmt: skip
    p.add_argument("--split", choices=["train", "validation", "test"], default="validation", help="aicity: the split (default validation)")
    p.add_argument("--scene", default="S01", metavar="SXX", help="aicity: the scene's name (default S01)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, command="simulate")


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from mtmc.sim.config import SimConfig

    config = load_config(args.config, SimConfig)
    updates = {}
    if args.seed is not None:
        updates["seed"] = args.seed
    if args.duration is not None:
        if args.duration <= 0:
            from mtmc.errors import MtmcError

            raise MtmcError(f"--duration must be > 0 seconds, got {args.duration}")
        updates["duration_s"] = args.duration
    config = config.model_copy(update=updates)
    from mtmc.outputs.paths import writable_dir

    out = writable_dir(args.out, "scenario folder")
    start = time.perf_counter()
    if args.no_render and args.layout == "aicity":
        from mtmc.errors import MtmcError

        raise MtmcError("--no-render writes tracklet streams only; --layout aicity needs the videos (drop one of them)")
    if args.no_render:
        from mtmc.sim.tracklets import write_tracklets

        summary = write_tracklets(config, out, show_progress=not args.quiet)
    else:
        from mtmc.sim.scenario import simulate

        summary = simulate(
            config, out, show_progress=not args.quiet, layout=args.layout, split=args.split, scene_name=args.scene
        )
    took = time.perf_counter() - start
    print(
        ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()) + f"; {took:.1f} s; written to {out}",
        file=sys.stderr,
    )
    return 0
