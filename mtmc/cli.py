"""The ``mtmc`` command: one entry point, one sub-command per job.

User errors (a missing file, a malformed line, a bad config) print one line and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from mtmc import __version__
from mtmc.commands import aicity as aicity_command
from mtmc.commands import correct as correct_command
from mtmc.commands import dashboard as dashboard_command
from mtmc.commands import eval as eval_command
from mtmc.commands import export as export_command
from mtmc.commands import keys as keys_command
from mtmc.commands import match as match_command
from mtmc.commands import matcher as matcher_command
from mtmc.commands import reid as reid_command
from mtmc.commands import run as run_command
from mtmc.commands import search as search_command
from mtmc.commands import simulate as simulate_command
from mtmc.commands import track as track_command
from mtmc.commands import weights as weights_command
from mtmc.commands import worker as worker_command
from mtmc.errors import MtmcError

COMMANDS = (
    run_command,
    worker_command,
    matcher_command,
    track_command,
    eval_command,
    match_command,
    reid_command,
    simulate_command,
    aicity_command,
    weights_command,
    keys_command,
    search_command,
    correct_command,
    export_command,
    dashboard_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mtmc",
        description="Streaming multi-camera vehicle tracking: detect, track, re-identify, match across "
        "cameras, and score by IDF1.",
    )
    parser.add_argument("--version", action="version", version=f"mtmc {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


# Modules of the optional extras (pyproject): a camera host runs without them (the lean install)
OPTIONAL_MODULES = {
    "torch": ("torch (re-id training, export, .pt weights, the Mask R-CNN detectors)", "train"),
    "torchvision": ("torchvision (re-id training, the Mask R-CNN detectors)", "train"),
    "ray": ("Ray (mtmc run --ray)", "ray"),
}


def quiet_native_logs() -> None:
    """OpenCV and FFmpeg print their own warnings for every failed stream open; mtmc says it once."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def main(argv: list[str] | None = None) -> int:
    quiet_native_logs()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from mtmc.runtime.lifeline import follow_parent

    follow_parent()
    try:
        return int(args.run(args) or 0)
    except MtmcError as exc:
        print(f"mtmc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name not in OPTIONAL_MODULES:
            raise
        part, extra = OPTIONAL_MODULES[exc.name]
        print(f"mtmc {args.command}: error: this needs {part}, not installed: pip install 'mtmc[{extra}]' "
              f"(or uv sync --extra {extra})", file=sys.stderr)  # fmt: skip
        return 2
    except KeyboardInterrupt:
        print("mtmc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
