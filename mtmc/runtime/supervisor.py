"""``mtmc run``: the matcher and one worker per camera, each its own process, supervised.

A worker that crashes (killed, out of memory, a bug) is started again and resumes from its
checkpoint; one that fails on the user's input (exit code 2: a missing video, a bad config) is not,
and the matcher is told to finish with the other cameras. A matcher that crashes or is stopped
alone is started again and replays its journal; the workers' outboxes resend what it had not
acknowledged. Only the matcher's exit 0 (every camera done) ends a run.

Children run in their own process group, so Ctrl-C reaches the supervisor alone and it stops them
in order (``stop``); each child also ends when the supervisor dies (``lifeline``), so no orphan holds
the ports. A new run empties the journal and outboxes only once its matcher holds the ports; it
moves the last run's logs to ``logs/previous/`` first.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mtmc.config import MtmcConfig
from mtmc.errors import MtmcError
from mtmc.runtime.launch import Launcher, LocalLauncher, Placement, ProcessHandle
from mtmc.transport.tokens import CAMERA_TOKEN_ENV, RUN_SECRET_ENV, camera_token, new_run_secret

USER_ERROR = 2  # the CLI's exit code for MtmcError
TAIL_LINES = 40  # a child's last stderr lines kept in memory


@dataclass
class Child:
    """One supervised process and what is known of it; ``launcher`` says where it runs."""

    name: str
    args: list[str]
    log_path: Path
    launcher: Launcher = field(default_factory=LocalLauncher)
    placement: Placement = field(default_factory=Placement)
    process: ProcessHandle | None = None
    restarts: int = 0
    outcome: str | None = None  # None while running; "done" or the reason it failed
    frame: int = 0
    total: int | None = None
    lost: str | None = None  # the frames its source could not read, when any
    lines: queue.Queue = field(default_factory=queue.Queue)  # its stdout lines (progress, ready)
    env: dict[str, str] = field(default_factory=dict)  # added to the environment: run secrets, never argv
    tail: deque = field(default_factory=lambda: deque(maxlen=TAIL_LINES))  # its last stderr lines
    log_failed: str | None = None  # why its log could not be written, when it could not
    _log: IO[str] | None = None

    def start(self, extra: list[str] | None = None) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.tail.clear()
        self._close_log()
        try:
            self._log = self.log_path.open("a", encoding="utf-8")
        except OSError as exc:
            self._log, self.log_failed = None, f"{self.log_path}: {exc.strerror or exc}"
        self.process = self.launcher.launch(
            self.name, self.command(extra or []), self.env, self.placement, self.lines.put, self._stderr_line
        )

    def command(self, extra: list[str]) -> list[str]:
        return [sys.executable, "-m", "mtmc", *self.args, *extra]

    def _stderr_line(self, line: str) -> None:
        """Its stderr into its log, line by line, and the last lines kept here: when the log cannot
        be written (a full disk), its fatal error still reaches ``mtmc run``."""
        self.tail.append(line)
        log = self._log
        if log is None:
            return
        try:
            log.write(line + "\n")
            log.flush()
        except (OSError, ValueError) as exc:  # ValueError: closed by a restart meanwhile
            if isinstance(exc, OSError):
                self.log_failed = f"{self.log_path}: {exc.strerror or exc}"
            self._log = None

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            try:
                log.close()
            except OSError:
                pass

    def join_output(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout``) for the lines of a process that has ended: they are on their way."""
        if self.process is not None and self.process.poll() is not None:
            self.process.join_output(timeout)

    def last_error(self) -> str:
        """The last line the process wrote to stderr: the CLI's one-line error, or a traceback's end."""
        self.join_output()
        lines = [x for x in self.tail if x.strip()]
        return lines[-1] if lines else f"exit code {self.process.returncode if self.process else '?'}"


