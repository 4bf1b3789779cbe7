"""The matcher's dashboard, started from its config: live state, the run's sightings store, the
topology the matcher is learning, its host and token (``dashboard:``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def reader_of(store: Any) -> Callable[[], Any]:
    """Opens a read-only connection to the store the matcher writes (its class's ``read``), one per
    request: the matcher's own connection stays its own thread's."""
    read = type(store).read
    target = getattr(store, "url", None) or store.path
    return lambda: read(target)


def learnt_network(learner: Callable[[], Any]) -> Callable[[], dict]:
    """The camera network the matcher's learner holds (``learner()``: None while there is none, as
    before an offline run's end or with a given topology), as ``{links, overlaps}`` by camera name,
    read from a dashboard thread while the matcher's thread adds to it: a read that meets a change
    in progress is tried again (and the last good answer kept)."""
    last: list[dict] = [{"links": [], "overlaps": []}]

    def network() -> dict:
        for _ in range(3):
            try:
                current = learner()
                if current is None:
                    last[0] = {"links": [], "overlaps": []}
                else:
                    last[0] = {"links": current.links(), "overlaps": current.overlaps()}
                break
            except RuntimeError:  # "deque/dict mutated during iteration"
                continue
        return last[0]

    return network


def start_dashboard(config: Any, store: Any, learner: Callable[[], Any], port: int) -> tuple[Any, Any, str]:
    """``(LiveState, server, url)`` for a matcher with ``config``, writing ``store`` (None: no
    store), learning its camera network with ``learner()`` (None: none); on ``dashboard.host`` (a
    token needed off loopback)."""
    from mtmc.dashboard.auth import token_from
    from mtmc.dashboard.footage import Footage
    from mtmc.dashboard.pictures import picture_search_for
    from mtmc.dashboard.server import serve
    from mtmc.dashboard.sightings import StoreView
    from mtmc.dashboard.state import LiveState

    width = config.worker.preview_width
    live = LiveState([c.id for c in config.cameras], max_preview_size=(width, 2 * width))
    view = None
    if store is not None:
        search, missing = picture_search_for(config.embedder)
        view = StoreView(  # store.where: its path, or its URL without the password; clips from the sources (no annotated video yet)
            reader_of(store), store.where, learnt=learnt_network(learner), image_search=search, image_search_missing=missing,
            footage=Footage({c.id: str(c.source) for c in config.cameras}),
        )
    host = config.dashboard.host
    server, bound = serve(live, host, port, view=view, token=token_from(config.dashboard.token))
    shown = f"[{host}]" if ":" in host else host
    return live, server, f"http://{shown}:{bound}/"
