"""Progress bars for work spread over processes, one bar per camera: ``follow`` advances them from
``(name, "total"|"frame", n)`` events that pool workers put on a queue; ``supervise_with_bars``
from the frame counts a ``Supervisor`` reads from its worker processes."""

from __future__ import annotations

import queue as queue_module
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def camera_bars(disable: bool = False, transient: bool = False) -> Any:
    """A rich ``Progress`` with the columns every per-camera bar shows: label, bar, n/total, time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, disable=disable, transient=transient)


def follow(
    progress: Any,
    tasks: dict[str, Any],
    events: Any,
    futures: dict[str, Future],
    outcome: Callable[[Future], T],
    done_label: Callable[[str, T], str],
) -> dict[str, T]:
    """Advance the bars until every future is done; ``outcome`` turns a future into its result."""
    results: dict[str, T] = {}
    while len(results) < len(futures):
        try:
            name, kind, value = events.get(timeout=0.2)
            if kind == "total":
                progress.update(tasks[name], total=value)
            else:
                progress.advance(tasks[name], value)
        except queue_module.Empty:
            pass
        for name, future in futures.items():
            if name not in results and future.done():
                results[name] = outcome(future)
                progress.update(tasks[name], description=done_label(name, results[name]))
    return results


def supervise_with_bars(supervisor: Any, quiet: bool, prefix: str = "") -> dict[str, str]:
    """Run ``supervisor`` with one progress bar per camera, labelled done / FAILED when it ends."""
    with camera_bars(disable=quiet) as progress:
        tasks = {name: progress.add_task(f"{prefix}{name}", total=None) for name in supervisor.workers}

        def update(sup: Any) -> None:
            for name, worker in sup.workers.items():
                label = f"{prefix}{name}"
                if worker.outcome is not None:
                    label += " done" if worker.outcome == "done" else " FAILED"
                if worker.restarts:
                    label += f" (restarted {worker.restarts}x)"
                waiting = getattr(worker.process, "waiting", None)  # a cluster with no node for it (yet)
                if waiting and worker.outcome is None:
                    label += f" ({waiting})"
                progress.update(tasks[name], completed=worker.frame, total=worker.total, description=label)
                if worker.outcome is not None:
                    progress.stop_task(tasks[name])  # its clock shows how long it ran

        result = supervisor.run(on_change=update)
        if supervisor.dashboard and not quiet:
            progress.console.print(f"dashboard was at {supervisor.dashboard}")
    return result
