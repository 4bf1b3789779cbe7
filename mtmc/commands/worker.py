"""``mtmc worker``: one camera's process (source -> detect -> track -> embed -> outbox -> matcher)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "run one camera: detect, track, embed, and push tracklets to the matcher"
DESCRIPTION = """\
Process the camera ID of CONFIG and push its tracklet updates to the matcher over ZeroMQ.
Messages wait in an on-disk outbox (STATE/<camera>.outbox) until the matcher acknowledges them,
together with a checkpoint: a worker that is stopped or killed resumes where it was when it runs
again with the same state folder, and resends what was not acknowledged. A resumed camera refuses
a source file replaced since its checkpoint.

Run tokens: with MTMC_RUN_SECRET in its environment (the same as the matcher's) or
MTMC_CAMERA_TOKEN (what mtmc run hands it), every message carries the camera's token, without
which a matcher given the secret refuses it (docs/running.md, "Who may speak for a camera").
"""
EPILOG = """\
examples:
  mtmc worker configs/demo.yaml --camera c001
  mtmc worker city.yaml --camera c012 --matcher tcp://matcher.local:5555
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "worker", help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("config", metavar="CONFIG", help="run config YAML (cameras or scenario, parts, matcher)")
    p.add_argument("--camera", required=True, metavar="ID", help="which camera of CONFIG, e.g. c001")
    p.add_argument("--matcher", metavar="tcp://HOST:PORT", help="matcher endpoint (default: the config's matcher.bind)")
    p.add_argument("--state-dir", metavar="DIR", help="outbox + checkpoint folder (default: OUTPUT_DIR/state)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads for the detector and embedder")
    p.add_argument("--progress", action="store_true", help="print 'frame N TOTAL' lines on stdout (for mtmc run)")
    p.set_defaults(run=run, command="worker")


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from mtmc.errors import MtmcError
    from mtmc.runtime.scenario import with_scenario
    from mtmc.runtime.worker import Worker

    config = with_scenario(load_config(args.config))
    camera = next((c for c in config.cameras if c.id == args.camera), None)
    if camera is None:
        raise MtmcError(f"camera {args.camera} is not in {args.config} (it has {', '.join(c.id for c in config.cameras)})")
    endpoint = args.matcher or config.matcher.bind
    from mtmc.outputs.paths import writable_dir

    state_dir = writable_dir(Path(args.state_dir) if args.state_dir else config.output.dir / "state", "state folder")
    shown = [0.0]

    def progress(frame: int, total: int | None) -> None:
        now = time.monotonic()
        if now - shown[0] >= 0.25 or frame == total:  # throttled, but the full bar is always said
            print(f"frame {frame} {total or 0}", flush=True)
            shown[0] = now

    report = Worker(camera, config, state_dir, endpoint).run(args.threads, progress if args.progress else None)
    print(report.summary(), file=sys.stderr)
    if report.lost:
        if args.progress:
            print(f"lost {report.lost}", flush=True)
        print(f"mtmc worker: warning: camera {camera.id}: {report.lost}, skipped", file=sys.stderr)
    return 0
