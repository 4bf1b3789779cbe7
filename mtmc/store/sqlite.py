"""The sightings store in one embedded SQLite file (WAL: ``mtmc search`` reads while the matcher writes).

The SQL is kept portable (no SQLite-only types or upserts) so that a PostgreSQL store can share it.
The matcher opens its store ``fresh``: the file is rebuilt from nothing while the journal replays,
so after a kill -9 at any point the restarted matcher ends with exactly what an uninterrupted run
writes. ``keep_days`` drops sightings that ended that long before the newest one seen (data time,
so a replay drops the same ones).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.store.base import SCHEMA_VERSION, Sighting, SightingStore, attribute_scores, key_boxes
from mtmc.types import Tracklet

COLUMNS = (
    "global_id", "camera", "camera_name", "track", "first_s", "last_s", "first_frame", "last_frame",
    "boxes", "feature", "feature_count", "colour", "vehicle_type", "attributes",
)  # fmt: skip
SCHEMA = (
    "CREATE TABLE meta (name VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE sightings (
        global_id INTEGER,
        camera INTEGER NOT NULL,
        camera_name VARCHAR(255) NOT NULL,
        track BIGINT NOT NULL,
        first_s DOUBLE PRECISION NOT NULL,
        last_s DOUBLE PRECISION NOT NULL,
        first_frame BIGINT NOT NULL,
        last_frame BIGINT NOT NULL,
        boxes TEXT NOT NULL,
        feature BLOB,
        feature_count INTEGER NOT NULL,
        colour VARCHAR(64),
        vehicle_type VARCHAR(64),
        attributes TEXT NOT NULL,
        thumbnail BLOB,
        PRIMARY KEY (camera, track)
    )""",
    "CREATE INDEX sightings_global ON sightings (global_id, first_s)",
    "CREATE INDEX sightings_camera_time ON sightings (camera_name, first_s)",
    "CREATE INDEX sightings_first ON sightings (first_s)",
    "CREATE INDEX sightings_last ON sightings (last_s)",
)
AUTOCOMMIT_WRITES = 5000  # a long replay commits on the way, so its transaction stays bounded
REBUILD = "delete it (or run the matcher again: it rebuilds the store from OUT/matcher.journal)"


def _schema_version(connection: sqlite3.Connection, path: Path) -> int:
    try:
        row = connection.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:  # not SQLite, or SQLite without our meta table
        raise MtmcError(f"{path}: not a sightings database ({exc})") from None
    if row is None:
        raise MtmcError(f"{path}: not a sightings database (no schema_version in its meta table)")
    try:
        return int(row[0])
    except ValueError:
        raise MtmcError(f"{path}: not a sightings database (schema_version {row[0]!r})") from None


