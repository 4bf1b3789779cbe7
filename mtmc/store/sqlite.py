"""The sightings store in one embedded SQLite file (WAL: ``mtmc search`` reads while the matcher writes).

The SQL is :mod:`mtmc.store.sql`'s, shared with PostgreSQL; here only how a file is opened and
rebuilt. The matcher's fresh open replaces the file (and a killed matcher's ``-wal``), but only
when it is a sightings database: ``store.path`` naming some other file is refused. SQLite's errors
are one line each: a corrupt page (at open or mid-query), a folder this process cannot write, a
file that is not a sightings database.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mtmc.errors import MtmcError
from mtmc.store.sql import CORRECTION_COLUMNS, REPLAY, TABLES, UNRECORDED, SQLStore, schema_version_of

log = logging.getLogger(__name__)

# SQLite's primary result codes that matter here (Python 3.10 gives only the message)
READONLY, CORRUPT, CANTOPEN = 8, 11, 14
_MESSAGES = {"malformed": CORRUPT, "readonly": READONLY, "unable to open": CANTOPEN}


def _code(exc: sqlite3.Error) -> int | None:
    """The primary result code of ``exc`` (extended codes folded: SQLITE_READONLY_DIRECTORY -> READONLY)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF
    return next((c for text, c in _MESSAGES.items() if text in str(exc)), None)


def _read_only(folder: Path) -> str | None:
    """Why this process cannot create files in ``folder`` ('read-only file system' or 'permission
    denied'), or None: SQLite writes the WAL's -shm and -wal beside the database, even to read it."""
    if os.access(folder, os.W_OK, effective_ids=os.access in os.supports_effective_ids):
        return None
    with contextlib.suppress(OSError, AttributeError):  # no statvfs on Windows
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "read-only file system"
    return "permission denied"


def _unwritable(where: object, why: str) -> MtmcError:
    return MtmcError(f"{where}: cannot write the sightings database ({why}); set store.path to a writable place")


def _unreadable(where: object, exc: sqlite3.Error) -> MtmcError:
    """A reader's one line for ``exc``: corrupt pages, a file SQLite cannot open, or another file."""
    code = _code(exc)
    if code == CORRUPT:
        return MtmcError(f"{where}: the sightings database is corrupt ({exc}); rebuild it: {REPLAY}")
    if code in (READONLY, CANTOPEN):
        return MtmcError(f"{where}: cannot read the sightings database ({exc})")
    return MtmcError(f"{where}: not a sightings database ({exc})")


def _schema_version(connection: sqlite3.Connection, path: Path) -> int:
    """The store's schema version; SQLite's errors (not SQLite, no meta table, corrupt) pass through."""
    row = connection.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    return schema_version_of(row, str(path))


def _uri(path: Path, immutable: bool = False) -> str:
    return f"file:{quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def _connect_read(path: Path, immutable: bool = False) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to ``path`` and its schema version."""
    db = sqlite3.connect(_uri(path, immutable), uri=True)
    try:
        return db, _schema_version(db, path)
    except BaseException:
        db.close()
        raise


def _open_read(path: Path) -> tuple[sqlite3.Connection, int]:
    """:func:`_connect_read`, errors one line. On a folder this process cannot write (read-only media,
    another user's run) SQLite cannot create the WAL's -shm even to read: with no -wal there, no
    matcher writes through it, so ``immutable=1`` reads the file as it is."""
    try:
        return _connect_read(path)
    except sqlite3.Error as exc:
        why = _read_only(path.parent) if _code(exc) in (READONLY, CANTOPEN) else None
        if why is None:
            raise _unreadable(path, exc) from None
        if Path(f"{path}-wal").exists():
            raise MtmcError(
                f"{path}: cannot read the sightings database ({exc}): its folder is read only ({why}) and SQLite must "
                "write beside its -wal; copy the folder somewhere writable, or read it as the user that writes it"
            ) from None
    try:
        return _connect_read(path, immutable=True)
    except sqlite3.Error as exc:
        raise _unreadable(path, exc) from None


def _check_replaceable(path: Path) -> None:
    """What is at ``path`` may be replaced only if it is a sightings database (any version): opened
    read-write, so a killed matcher's -wal is recovered first. One with corrupt pages is still ours
    when its schema names our tables (the matcher rebuilds it: what the corrupt line tells a reader)."""
    try:
        old = sqlite3.connect(path)
        try:
            try:
                _schema_version(old, path)
            except sqlite3.DatabaseError as exc:
                if _code(exc) != CORRUPT:
                    raise
                named = {r[0] for r in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
                if not set(TABLES) <= named:
                    raise
        finally:
            old.close()
    except sqlite3.Error as exc:
        why = _read_only(path.parent) if _code(exc) in (READONLY, CANTOPEN) else None
        if why is not None:
            raise _unwritable(path, why) from None
        if _code(exc) == CORRUPT:
            raise MtmcError(
                f"{path}: corrupt, its tables unreadable ({exc}): refusing to replace what may be another file; "
                "delete it if it is a sightings database"
            ) from None
        raise MtmcError(f"{path}: not a sightings database ({exc}); refusing to replace it") from None
    except MtmcError as exc:
        raise MtmcError(f"{exc}; refusing to replace it (store.path names another file?)") from None


def _saved_corrections(path: Path) -> list[tuple]:
    """The corrections in the store at ``path`` (a sightings database), which its rebuild keeps:
    none in a version-1 store; unreadable pages lose them, said in the log."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'corrections'").fetchone() is None:
                return []
            return db.execute(f"SELECT {CORRECTION_COLUMNS} FROM corrections ORDER BY id").fetchall()
        except sqlite3.DatabaseError as exc:
            log.warning("%s: its corrections are unreadable (%s): the rebuilt store starts without them", path, exc)
            return []


class SQLiteStore(SQLStore):
    """``SQLiteStore(path, cameras, labels)`` writes (rebuilt from nothing on first use);
    ``SQLiteStore.read(path)`` opens an existing store to search it."""

    REBUILD = f"delete it (or {REPLAY})"
    DB_ERROR = sqlite3.Error

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
        store._db, version = _open_read(path)
        store.readonly = True
        store._check_version(version)
        return store

    def _read(self, statement: str, values: tuple = (), *, one: bool = False) -> Any:
        """A corrupt page met mid-query (a search, a journey) is one line too, not only at open."""
        try:
            return super()._read(statement, values, one=one)
        except sqlite3.ProgrammingError:
            raise  # a closed connection, a wrong binding: a bug, not the file
        except sqlite3.DatabaseError as exc:
            raise _unreadable(self.path, exc) from None

    def _connect_write(self) -> sqlite3.Connection:
        """A second connection beside a reader's or the matcher's (WAL: it waits for the matcher's
        tick to commit, up to 30 s)."""
        return sqlite3.connect(self.path, timeout=30.0)

    def _fresh(self) -> tuple[sqlite3.Connection, list[tuple]]:
        corrections = []
        if self.path.exists():
            _check_replaceable(self.path)
            corrections = _saved_corrections(self.path)
        db = None
        try:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # rebuilt from the journal on restart anyway
        except (OSError, sqlite3.OperationalError) as exc:
            if db is not None:
                db.close()
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _read_only(self.path.parent) or str(exc)
            raise _unwritable(self.path, why.lower()) from None
        return db, corrections
