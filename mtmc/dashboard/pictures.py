"""Search by picture for the dashboard: embed the uploaded picture, find the nearest identities.

:func:`picture_search` wraps an ``embed(BGR picture) -> (D,) feature`` into the ``(store, picture,
k) -> [(global_id, distance)]`` a :class:`~mtmc.dashboard.sightings.StoreView` calls; the identities'
features (:class:`mtmc.store.index.IdentityIndex`, track-averaged per identity) are read from the
store once and reused for :data:`INDEX_TTL_S`. :func:`picture_search_for` builds the embed function
from the run's embedder part (the same one the workers used, so distances mean the same),
on the first search only (loading a model takes seconds and memory the matcher needs otherwise).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

INDEX_TTL_S = 10.0  # identities' features are re-read from the store at most this often

Embed = Callable[[np.ndarray], np.ndarray]


def picture_search(embed: Embed, clock: Callable[[], float] = time.monotonic) -> Callable[[Any, np.ndarray, int], list]:
    """``(store, picture BGR, k) -> [(global_id, cosine distance)]``, nearest first."""
    lock = threading.Lock()
    cached: list[Any] = [None, -float("inf")]  # index, when read

    def search(store: Any, picture: np.ndarray, k: int) -> list[tuple[int, float]]:
        from mtmc.store.index import IdentityIndex

        with lock:
            if cached[0] is None or clock() - cached[1] >= INDEX_TTL_S:
                cached[0], cached[1] = IdentityIndex.from_store(store), clock()
            index = cached[0]
        if len(index) == 0:
            return []
        feature = np.asarray(embed(picture), np.float32).reshape(-1)
        if feature.size != index.dim:
            from mtmc.dashboard.sightings import StoreUnavailable

            raise StoreUnavailable(
                f"the store's features are {index.dim}-d but the embedder gives {feature.size}-d: serve the "
                "dashboard with the run's own config (mtmc dashboard OUT --config CONFIG)"
            )
        ids, distances = index.search(feature, k)
        return [(int(i), float(d)) for i, d in zip(ids, distances)]

    return search


def picture_search_for(part: Any) -> tuple[Any, str]:
    """The search by picture with the run's embedder ``part`` (a :class:`~mtmc.schema.PartConfig`),
    built on first use; or None and why not (``part`` None: the run had no embedder)."""
    if part is None:
        return None, "search by picture needs an embedder: the run had embedder: null (motion only)"
    lock = threading.Lock()
    built: list[Any] = []

    def embed(picture: np.ndarray) -> np.ndarray:
        from mtmc.store.image_search import build_query_embedder, embed_picture

        with lock:
            if not built:
                built.append(build_query_embedder(part, threads=1))
        return embed_picture(built[0], picture)

    return picture_search(embed), ""
