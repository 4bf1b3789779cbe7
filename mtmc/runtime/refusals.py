"""Refused messages (and cut connections), counted by reason and logged a line per reason a minute at most.

A flood of bad messages (300,000 heartbeats from made-up camera numbers, say) must cost a counter,
not a log line each: the first refusal of a reason is logged at once with its detail, later ones
are summed and said once ``every_s`` has passed ("... and 195,057 more in the last 60 s").
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

EVERY_S = 60.0


class Refusals:
    """``add(reason, detail)``: count one refusal; ``counts``: every refusal so far, by reason."""

    def __init__(self, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self.counts: Counter = Counter()
        self._unsaid: Counter = Counter()
        self._said_at: dict[str, float] = {}

    def add(self, reason: str, detail: str, count: int = 1) -> str:
        self.counts[reason] += count
        now = self.clock()
        said = self._said_at.get(reason)
        if said is None or now - said >= self.every_s:
            more = self._unsaid.pop(reason, 0)
            since = f" (and {more:,} more since this was last said, {now - said:.0f} s ago)" if more else ""
            log.warning("%s [%s]%s", detail, reason, since)
            self._said_at[reason] = now
        else:
            self._unsaid[reason] += count
        return reason
