"""The matcher's live web dashboard: camera frames with global ids, identities, throughput, lag.

The matcher owns a :class:`LiveState`, feeds it from its loop, and calls :func:`serve` once;
the page at ``/`` polls ``/api/state`` every second.
"""

from mtmc.dashboard.server import serve
from mtmc.dashboard.state import STALE_AFTER_S, LiveState, id_color

__all__ = ["STALE_AFTER_S", "LiveState", "id_color", "serve"]
