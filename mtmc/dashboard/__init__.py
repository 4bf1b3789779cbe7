"""The matcher's live web dashboard: camera frames with global ids, identities, throughput, lag.

The matcher owns a :class:`LiveState` (built with the configured camera ids), feeds it from its
loop, and calls :func:`serve` once (``server.close()`` stops it); the page at ``/`` polls
``/api/state`` every second. :func:`jpeg_dimensions` reads a preview's declared size from its
header, so an oversized one can be dropped before anything decodes it.
"""

from mtmc.dashboard.images import jpeg_dimensions
from mtmc.dashboard.server import DashboardServer, serve
from mtmc.dashboard.state import STALE_AFTER_S, LiveState, id_color

__all__ = ["STALE_AFTER_S", "DashboardServer", "LiveState", "id_color", "jpeg_dimensions", "serve"]
