"""Search a sightings store by an example picture ("where else was this car?").

The picture is embedded as a crop (the whole image is the box) by the embedder the run used, so its
feature lives in the same space as the stored tracks' features; the store's identities are ranked
by cosine distance to it (:class:`mtmc.store.index.IdentityIndex`). Used by ``mtmc search --image``
and the dashboard's search box (:func:`search_by_image`, or :class:`PictureSearch` to keep the
embedder and the index between searches).

The matcher records the run's embedder in the store (:meth:`SQLStore.recorded_embedder`), so that
is the one used; a config given (``--config``) overrides it, and a store written before it was
recorded gets the default vehicle embedder, said in a logged line. A store whose features are of
another size than the embedder's is refused with a line that says so.
"""

from __future__ import annotations

import io
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.store.index import IdentityIndex
from mtmc.store.opening import database_of, read_store

if TYPE_CHECKING:
    from mtmc.config import MtmcConfig
    from mtmc.reid.embedder import Embedder
    from mtmc.schema import PartConfig
    from mtmc.store.base import SightingStore

log = logging.getLogger(__name__)

MAX_PICTURE_BYTES = 10 * 2**20  # a vehicle crop is kilobytes; a phone photo a few megabytes
MAX_PICTURE_PIXELS = 40_000_000  # checked from the header, before anything is decoded


def read_picture(data: bytes, what: str = "the picture") -> np.ndarray:
    """Image file bytes -> (H, W, 3) uint8 BGR. Too many bytes or pixels, or not an image: one-line
    ``MtmcError`` (the size is read from the header first, so a decompression bomb is never decoded)."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise MtmcError(f"{what}: empty, not an image")
    if len(data) > MAX_PICTURE_BYTES:
        raise MtmcError(f"{what}: {len(data) / 2**20:.1f} MiB, over the {MAX_PICTURE_BYTES // 2**20} MiB a search picture may be")
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            kind = header.format
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise MtmcError(f"{what}: not an image (JPEG, PNG, BMP, WebP or TIFF expected)") from None
    if width * height > MAX_PICTURE_PIXELS:
        raise MtmcError(f"{what}: {width} x {height} pixels, over the {MAX_PICTURE_PIXELS:,} a search picture may have")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # as the re-id data is read
    if image is None or image.size == 0:
        raise MtmcError(f"{what}: a {kind} file that cannot be decoded (damaged, or a format OpenCV does not read)")
    return image


def embedder_part(
    config: MtmcConfig | PartConfig | str | Path | None, store: SightingStore | None = None,
) -> PartConfig:  # fmt: skip
    """The embedder part a run used: from its config (a loaded one, its YAML path, or the part
    itself), else as ``store`` recorded it; neither: the default vehicle embedder, with a logged
    line saying so. A motion-only run (``embedder: null``) is one line: it has nothing to search."""
    from mtmc.config import MtmcConfig, load_config
    from mtmc.detect.defaults import VEHICLE_EMBEDDER
    from mtmc.schema import PartConfig
    from mtmc.store.sql import UNRECORDED

    motion_only = "the run's config has no embedder (embedder: null, motion only): its identities have no features to search by picture"
    if config is None:
        recorded = UNRECORDED if store is None else store.recorded_embedder()
        if recorded is None:
            raise MtmcError(motion_only)
        if recorded is not UNRECORDED:
            log.info("embedding the picture with the run's embedder, %s (recorded in the store)", recorded)
            return PartConfig.model_validate(recorded)
        log.warning(
            "embedding the picture with the default embedder, reid (%s): the store does not say which the "
            "run used; pass the run's config (--config) if it used another", VEHICLE_EMBEDDER.options()["weights"],
        )  # fmt: skip
        return VEHICLE_EMBEDDER.model_copy()
    if isinstance(config, PartConfig):
        return config
    if not isinstance(config, MtmcConfig):
        config = load_config(config)
    if config.embedder is None:
        raise MtmcError(motion_only)
    return config.embedder


def build_query_embedder(
    config: MtmcConfig | PartConfig | str | Path | None, threads: int = 2, store: SightingStore | None = None,
) -> Embedder:  # fmt: skip
    """The run's embedder (:func:`embedder_part`), built as a worker builds it."""
    from mtmc.reid import build_embedder

    part = embedder_part(config, store)
    return build_embedder(part.name, **{"threads": threads, **part.options()})


def embed_picture(embedder: Embedder, picture: np.ndarray) -> np.ndarray:
    """The picture's (D,) feature: the whole (H, W, 3) BGR image is the vehicle's crop."""
    return embedder.embed(picture, np.array([[0, 0, picture.shape[1], picture.shape[0]]], np.float32))[0]


