"""The sightings store in a PostgreSQL database (``store: {url: postgresql://user@host/db}``).

The schema and statements are :mod:`mtmc.store.sql`'s, the same as SQLite's (``BYTEA`` for the
binary columns, ``%s`` placeholders). The matcher's fresh open drops and recreates its three tables
(``meta``, ``sightings``, ``corrections``: their rows carried over) in the database given, the
others are left alone; tables of those names that are not a sightings store are refused, as SQLite refuses another file. Readers use their
own autocommit connection, so ``mtmc search`` sees each of the matcher's commits (one a tick).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from mtmc.errors import MtmcError
from mtmc.store.sql import CORRECTION_COLUMNS, REPLAY, TABLES, UNRECORDED, SQLStore, schema_version_of

CONNECT_TIMEOUT_S = 5


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def connect(url: str, **options: object) -> psycopg.Connection:
    """A connection to ``url``; an unreachable or refusing server is one line naming it (no password)."""
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, **options)
    except psycopg.Error as exc:
        # libpq's first line ends with the cause ("... port 5432 failed: Connection refused")
        reason = str(exc).strip().splitlines()[0].rsplit(" failed: ", 1)[-1] if str(exc).strip() else type(exc).__name__
        raise MtmcError(
            f"cannot reach the sightings database {redacted(url)} ({reason}): start PostgreSQL there or fix "
            "store.url (postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, the database created beforehand)"
        ) from None


def _schema_version(db: psycopg.Connection, where: str) -> int | None:
    """The stored schema version; None: no store there yet. Tables of our names that are not a
    sightings store are an error."""
    present = {
        row[0]
        for row in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ANY(%s)",
            (list(TABLES),),
        ).fetchall()
    }
    if not present:
        return None
    if "meta" not in present:
        raise MtmcError(f"{where}: not a sightings database (a table 'sightings' without 'meta')")
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    except psycopg.Error as exc:
        raise MtmcError(f"{where}: not a sightings database (its meta table: {str(exc).strip()})") from None
    return schema_version_of(row, where)


def _saved_corrections(db: psycopg.Connection, version: int | None, where: str) -> list[tuple]:
    """The corrections of the store there, which its rebuild keeps; a table ``corrections`` beside
    no sightings store of version 2 or later is someone else's: an error."""
    row = db.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'corrections'"
    ).fetchone()
    if row is None:
        return []
    if version is None or version < 2:
        raise MtmcError(f"{where}: a table 'corrections' that is not a sightings store's")
    try:
        return db.execute(f"SELECT {CORRECTION_COLUMNS} FROM corrections ORDER BY id").fetchall()
    except psycopg.Error as exc:
        raise MtmcError(f"{where}: a table 'corrections' that is not a sightings store's ({str(exc).strip()})") from None


class PostgresStore(SQLStore):
    """``PostgresStore(url, cameras, labels)`` writes (its tables rebuilt on first use);
    ``PostgresStore.read(url)`` opens an existing store to search it."""

    PARAM = "%s"
    BLOB = "BYTEA"
    REBUILD = f"drop its tables meta, sightings and corrections (or {REPLAY})"
    DB_ERROR = psycopg.Error

    def __init__(
        self, url: str, cameras: Mapping[int, str] | None = None,
        labels: Mapping[str, tuple[str, ...]] | None = None, keep_days: float | None = None,
        embedder: Mapping[str, Any] | None | object = UNRECORDED,
    ) -> None:  # fmt: skip
        self.url = url
        super().__init__(redacted(url), cameras, labels, keep_days, embedder)
        self.path = self.where  # what messages name, as SQLiteStore's path

    @classmethod
    def read(cls, url: str) -> PostgresStore:
        store = cls(url)
        db = connect(url, autocommit=True)
        db.execute("SET default_transaction_read_only = on")
        store._db, store.readonly = db, True
        try:
            version = _schema_version(db, store.where)
        except MtmcError:
            store.close()
            raise
        if version is None:
            store.close()
            raise MtmcError(f"no sightings database at {store.where} (a matcher with store: {{url: ...}} writes it)")
        store._check_version(version)
        return store

    def _connect_write(self) -> psycopg.Connection:
        return connect(self.url)

    def _fresh(self) -> tuple[psycopg.Connection, list[tuple]]:
        db = connect(self.url)
        try:
            corrections = _saved_corrections(db, _schema_version(db, self.where), self.where)
        except MtmcError as exc:
            db.close()
            raise MtmcError(f"{exc}; refusing to replace it (store.url names another database?)") from None
        db.execute("DROP TABLE IF EXISTS sightings, meta, corrections")
        return db, corrections
