"""The sightings store in one embedded SQLite file (WAL: ``mtmc search`` reads while the matcher writes).

The SQL is :mod:`mtmc.store.sql`'s, shared with PostgreSQL; here only how a file is opened and
rebuilt. The matcher's fresh open replaces the file (and a killed matcher's ``-wal``), but only
when it is a sightings database: ``store.path`` naming some other file is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtmc.errors import MtmcError
from mtmc.store.sql import REPLAY, UNRECORDED, SQLStore, schema_version_of


def _schema_version(connection: sqlite3.Connection, path: Path) -> int:
    try:
        row = connection.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:  # not SQLite, or SQLite without our meta table
        raise MtmcError(f"{path}: not a sightings database ({exc})") from None
    return schema_version_of(row, str(path))


class SQLiteStore(SQLStore):
    """``SQLiteStore(path, cameras, labels)`` writes (rebuilt from nothing on first use);
    ``SQLiteStore.read(path)`` opens an existing store to search it."""

    REBUILD = f"delete it (or {REPLAY})"

    def __init__(
        self, path: str | Path, cameras: Mapping[int, str] | None = None,
        labels: Mapping[str, tuple[str, ...]] | None = None, keep_days: float | None = None,
        embedder: Mapping[str, Any] | None | object = UNRECORDED,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        super().__init__(str(self.path), cameras, labels, keep_days, embedder)

    @classmethod
    def read(cls, path: str | Path) -> SQLiteStore:
        path = Path(path)
        if not path.is_file():
            raise MtmcError(f"no sightings database at {path} (a matcher with store: enabled writes OUT/sightings.db)")
        store = cls(path)
        try:
            store._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise MtmcError(f"{path}: cannot open the sightings database ({exc})") from None
        store.readonly = True
        store._check_version(_schema_version(store._db, path))
        return store

    def _fresh(self) -> sqlite3.Connection:
        if self.path.exists():
            try:
                old = sqlite3.connect(self.path)  # read only: a killed matcher's -wal is recovered
                try:
                    _schema_version(old, self.path)
                finally:
                    old.close()
            except sqlite3.Error as exc:
                raise MtmcError(f"{self.path}: not a sightings database ({exc}); refusing to replace it") from None
            except MtmcError as exc:
                raise MtmcError(f"{exc}; refusing to replace it (store.path names another file?)") from None
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # rebuilt from the journal on restart anyway
        return db
