"""``mtmc matcher``: the central matcher (journal, cross-camera association, outputs, dashboard)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

HELP = "run the central matcher: receive tracklets, assign global ids, write outputs"
DESCRIPTION = """\
Receive the workers' tracklet updates (ZeroMQ ROUTER at matcher.bind), journal them before
acknowledging, associate tracklets across cameras (online: ids within a bounded delay, revised in
a window; offline: constrained clustering at the end), and write OUTPUT_DIR/submission.txt (AI City)
and OUTPUT_DIR/mot/<camera>.txt (MOTChallenge with global ids). A restarted matcher replays its
journal first. It stops when every camera is done (exit 0, status.json "complete"); on SIGTERM or
Ctrl-C it writes what it has, marks it partial (status.json "interrupted") and exits 143 / 130:
started again, it replays its journal and continues. SIGUSR1 asks it to finish now with the
cameras that ran (the results are final; exit 0).

Every batch is checked against the run before it is journaled (feature length of the run's
embedder, attributes, boxes in the frame, rows moving forward); what fails is dropped and counted.
With MTMC_RUN_SECRET in its environment (mtmc run sets it), a message for a camera must carry
that camera's token (workers given the same secret derive it); without it, no token is checked.
"""
EPILOG = """\
examples:
  mtmc matcher configs/demo.yaml
  mtmc matcher city.yaml --bind tcp://0.0.0.0:5555 --mode offline
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "matcher", help=HELP, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("config", metavar="CONFIG", help="run config YAML")
    p.add_argument("--bind", metavar="tcp://HOST:PORT", help="override matcher.bind")
    p.add_argument("--publish", metavar="tcp://HOST:PORT", help="override matcher.publish (the live feed)")
    p.add_argument("--mode", choices=["online", "offline"], help="override matcher.mode")
    p.add_argument("-o", "--out", metavar="DIR", help="write here instead of the config's output.dir")
    p.add_argument("--fresh", action="store_true", help="delete the journal first (a new run, not a restart)")
    p.add_argument("--dashboard", type=int, metavar="PORT", help="override matcher.dashboard (0: any free port)")
    p.add_argument("--ready", action="store_true", help="print one JSON line on stdout once listening (for mtmc run)")
    p.set_defaults(run=run, command="matcher")


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from mtmc.runtime.matcher import MatcherService
    from mtmc.runtime.scenario import with_scenario

    config = with_scenario(load_config(args.config))
    given = (("bind", args.bind), ("publish", args.publish), ("mode", args.mode), ("dashboard", args.dashboard))
    overrides = {k: v for k, v in given if v is not None}
    if overrides:
        config = config.model_copy(update={"matcher": config.matcher.model_copy(update=overrides)})
    from mtmc.outputs.paths import writable_dir

    out_dir = writable_dir(Path(args.out) if args.out else config.output.dir, "output folder")
    service = MatcherService(config, out_dir, fresh=args.fresh)
    stopped_by: list[int] = []

    def interrupted(signum: int, _frame: object) -> None:
        stopped_by.append(signum)
        service.stop("interrupted")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, interrupted)
    signal.signal(signal.SIGUSR1, lambda *_: service.stop("finish"))

    def ready(info: dict) -> None:
        if args.ready:
            print(json.dumps(info), flush=True)
        if info.get("dashboard"):
            print(f"dashboard: {info['dashboard']}", file=sys.stderr)

    summary = service.serve(on_ready=ready)
    # Done: a "finish" that crosses the end (every camera done as a worker failed) must not kill it
    # while Python exits, which puts back SIGUSR1's default action (terminate) unless it is ignored.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    print(
        f"matcher: {summary['tracklets']} tracklets ({summary['rows']} rows) -> {out_dir / 'submission.txt'}; "
        f"{summary['received']} messages, dropped {summary['dropped'] or 'none'}, replayed {summary['replayed']}",
        file=sys.stderr,
    )
    if summary["complete"] or service.stopping == "finish":
        return 0
    print(f"matcher: stopped early: {out_dir / 'status.json'} marks these results partial", file=sys.stderr)
    return 128 + (stopped_by[0] if stopped_by else signal.SIGTERM)
