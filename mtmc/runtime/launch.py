"""Where the processes of a run run: this machine (:class:`LocalLauncher`) or a Ray cluster
(:mod:`mtmc.runtime.ray_launch`). The supervisor (:mod:`mtmc.runtime.supervisor`) decides what to
start, when to restart and what an exit means; a launcher only starts a command somewhere and
hands back a :class:`ProcessHandle` plus its output, line by line. So ``mtmc run`` and ``mtmc run
--ray`` are one supervisor with two launchers, not two copies of it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol

from mtmc.runtime.lifeline import ENV as LIFELINE

LineSink = Callable[[str], None]


@dataclass(frozen=True)
class Placement:
    """Where a process may run: nodes carrying these ``labels`` (Ray node labels, e.g. site: north),
    else these custom ``resources``; empty: anywhere. Only a cluster launcher reads it."""

    labels: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)


class ProcessHandle(Protocol):
    """A started process, as much of ``subprocess.Popen`` as the supervisor uses."""

    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...

    def join_output(self, timeout: float) -> None:
        """Return once every line it wrote has been handed over (it has ended), or after ``timeout``."""


class Launcher(Protocol):
    def launch(
        self, name: str, argv: list[str], env: dict[str, str], placement: Placement, stdout: LineSink, stderr: LineSink
    ) -> ProcessHandle:
        """Start ``argv`` with ``env`` added to the environment; each line it writes goes to
        ``stdout`` / ``stderr`` (without its newline)."""
        ...

    def check_placement(self, name: str, placement: Placement) -> None:
        """Raise one line when no place fits ``placement`` (before anything starts)."""
        ...

    def endpoint(self, handle: ProcessHandle, bind: str) -> str:
        """How the other processes of the run reach an address ``handle``'s process bound."""
        ...

    def close(self) -> None: ...


class LocalProcess(subprocess.Popen):
    """A child on this machine, in its own process group (Ctrl-C reaches the supervisor alone),
    ending with the supervisor (``lifeline``); threads copy its output lines."""

    def __init__(self, argv: list[str], env: dict[str, str], stdout: LineSink, stderr: LineSink) -> None:
        super().__init__(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, process_group=0,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1", LIFELINE: str(os.getpid())},
        )  # fmt: skip
        self._readers = [
            threading.Thread(target=_copy_lines, args=(stream, sink), daemon=True)
            for stream, sink in ((self.stdout, stdout), (self.stderr, stderr))
        ]
        for reader in self._readers:
            reader.start()

    def join_output(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


class LocalLauncher:
    """Every process on this machine."""

    def launch(
        self, name: str, argv: list[str], env: dict[str, str], placement: Placement, stdout: LineSink, stderr: LineSink
    ) -> LocalProcess:
        return LocalProcess(argv, env, stdout, stderr)

    def check_placement(self, name: str, placement: Placement) -> None:
        pass  # one machine: placement is for clusters

    def endpoint(self, handle: ProcessHandle, bind: str) -> str:
        return bind

    def close(self) -> None:
        pass


def _copy_lines(stream: IO[str], sink: LineSink) -> None:
    for line in stream:
        sink(line.rstrip("\n"))
