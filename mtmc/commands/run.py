"""``mtmc run``: every camera of a config, one process each, outputs under the config's folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run the per-camera pipeline of every camera in a config (one process each)"
DESCRIPTION = """\
Run every camera listed in CONFIG in its own process: source -> detector -> tracker ->
outputs (MOTChallenge, AI City lines, JSON lines, annotated video) under output.dir.
A camera that fails reports one line and the others keep going; the exit code is 1 if any failed.
Cross-camera identities come with the matcher.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  mtmc run configs/demo.yaml",
    )  # fmt: skip
    p.add_argument("config", metavar="CONFIG", help="YAML with cameras, detector, tracker, output")
    p.add_argument("--out", metavar="DIR", help="write here instead of the config's output.dir")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, command="run")


def run(args: argparse.Namespace) -> int:
    from mtmc.camera import CameraReport
    from mtmc.config import load_config
    from mtmc.runner import run_cameras

    config = load_config(args.config)
    out_dir = Path(args.out) if args.out else config.output.dir
    results = run_cameras(config, out_dir, show_progress=not args.quiet)
    failed = 0
    for camera, result in results.items():
        if isinstance(result, CameraReport):
            print(result.summary(), file=sys.stderr)
        else:
            failed += 1
            print(f"mtmc run: error: camera {camera}: {result}", file=sys.stderr)
    print(f"outputs in {out_dir}", file=sys.stderr)
    return 1 if failed else 0