class SQLiteStore(SightingStore):
    """``SQLiteStore(path, cameras, labels)`` writes (rebuilt from nothing on first use);
    ``SQLiteStore.read(path)`` opens an existing store to search it."""

    def __init__(
        self, path: str | Path, cameras: Mapping[int, str] | None = None,
        labels: Mapping[str, tuple[str, ...]] | None = None, keep_days: float | None = None,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.cameras = dict(cameras or {})
        self.labels = dict(labels or {})
        self.keep_s = None if keep_days is None else keep_days * 86400.0
        self.newest = -math.inf
        self._db: sqlite3.Connection | None = None
        self._writes = 0
        self.readonly = False

    @classmethod
    def read(cls, path: str | Path) -> SQLiteStore:
        path = Path(path)
        if not path.is_file():
            raise MtmcError(f"no sightings database at {path} (a matcher with store: enabled writes OUT/sightings.db)")
        store = cls(path)
        try:
            store._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise MtmcError(f"{path}: cannot open the sightings database ({exc})") from None
        store.readonly = True
        store._check_version()
        return store

    def _check_version(self) -> None:
        version = _schema_version(self.db, self.path)
        if version != SCHEMA_VERSION:
            self.close()
            raise MtmcError(
                f"{self.path}: a sightings database of schema version {version}; this mtmc reads version "
                f"{SCHEMA_VERSION}: {REBUILD}"
            )

    # ---- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Start the store afresh (an existing file must be a sightings database, of any version)."""
        if self._db is not None:
            return
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
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # rebuilt from the journal on restart anyway
        db.execute("BEGIN")
        for statement in SCHEMA:
            db.execute(statement)
        db.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
        self._db = db

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        return self._db  # type: ignore[return-value]

    def _write(self, sql: str, values: tuple) -> None:
        if self.readonly:
            raise MtmcError(f"{self.path}: opened read-only")
        db = self.db
        if not db.in_transaction:
            db.execute("BEGIN")
        db.execute(sql, values)
        self._writes += 1
        if self._writes >= AUTOCOMMIT_WRITES:
            self.commit()

    # ---- writing -------------------------------------------------------------------------------

    def record(self, tracklet: Tracklet, global_id: int | None = None) -> None:
        if len(tracklet.frames) == 0:
            return
        camera, track = tracklet.key
        if self.global_id_row(tracklet.key) is not None:
            return
        feature = None if tracklet.feature is None else np.asarray(tracklet.feature, "<f2").tobytes()
        attributes = attribute_scores(tracklet, self.labels)
        values = (
            global_id, camera, self.cameras.get(camera, f"c{camera:03d}"), track,
            tracklet.start, tracklet.end, int(tracklet.frames[0]), int(tracklet.frames[-1]),
            json.dumps(key_boxes(tracklet)), feature, int(tracklet.feature_count),
            attributes.get("colour", {}).get("label"), attributes.get("type", {}).get("label"),
            json.dumps(attributes, sort_keys=True),
        )  # fmt: skip
        self._write(f"INSERT INTO sightings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", values)
        self.newest = max(self.newest, tracklet.end)

    def assign(self, key: tuple[int, int], global_id: int) -> None:
        self._write("UPDATE sightings SET global_id = ? WHERE camera = ? AND track = ?", (global_id, *map(int, key)))

    def relabel(self, ids: Mapping[int, int]) -> None:
        for old, new in sorted(ids.items()):
            if old != new:
                self._write("UPDATE sightings SET global_id = ? WHERE global_id = ?", (int(new), int(old)))

    def prune(self) -> int:
        """Drop the sightings that ended ``keep_days`` before the newest (none without keep_days)."""
        if self.keep_s is None or self.newest == -math.inf:
            return 0
        before = self.db.total_changes
        self._write("DELETE FROM sightings WHERE last_s < ?", (self.newest - self.keep_s,))
        return self.db.total_changes - before

    def commit(self) -> None:
        if self._db is not None and self._db.in_transaction:
            self._db.execute("COMMIT")
        self._writes = 0

    def close(self) -> None:
        if self._db is None:
            return
        if not self.readonly:
            self.prune()
            self.commit()
        self._db.close()
        self._db = None

    # ---- reading -------------------------------------------------------------------------------

    def global_id_row(self, key: tuple[int, int]) -> tuple | None:
        return self.db.execute(
            "SELECT global_id FROM sightings WHERE camera = ? AND track = ?", tuple(map(int, key))
        ).fetchone()

    def global_id(self, key: tuple[int, int]) -> int | None:
        row = self.global_id_row(key)
        return None if row is None or row[0] is None else int(row[0])

    def _select(self, where: str, values: tuple, limit: int | None = None) -> list[Sighting]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM sightings WHERE {where} ORDER BY first_s, camera, track"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._sighting(row) for row in self.db.execute(sql, values)]

    @staticmethod
    def _sighting(row: tuple) -> Sighting:
        d = dict(zip(COLUMNS, row))
        feature = None if d["feature"] is None else np.frombuffer(d["feature"], "<f2").astype(np.float32)
        return Sighting(
            camera=int(d["camera"]), camera_name=d["camera_name"], track=int(d["track"]),
            global_id=None if d["global_id"] is None else int(d["global_id"]),
            first_s=float(d["first_s"]), last_s=float(d["last_s"]),
            first_frame=int(d["first_frame"]), last_frame=int(d["last_frame"]),
            boxes=json.loads(d["boxes"]), feature=feature, feature_count=int(d["feature_count"]),
            attributes=json.loads(d["attributes"]),
        )  # fmt: skip

    def journey(self, global_id: int) -> list[Sighting]:
        return self._select("global_id = ?", (int(global_id),))

    def find(
        self, colour: str | None = None, vehicle_type: str | None = None, camera: str | None = None,
        since: float | None = None, until: float | None = None, limit: int | None = None,
    ) -> list[Sighting]:  # fmt: skip
        where, values = ["global_id IS NOT NULL"], []
        if colour is not None:
            where.append("colour = ?")
            values.append(colour.lower())
        if vehicle_type is not None:
            where.append("vehicle_type = ?")
            values.append(vehicle_type.lower())
        if camera is not None:
            number = int(camera) if str(camera).isdigit() else None
            where.append("(camera_name = ? OR camera = ?)")
            values.extend([str(camera), number if number is not None else -1])
        if since is not None:
            where.append("last_s >= ?")
            values.append(float(since))
        if until is not None:
            where.append("first_s <= ?")
            values.append(float(until))
        return self._select(" AND ".join(where), tuple(values), limit)

    def identities(self) -> int:
        return int(self.db.execute("SELECT COUNT(DISTINCT global_id) FROM sightings").fetchone()[0])

    def camera_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT camera_name FROM sightings ORDER BY camera_name")]

    def rows(self) -> list[tuple]:
        return sorted(self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM sightings"), key=repr)


def open_store(path: str | Path, **options: Any) -> SQLiteStore:
    """The store to write at ``path`` (``cameras``, ``labels``, ``keep_days``); opened on first use."""
    return SQLiteStore(path, **options)
