"""``mtmc run``: the whole system on this machine: the matcher and one worker per camera."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mtmc.errors import MtmcError

if TYPE_CHECKING:
    from mtmc.config import MtmcConfig
    from mtmc.runtime.supervisor import Supervisor

HELP = "run the matcher and one worker per camera, supervised; write and score the results"
DESCRIPTION = """\
Start the central matcher and one worker process per camera of CONFIG (its cameras: list, or
every camera of its scenario: folder), watch them (a crashed worker or matcher is restarted and
resumes; a camera that fails on its input is reported and the others go on), and write under
output.dir: submission.txt (AI City, global ids), mot/<camera>.txt (MOTChallenge, global ids),
videos/<camera>.mp4 (annotated with global ids), logs/. When the config names ground truth
(eval.gt, or a scenario's ground_truth.txt) the result is scored as `mtmc eval` would.

Before any process starts or anything is written, every camera's file or image folder must give
its first frame (a typo, a file that is not a video, one that cannot be read: one line naming the
camera and the file, exit 2). Live streams (rtsp://, http://) are not opened then: a stream that
does not answer is retried by its worker for the camera's give_up_s (60 s by default) and the camera
is then reported failed while the others go on.

Ports: the matcher takes matcher.bind (workers connect; default 5555), matcher.publish (the live
feed; 5556) and matcher.dashboard (8765) on this machine. --port BASE puts them on BASE, BASE+1 and
BASE+2 (hosts kept). A default port another process holds is replaced by a free one, and the run
says which; a port set in the config or by --port that is taken is an error naming its key (with
--ray the matcher tries its ports on its own node, where any taken port is an error). The run
prints its output folder before it starts, and the dashboard's address once the matcher is up,
before any camera starts.

status.json says whether the results are whole. Ctrl-C or SIGTERM stops every process, marks the
results partial and exits 130 / 143; `mtmc run CONFIG --resume` then continues from the journal and
outboxes and ends with the results an uninterrupted run gives. Without --resume a run starts over.
Exit 0: complete; 1: a camera failed or lost frames it could not read (listed, and in scores.json);
2: the run failed (status.json "failed", with the reason: a matcher that stopped, a full disk).
A complete run deletes the workers' outboxes (output.dir/state/: only --resume needs them) and keeps
the journal; a new run moves the last run's logs to logs/previous/.
"""
EPILOG = """\
examples:
  mtmc run configs/demo.yaml
  mtmc run configs/demo.yaml --out runs/demo-offline --mode offline
  mtmc run configs/demo.yaml --resume        (after an interrupted run)
  mtmc run configs/demo.yaml --port 6000     (matcher 6000, live feed 6001, dashboard 6002)
  mtmc run city.yaml --ray auto              (on a Ray cluster: docs/many-machines.md)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", metavar="CONFIG", help="run config YAML (cameras or scenario, parts, matcher)")
    p.add_argument("-o", "--out", metavar="DIR", help="write here instead of the config's output.dir")
    p.add_argument("--mode", choices=["online", "offline"], help="override matcher.mode")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run (keep outboxes and journal)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated videos")
    p.add_argument(
        "--port", type=int, metavar="BASE",
        help="matcher.bind, matcher.publish and matcher.dashboard on BASE, BASE+1, BASE+2 (hosts kept)",
    )  # fmt: skip
    p.add_argument(
        "--ray", metavar="ADDRESS",
        help="run the matcher and each camera as Ray actors on the cluster at ADDRESS (auto: this node's); "
        "needs mtmc[ray]",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run, command="run")


def run(args: argparse.Namespace) -> int:
    import signal

    from mtmc.config import load_config
    from mtmc.outputs.paths import writable_dir
    from mtmc.progress import supervise_with_bars
    from mtmc.runtime.ports import with_base_port
    from mtmc.runtime.scenario import with_scenario
    from mtmc.runtime.status import write_status
    from mtmc.runtime.supervisor import Interrupted, Supervisor, render_global_videos

    config_path = Path(args.config)
    config = with_scenario(load_config(config_path))
    _check_sources(config_path, config)
    if args.port is not None:
        config = config.model_copy(update={"matcher": with_base_port(config.matcher, args.port)})
    moved: list[str] = []
    if not args.ray:  # the matcher runs here: its ports can be tried now (on a cluster, it tries them itself)
        config, moved = _settle_ports(config_path, config, args.port)
    out_dir = Path(args.out).resolve() if args.out else Path(os.path.abspath(config.output.dir))
    writable_dir(out_dir, "output folder")
    for line in moved:  # once nothing else stops the run
        print(line, file=sys.stderr)
    launcher = None
    if args.ray:
        from mtmc.runtime.ray_launch import RayLauncher

        launcher = RayLauncher(args.ray)
    supervisor = Supervisor(
        config_path, config, out_dir, resume=args.resume, mode=args.mode, launcher=launcher, on_ready=_say_where
    )
    _say_what_happens_to(out_dir, supervisor.state_dir, args.resume)
    cameras = f"{len(config.cameras)} camera" + ("s" if len(config.cameras) != 1 else "")
    print(f"mtmc run: {cameras}; output folder {out_dir}", file=sys.stderr)
    resume = f"mtmc run {args.config}" + (f" --out {args.out}" if args.out else "") + " --resume"

    stops = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.signal(sig, lambda signum, _: supervisor.interrupt(signum)) for sig in stops}
    try:
        outcomes = supervise_with_bars(supervisor, quiet=args.quiet)
    except Interrupted as exc:
        write_status(out_dir, "interrupted", why="mtmc run was interrupted: these results are partial", resume=resume)
        _say_restarts(supervisor)
        print(f"mtmc run: interrupted; the results in {out_dir} are partial. Continue with: {resume}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # the matcher stopped for good, could not start, or a bug: the run failed here
        why = str(exc) if isinstance(exc, MtmcError) else f"mtmc run itself failed: {type(exc).__name__}: {exc}"
        try:
            write_status(out_dir, "failed", why=why, resume=resume)
        except MtmcError:
            pass  # a full disk: the error below says what matters
        _say_restarts(supervisor)
        raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        supervisor.launcher.close()
    failed = {name: why for name, why in outcomes.items() if why != "done"}
    for name, why in failed.items():
        print(f"mtmc run: error: camera {name}: {why}", file=sys.stderr)
    lost = {w.name: w.lost for w in supervisor.workers.values() if w.lost}
    for name, what in lost.items():
        print(f"mtmc run: warning: camera {name}: {what}, skipped; its results cover the rest", file=sys.stderr)
    _say_restarts(supervisor)
    if failed or lost:
        write_status(out_dir, "incomplete", failed=failed, lost_frames=lost)
    else:
        write_status(out_dir, "complete")
        shutil.rmtree(supervisor.state_dir, ignore_errors=True)  # the outboxes serve --resume only; the journal stays
    if config.output.video and not args.no_video:
        render_global_videos(config, out_dir)
    if config.eval.gt is not None:
        _score(config, out_dir, incomplete={"failed": failed, "lost_frames": lost} if failed or lost else None)
    if (out_dir / "submission.txt").is_file():
        print(summary(out_dir / "submission.txt"), file=sys.stderr)
    print(f"outputs in {out_dir}", file=sys.stderr)
    return 1 if failed or lost else 0


def _check_sources(config_path: Path, config: MtmcConfig) -> None:
    """Every camera's file or folder gives its first frame, before any process starts or anything is
    made: a typo or a file that is not a video is one line now, not a failed camera once the models
    have loaded. Streams are left to their workers, which retry them for ``give_up_s``."""
    from mtmc.sources import open_source
    from mtmc.sources.stream import is_stream_url

    for camera in config.cameras:
        if is_stream_url(camera.source):  # what open_source itself treats as a stream
            continue
        path = Path(camera.source).resolve()
        where = f"{config_path}: camera {camera.id}"
        if not path.exists():
            raise MtmcError(
                f"{where}: source not found: {path} "
                "(a video file or image folder; relative paths are read from the config's folder)"
            )
        if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
            raise MtmcError(f"{where}: cannot read {path} (permission denied): fix its permissions or the source")
        try:
            frames = iter(open_source(path))
            try:
                next(frames)
            finally:
                frames.close()
        except MtmcError as exc:
            raise MtmcError(f"{where}: {exc}") from None
        except StopIteration:  # a source that ends before its first frame (a video of no frames)
            raise MtmcError(f"{where}: no frame in {path}: fix its source") from None


def _settle_ports(config_path: Path, config: MtmcConfig, base: int | None) -> tuple[MtmcConfig, list[str]]:
    """The matcher's ports tried on this machine before anything starts (``mtmc.runtime.ports``):
    a taken default moves to a free port (the lines to say so are returned); a taken port the user
    chose is an error."""
    from mtmc.runtime.ports import KEYS, settle_ports

    if base is not None:
        chosen = set(KEYS)

        def fix(key: str) -> str:
            return "stop that process, or give another --port BASE"
    else:
        chosen = set(KEYS) & config.matcher.model_fields_set

        def fix(key: str) -> str:
            return f"stop that process, set another port as matcher.{key} in {config_path}, or give --port BASE"

    settings, moved = settle_ports(config.matcher, config.dashboard.host, chosen, fix)
    said = [f"mtmc run: matcher.{m.key} {m.was} is taken (another run?): using {m.now} instead (--port BASE chooses)" for m in moved]
    return config.model_copy(update={"matcher": settings}), said


def _say_where(supervisor: Supervisor) -> None:
    """Once the matcher holds its ports, before any camera starts: where to watch the run."""
    settings = supervisor.config.matcher
    feed = f", live feed {settings.publish}" if settings.publish else ""
    page = f"dashboard {supervisor.dashboard}" if supervisor.dashboard else "no dashboard (matcher.dashboard: null)"
    print(f"mtmc run: {page} (workers connect to {settings.bind}{feed})", file=sys.stderr)


def summary(submission: Path) -> str:
    """One line saying what the run found: boxes, vehicles, and how many crossed cameras."""
    from mtmc.formats.aicity import read_aicity
    from mtmc.metrics.aicity import seen_by_one_camera

    rows = read_aicity(submission, "submission")
    cameras = len(set(rows.camera.tolist()))
    vehicles = len(set(rows.id.tolist()))
    crossed = len(set(rows.id[~seen_by_one_camera(rows)].tolist()))
    return f"{len(rows):,} boxes on {cameras} cameras: {vehicles} vehicles, {crossed} of them seen by more than one camera"


def _say_restarts(supervisor) -> None:
    restarts = {w.name: w.restarts for w in supervisor.workers.values() if w.restarts}
    if restarts or supervisor.matcher_restarts:
        print(f"restarted: {restarts or ''} matcher {supervisor.matcher_restarts}x", file=sys.stderr)


def _say_what_happens_to(out_dir: Path, state_dir: Path, resume: bool) -> None:
    """One line when a run replaces or cannot find the run it was pointed at."""
    journal = out_dir / "matcher.journal"
    had_run = (journal.is_file() and journal.stat().st_size > 0) or state_dir.is_dir()
    if had_run and not resume:
        print(
            f"mtmc run: starting a new run in {out_dir}; the previous run's journal and outboxes are replaced "
            "once the matcher is up (--resume continues that run instead)",
            file=sys.stderr,
        )
    elif resume and not had_run:
        print(f"mtmc run: nothing to resume in {out_dir}: starting a new run", file=sys.stderr)


def _score(config, out_dir: Path, incomplete: dict | None = None) -> None:
    from mtmc.commands.eval import score
    from mtmc.metrics.report import print_table, write_json

    settings = config.eval.model_copy(update={"pred": out_dir / "submission.txt"})
    results, notes = score(settings)
    from mtmc.metrics.aicity import camera_name

    names = {camera_name(c.number): c.id for c in config.cameras}  # per-camera rows by the user's names
    results = {names.get(key, key): value for key, value in results.items()}
    write_json(out_dir / "scores.json", {**results, "incomplete": incomplete} if incomplete else results)
    print_table(results, f"{settings.mode} mode, IoU >= {settings.iou:g}")
    for note in notes:
        print(note, file=sys.stderr)