def placement_of(settings: Any) -> Placement:
    """A config's ``placement:`` (labels, resources) as the launcher reads it (None: anywhere)."""
    if settings is None:
        return Placement()
    return Placement(dict(settings.labels), dict(settings.resources))


class Interrupted(Exception):
    """The run was stopped by a signal (``Supervisor.interrupt``); ``code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


class Supervisor:
    """Starts, watches and restarts the processes of one run; ``run`` returns when the matcher ends."""

    def __init__(
        self, config_path: Path, config: MtmcConfig, out_dir: Path, resume: bool = False,
        max_restarts: int = 3, threads: int | None = None, mode: str | None = None,
        launcher: Launcher | None = None, on_ready: Callable[[Supervisor], None] | None = None,
    ) -> None:  # fmt: skip
        out_dir = Path(out_dir).resolve()  # children may run elsewhere (another node's working folder)
        self.config, self.out_dir, self.max_restarts, self.resume = config, out_dir, max_restarts, resume
        self.state_dir = state = out_dir / "state"
        threads = threads or max(1, (os.cpu_count() or 1) // max(1, len(config.cameras)))
        base = [str(Path(config_path).resolve())]
        ports = config.matcher  # as given here (mtmc run may have moved them), not as the file says
        matcher_args = [
            "matcher", *base, "--out", str(out_dir), "--ready", *(["--mode", mode] if mode else []), "--bind", ports.bind,
            *(["--publish", ports.publish] if ports.publish else []),
            *(["--dashboard", str(ports.dashboard)] if ports.dashboard is not None else []),
        ]  # fmt: skip
        secret = new_run_secret()  # binds each camera to the worker started here (mtmc.transport.tokens)
        self.launcher = launcher = launcher or LocalLauncher()
        self.matcher = Child(
            "matcher", matcher_args, out_dir / "logs" / "matcher.log", launcher,
            placement_of(config.matcher.placement), env={RUN_SECRET_ENV: secret.hex()},
        )  # fmt: skip
        self.workers = {
            c.id: Child(
                c.id,
                ["worker", *base, "--camera", c.id, "--state-dir", str(state), "--progress", "--threads", str(threads)],
                out_dir / "logs" / f"{c.id}.log",
                launcher,
                placement_of(c.placement),
                env={CAMERA_TOKEN_ENV: camera_token(secret, c.id).hex()},
            )  # fmt: skip
            for c in config.cameras
        }
        self.dashboard: str | None = None
        self._endpoint: str | None = None  # where workers reach the matcher (set once it runs)
        self.matcher_restarts = 0
        self.interrupted: int | None = None
        self.on_ready = on_ready  # called once the matcher first holds its ports, before any worker starts

    def interrupt(self, signum: int) -> None:
        """For a signal handler: stop at the next safe point (never between a fork and its
        bookkeeping, which would leave a child nobody stops); ``run`` then raises ``Interrupted``."""
        self.interrupted = signum

    def _check_interrupt(self) -> None:
        if self.interrupted is not None:
            raise Interrupted(self.interrupted)

    def _start_matcher(self, fresh: bool, after: str | None = None) -> None:
        """Start the matcher and wait until it holds its ports; ``after``: why it is started again
        (it stopped mid-run), so that a failed restart is not told as a matcher that never started."""
        import json

        self.matcher.start(["--fresh"] if fresh else [])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self._check_interrupt()
            try:
                line = self.matcher.lines.get(timeout=0.2)
            except queue.Empty:
                if self.matcher.process.poll() is not None:
                    what = "did not start" if after is None else f"stopped ({after}) and did not start again"
                    raise MtmcError(f"the matcher {what}: {self._matcher_said()}") from None
                continue
            if line.startswith("{"):
                self.dashboard = json.loads(line).get("dashboard")
                return
        raise MtmcError(f"the matcher did not start within 120 s (see {self.matcher.log_path})")

    def run(self, on_change: Any = None) -> dict[str, str]:
        """Each camera's outcome ("done" or why it failed); ``on_change(self)`` after every poll.

        Raises ``Interrupted`` after ``interrupt``; any exception here stops every child first."""
        for child in (self.matcher, *self.workers.values()):  # a placement no node has: said before anything starts
            self.launcher.check_placement(child.name, child.placement)
        if not self.resume:
            self._rotate_logs()
        try:
            self._start_matcher(fresh=not self.resume)
            if not self.resume:  # the matcher holds the ports and has emptied its journal: a new run
                shutil.rmtree(self.state_dir, ignore_errors=True)
            if self.on_ready is not None:
                self.on_ready(self)
            for worker in self.workers.values():
                self._check_interrupt()
                self._start_worker(worker)
            self._watch(on_change)
            self._let_workers_end()
        finally:
            self.stop()
        for worker in self.workers.values():  # a worker still draining when the matcher ended
            worker.join_output(5.0)  # it has ended: its last lines are on their way (a loaded machine took over 1 s)
            self._read_lines(worker)
            worker.outcome = worker.outcome or self._ended_as(worker)
        if on_change is not None:
            on_change(self)
        return {name: w.outcome or "done" for name, w in self.workers.items()}

    def _rotate_logs(self) -> None:
        """A new run's logs start empty: the last run's go to ``logs/previous/`` (replacing the run
        before it), so a failed run's lines are kept but never read as this run's."""
        logs = self.matcher.log_path.parent
        old = [p for p in logs.iterdir() if p.is_file()] if logs.is_dir() else []
        if not old:
            return
        previous = logs / "previous"
        shutil.rmtree(previous, ignore_errors=True)
        previous.mkdir()
        for path in old:
            path.replace(previous / path.name)

    def _matcher_endpoint(self) -> str:
        assert self.matcher.process is not None
        self._endpoint = self.launcher.endpoint(self.matcher.process, self.config.matcher.bind)
        return self._endpoint

    def _start_worker(self, worker: Child) -> None:
        """Start (or restart) a camera's worker, pointed at where the matcher is now."""
        worker.start(["--matcher", self._endpoint or self._matcher_endpoint()])

    def _redirect_workers(self) -> None:
        """Restart the running workers towards the matcher's new address; each resumes from its
        outbox, and the restart is not counted against it."""
        for worker in self.workers.values():
            if worker.outcome is None and worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
                worker.process.wait()
                self._start_worker(worker)

    def _matcher_said(self) -> str:
        """The matcher's last stderr line, and where its log is (or why it could not be written)."""
        where = (
            f"its log could not be written: {self.matcher.log_failed}"
            if self.matcher.log_failed
            else f"see {self.matcher.log_path}"
        )
        return f"{self.matcher.last_error()} ({where})"

    def _let_workers_end(self, grace_s: float = 10.0) -> None:
        """The matcher is done, so is every camera's last batch: let the workers exit on their own,
        so that one which failed (its stream gave up after its last batch) says so by its exit code."""
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(
            w.process is not None and w.process.poll() is None for w in self.workers.values()
        ):
            self._check_interrupt()
            time.sleep(0.05)

    def _watch(self, on_change: Any) -> None:
        told_to_finish = False
        while True:
            self._check_interrupt()
            for worker in self.workers.values():
                self._watch_worker(worker)
            code = self.matcher.process.poll()
            if code is not None:
                if code == 0:
                    return
                if code == USER_ERROR or self.matcher_restarts >= self.max_restarts:
                    tried = f" (restarted {self.matcher_restarts} times)" if self.matcher_restarts else ""
                    raise MtmcError(f"the matcher stopped{tried}: {self._matcher_said()}")
                self.matcher_restarts += 1  # crashed, killed or stopped alone: never the end of the run
                why = f"exit {code}" if code > 0 else f"killed by signal {-code}"
                before = self._endpoint
                self._start_matcher(fresh=False, after=f"{why}: {self.matcher.last_error()}")  # replays its journal
                if self._matcher_endpoint() != before:  # it moved (another node): the workers follow it
                    self._redirect_workers()
                told_to_finish = False
            if not told_to_finish and all(w.outcome for w in self.workers.values()):
                if any(w.outcome != "done" for w in self.workers.values()):
                    self.matcher.process.send_signal(signal.SIGUSR1)  # finish with the cameras that ran
                told_to_finish = True
            if on_change is not None:
                on_change(self)
            time.sleep(0.2)

    def stop(self, grace_s: float = 10.0) -> None:
        """End every child still running: workers first (SIGTERM: their outboxes are on disk), then
        the matcher (SIGTERM: it marks its results partial), each killed if it outlives ``grace_s``."""
        for group in (list(self.workers.values()), [self.matcher]):
            running = [c for c in group if c.process is not None and c.process.poll() is None]
            for child in running:
                child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for child in running:
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()

    def _watch_worker(self, worker: Child) -> None:
        self._read_lines(worker)
        if worker.outcome is not None or worker.process.poll() is None:
            return
        code = worker.process.returncode
        if code == 0:
            worker.outcome = "done"
        elif code == USER_ERROR or worker.restarts >= self.max_restarts:
            worker.outcome = worker.last_error()
        else:
            worker.restarts += 1
            self._start_worker(worker)  # resumes from its checkpoint

    @staticmethod
    def _ended_as(worker: Child) -> str:
        """A worker's outcome once the run is over: its own exit says, whichever ended first. The
        matcher ends as soon as every camera sent its last batch, and a camera that failed (a
        stream that never answered) sends one too before its worker exits with the error."""
        code = worker.process.returncode if worker.process is not None else 0
        if code == 0 or code in (-signal.SIGTERM, -signal.SIGKILL):  # stopped by us once the matcher was done
            return "done"
        return worker.last_error()

    @staticmethod
    def _read_lines(worker: Child) -> None:
        """The worker's progress and lost-frames lines printed since the last look."""
        while True:
            try:
                line = worker.lines.get_nowait()
            except queue.Empty:
                break
            parts = line.split()
            if len(parts) == 3 and parts[0] == "frame":
                worker.frame, worker.total = int(parts[1]), int(parts[2]) or None
            elif line.startswith("lost "):
                worker.lost = line.removeprefix("lost ")


