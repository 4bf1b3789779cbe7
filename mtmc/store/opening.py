"""Which store: the matcher's from its config (``store.url`` -> PostgreSQL, else a SQLite file), and
a reader's from what the user names (a run's folder, a ``.db`` file or a ``postgresql://`` URL)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtmc.store.sql import UNRECORDED, SQLStore

if TYPE_CHECKING:
    from mtmc.config import StoreConfig

SCHEMES = ("postgresql://", "postgres://")


def is_url(where: object) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a file or folder."""
    return isinstance(where, str) and where.startswith(SCHEMES)


def open_store(
    settings: StoreConfig, out_dir: Path, cameras: Mapping[int, str] | None = None,
    labels: Mapping[str, tuple[str, ...]] | None = None, embedder: Mapping[str, Any] | None | object = UNRECORDED,
) -> SQLStore:  # fmt: skip
    """The store the matcher writes (opened, afresh, on first use): PostgreSQL at ``store.url``,
    else SQLite at ``store.path`` or ``OUT/sightings.db``; ``embedder``: the run's part, recorded."""
    options = {"cameras": cameras, "labels": labels, "keep_days": settings.keep_days, "embedder": embedder}
    if settings.url is not None:
        from mtmc.store.postgres import PostgresStore

        return PostgresStore(settings.url, **options)
    from mtmc.store.sqlite import SQLiteStore

    return SQLiteStore(settings.path if settings.path is not None else out_dir / "sightings.db", **options)


def database_of(where: str | Path) -> str | Path:
    """What a reader names -> the store: a URL as it is, a run's folder -> its ``sightings.db``."""
    if is_url(where):
        return str(where)
    path = Path(where)
    return path / "sightings.db" if path.is_dir() or not path.suffix else path


def read_store(where: str | Path) -> SQLStore:
    """An existing store opened read only, to search it: ``where`` is a run's output folder, a
    sightings database file or a ``postgresql://`` URL (errors are one line)."""
    target = database_of(where)
    if isinstance(target, str):
        from mtmc.store.postgres import PostgresStore

        return PostgresStore.read(target)
    from mtmc.store.sqlite import SQLiteStore

    return SQLiteStore.read(target)
