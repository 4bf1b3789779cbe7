"""Progress bars for work spread over processes: workers put ``(name, "total"|"frame", n)`` events on
a queue; the parent advances one bar per name and collects each future as it finishes."""

from __future__ import annotations

import queue as queue_module
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


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
