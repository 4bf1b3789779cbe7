"""The matcher's web dashboard: live camera frames with global ids, identities, throughput, lag; and,
from the sightings store, each identity's journey, searches (attributes, a picture) and the camera graph.

The matcher owns a :class:`LiveState` (built with the configured camera ids), feeds it from its
loop, and calls :func:`serve` once (``server.close()`` stops it), with a :class:`StoreView` over its
sightings store; ``mtmc dashboard`` serves a finished run's store the same way (it writes only the
corrections made on identity pages). Sightings' frames and clips are cut from the run's videos
(:mod:`mtmc.dashboard.footage`). The page
at ``/`` polls ``/api/state`` every second. :func:`jpeg_dimensions` reads a preview's declared size
from its header, so an oversized one can be dropped before anything decodes it. Off loopback the
dashboard needs a token (:mod:`mtmc.dashboard.auth`).
"""

from mtmc.dashboard.images import jpeg_dimensions
from mtmc.dashboard.server import DashboardServer, serve
from mtmc.dashboard.sightings import StoreView
from mtmc.dashboard.state import STALE_AFTER_S, LiveState, id_color

__all__ = ["STALE_AFTER_S", "DashboardServer", "LiveState", "StoreView", "id_color", "jpeg_dimensions", "serve"]