def identity_summary(store: SightingStore, global_id: int) -> dict[str, Any]:
    """An identity's journey in brief: cameras in time order, each sighting's span, first and last time."""
    sightings = store.journey(global_id)
    return {
        "global_id": int(global_id),
        "cameras": [s.camera_name for s in sightings],
        "first_s": round(min(s.first_s for s in sightings), 3) if sightings else None,
        "last_s": round(max(s.last_s for s in sightings), 3) if sightings else None,
        "sightings": [
            {"camera": s.camera_name, "track": s.track, "first_s": round(s.first_s, 3), "last_s": round(s.last_s, 3)}
            for s in sightings
        ],
    }


class PictureSearch:
    """Search one store by picture, again and again: the embedder is built once and the index is
    rebuilt only when the database file changed (a run or monitor still writing it). Safe to share
    between a server's threads (one of them rebuilds a stale index, the others wait for it)."""

    def __init__(
        self, where: SightingStore | str | Path, config: MtmcConfig | PartConfig | str | Path | None = None,
        embedder: Embedder | None = None,
    ) -> None:  # fmt: skip
        """``where``: a run's output folder, a sightings database file, a ``postgresql://`` URL, or an
        open store (the last two searched as they are, the index rebuilt each time); the embedder is
        ``embedder``, else the one ``config`` names, else the one the store recorded."""
        self.where = where if hasattr(where, "journey") else database_of(where)
        if embedder is None and config is not None:
            embedder = build_query_embedder(config)
        elif embedder is None:  # the run's own, as its store recorded it
            store, owned = self._open()
            try:
                embedder = build_query_embedder(None, store=store)
            finally:
                if owned:
                    store.close()
        self.embedder = embedder
        self._index: IdentityIndex | None = None
        self._stamp: tuple | None = None
        self._lock = threading.Lock()

    def _open(self) -> tuple[SightingStore, bool]:
        if isinstance(self.where, (str, Path)):
            return read_store(self.where), True
        return self.where, False

    def _file_stamp(self) -> tuple | None:
        """What changes when the database does (its file and WAL's size and time); None: not a file."""
        if not isinstance(self.where, Path):
            return None
        stamps = []
        for suffix in ("", "-wal"):
            try:
                info = Path(f"{self.where}{suffix}").stat()
            except FileNotFoundError:
                stamps.append(None)
            else:
                stamps.append((info.st_size, info.st_mtime_ns))
        return tuple(stamps)

    def index(self, store: SightingStore) -> IdentityIndex:
        """The store's identity index, read again only when the file changed (always: not a file)."""
        with self._lock:
            stamp = self._file_stamp()  # before the read: a write during it makes the next search read again
            if self._index is None or stamp is None or stamp != self._stamp:
                self._index, self._stamp = IdentityIndex.from_store(store), stamp
            return self._index

    def search(self, image: bytes | np.ndarray, k: int = 5) -> list[dict[str, Any]]:
        """The k identities nearest the picture (file bytes, or a BGR array), nearest first: each
        :func:`identity_summary` with ``rank`` (1 = nearest) and ``distance`` (cosine, 0-2)."""
        if k < 1:
            raise MtmcError(f"k must be at least 1, got {k}")
        picture = read_picture(image) if isinstance(image, (bytes, bytearray, memoryview)) else image
        picture = np.ascontiguousarray(picture)
        if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
            raise MtmcError(f"the picture must be (H, W, 3) uint8 BGR, got {picture.shape} {picture.dtype}")
        query = embed_picture(self.embedder, picture)
        store, owned = self._open()
        try:
            index = self.index(store)
            if len(index) == 0:
                return []
            if index.dim != query.size:
                raise MtmcError(
                    f"the store's features are {index.dim}-d but the embedder gives {query.size}-d: "
                    "pass the run's own config (--config) so the picture is embedded as its tracks were"
                )
            ids, distances = index.search(query, k)
            return [
                {"rank": rank, "distance": round(float(d), 4), **identity_summary(store, int(i))}
                for rank, (i, d) in enumerate(zip(ids, distances), start=1)
            ]
        finally:
            if owned:
                store.close()


def search_by_image(
    store_or_path: SightingStore | str | Path, image: bytes | np.ndarray, k: int = 5,
    config: MtmcConfig | PartConfig | str | Path | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The k identities nearest an example picture, nearest first (see :meth:`PictureSearch.search`):
    ``[{rank, distance, global_id, cameras, first_s, last_s, sightings: [{camera, track, first_s,
    last_s}]}]``. Builds the embedder each call: a caller that searches often keeps a
    :class:`PictureSearch`."""
    return PictureSearch(store_or_path, config).search(image, k)