def render_global_videos(config: MtmcConfig, out_dir: Path) -> list[Path]:
    """``out_dir/videos/<camera>.mp4``: each camera's video with the global ids of its boxes, one
    colour per global id, so a vehicle keeps its number and colour from camera to camera."""
    import numpy as np

    from mtmc.formats import read_mot
    from mtmc.outputs.annotate import VideoAnnotator
    from mtmc.sources import open_source
    from mtmc.sources.stream import is_stream_url

    written = []
    for camera in config.cameras:
        mot = out_dir / "mot" / f"{camera.id}.txt"
        if is_stream_url(camera.source) or not mot.is_file() or not mot.stat().st_size:
            continue
        rows = read_mot(mot, what="tracks file")
        order = np.argsort(rows.frame, kind="stable")
        frames, ids, boxes = rows.frame[order], rows.id[order], rows.xywh[order]
        source = open_source(camera.source, fps=camera.fps)
        path = out_dir / "videos" / f"{camera.id}.mp4"
        annotator = VideoAnnotator(path, source.output_fps, label=f"{camera.id} (global ids)")
        for frame in source:
            lo, hi = np.searchsorted(frames, [frame.index, frame.index + 1])
            b = boxes[lo:hi]
            tracks = np.column_stack([b[:, :2], b[:, :2] + b[:, 2:], ids[lo:hi], np.ones((hi - lo, 3))])
            annotator.add(frame.image, tracks, frame.index)
        annotator.close()
        written.append(path)
    return written
