"""The sightings store's SQL, shared by every backend: one schema, one set of statements.

``SQLStore`` holds a DB-API connection and does all reading and writing; a backend
(:class:`~mtmc.store.sqlite.SQLiteStore`, :class:`~mtmc.store.postgres.PostgresStore`) only says how
to connect, how to start afresh, its placeholder (``?`` or ``%s``) and its binary type (``BLOB`` or
``BYTEA``). Statements are written with ``?`` and the placeholder put in when they run.

The matcher opens its store ``fresh``: its tables are rebuilt from nothing while the journal
replays, so after a kill -9 at any point the restarted matcher ends with exactly what an
uninterrupted run writes. ``keep_days`` drops sightings that ended that long before the newest one
seen (data time, so a replay drops the same ones). The meta table also keeps the run's embedder
(``embedder``: its part as JSON, ``null`` for a motion-only run), so a search by picture embeds the
query as the run's tracks were without being told the run's config, and the attributes any
sighting holds (``attributes``: a JSON list, so ``has_attributes`` reads one row).

People's corrections (split, merge, flag: :mod:`mtmc.store.corrections`) live in a third table the
matcher's rebuild carries over, and every read of identities replays them over the matcher's
grouping (:mod:`mtmc.store.overlay`); ``rows`` and ``matcher_id`` stay the matcher's own. Schema
version 2 added that table: a version-1 store is read as it is and migrated by its first correction.
"""

from __future__ import annotations

import contextlib
import json
import math
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from mtmc.errors import MtmcError
from mtmc.store.base import SCHEMA_VERSION, Sighting, SightingStore, attribute_scores, key_boxes
from mtmc.store.overlay import Overlay
from mtmc.types import Tracklet

COLUMNS = (
    "global_id", "camera", "camera_name", "track", "first_s", "last_s", "first_frame", "last_frame",
    "boxes", "feature", "feature_count", "colour", "vehicle_type", "attributes", "thumbnail",
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
        feature {blob},
        feature_count INTEGER NOT NULL,
        colour VARCHAR(64),
        vehicle_type VARCHAR(64),
        attributes TEXT NOT NULL,
        thumbnail {blob},
        PRIMARY KEY (camera, track)
    )""",
    "CREATE INDEX sightings_global ON sightings (global_id, first_s)",
    "CREATE INDEX sightings_camera_time ON sightings (camera_name, first_s)",
    "CREATE INDEX sightings_first ON sightings (first_s)",
    "CREATE INDEX sightings_last ON sightings (last_s)",
)
CORRECTIONS_TABLE = """CREATE TABLE corrections (
    id INTEGER PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    args TEXT NOT NULL,
    anchors TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL
)"""
CORRECTION_COLUMNS = "id, kind, args, anchors, time"
READABLE_VERSIONS = (1, SCHEMA_VERSION)  # version 1: no corrections table yet (added by the first correction)
TABLES = ("sightings", "meta")
ATTRIBUTE_COLUMNS = {"colour": "colour", "type": "vehicle_type"}
UNRECORDED = object()  # a store written before the embedder was recorded (or by a caller that gave none)
AUTOCOMMIT_WRITES = 5000  # a long replay commits on the way, so its transaction stays bounded
REPLAY = "run the matcher again: it rebuilds the store from OUT/matcher.journal"


def schema_version_of(row: tuple | None, where: str) -> int:
    """The meta table's ``schema_version`` row -> its number; none, or not a number: ``where`` is
    not a sightings database (one line)."""
    if row is None:
        raise MtmcError(f"{where}: not a sightings database (no schema_version in its meta table)")
    try:
        return int(row[0])
    except ValueError:
        raise MtmcError(f"{where}: not a sightings database (schema_version {row[0]!r})") from None


class SQLStore(SightingStore):
    """A store over one DB-API connection (``_connect`` on first use, ``_fresh`` to rebuild the
    tables); ``where`` names it in messages (a path, or a URL without its password)."""

    PARAM = "?"
    BLOB = "BLOB"
    REBUILD = REPLAY  # how to rebuild a store of another schema version
    DB_ERROR: type[Exception] = Exception  # what the backend's driver raises

    def __init__(
        self, where: str, cameras: Mapping[int, str] | None = None,
        labels: Mapping[str, tuple[str, ...]] | None = None, keep_days: float | None = None,
        embedder: Mapping[str, Any] | None | object = UNRECORDED,
    ) -> None:  # fmt: skip
        """``embedder``: the run's embedder part (``{"name": ..., **options}``; None: motion only),
        written to the meta table when the store is started."""
        self.where = where
        self.cameras = dict(cameras or {})
        self.labels = dict(labels or {})
        self.keep_s = None if keep_days is None else keep_days * 86400.0
        self.newest = -math.inf
        self._db: Any = None
        self._writes = 0
        self.readonly = False
        self.embedder = embedder
        self.version = SCHEMA_VERSION
        self._attributes: set[str] = set()  # the attribute names the meta table says sightings hold

    # ---- what a backend says -------------------------------------------------------------------

    @abstractmethod
    def _fresh(self) -> tuple[Any, list[tuple]]:
        """Check that what is there may be replaced, and return a connection to empty tables'
        place (the schema is created by :meth:`open`) and the corrections stored there (rows of
        :data:`CORRECTION_COLUMNS`), which the rebuilt store keeps."""

    @abstractmethod
    def _connect_write(self) -> Any:
        """A new read-write connection to the same database (corrections through a read-only store)."""

    def _schema(self) -> list[str]:
        return [statement.format(blob=self.BLOB) for statement in (*SCHEMA, CORRECTIONS_TABLE)]

    def _sql(self, statement: str) -> str:
        return statement if self.PARAM == "?" else statement.replace("?", self.PARAM)

    def _execute(self, statement: str, values: tuple = ()) -> Any:
        return self.db.execute(self._sql(statement), values)

    def _read(self, statement: str, values: tuple = (), *, one: bool = False) -> Any:
        """A query's rows (``one``: its first row, or None), fetched here: every read goes through
        this, so a backend turns the errors its database raises mid-query into one line."""
        cursor = self._execute(statement, values)
        return cursor.fetchone() if one else cursor.fetchall()

    # ---- opening -------------------------------------------------------------------------------

    def open(self) -> None:
        """Start the store afresh (what is there must be a sightings store, of any version)."""
        if self._db is not None:
            return
        db, corrections = self._fresh()
        for statement in self._schema():
            db.execute(statement)
        db.execute(self._sql("INSERT INTO meta (name, value) VALUES ('schema_version', ?)"), (str(SCHEMA_VERSION),))
        db.execute(self._sql("INSERT INTO meta (name, value) VALUES ('attributes', '[]')"))
        for row in corrections:
            db.execute(self._sql(f"INSERT INTO corrections ({CORRECTION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"), tuple(row))
        if self.embedder is not UNRECORDED:
            record = json.dumps(self.embedder, sort_keys=True, default=str)
            db.execute(self._sql("INSERT INTO meta (name, value) VALUES ('embedder', ?)"), (record,))
        db.commit()
        self._db = db

    def _check_version(self, version: int) -> None:
        """A reader's check: a store of another schema version is one clear error."""
        self.version = version
        if version not in READABLE_VERSIONS:
            self.close()
            raise MtmcError(
                f"{self.where}: a sightings database of schema version {version}; this mtmc reads version "
                f"{SCHEMA_VERSION}: {self.REBUILD}"
            )

    @property
    def db(self) -> Any:
        if self._db is None:
            self.open()
        return self._db

    def _write(self, statement: str, values: tuple) -> Any:
        if self.readonly:
            raise MtmcError(f"{self.where}: opened read-only")
        cursor = self._execute(statement, values)
        self._writes += 1
        if self._writes >= AUTOCOMMIT_WRITES:
            self.commit()
        return cursor

    @contextlib.contextmanager
    def editing(self) -> Iterator[Callable[..., Any]]:
        """One committed transaction of corrections: ``execute(statement, values)``, through a
        read-write connection of its own when this store was opened read only (a reader, the
        dashboard), so people correct a run while its matcher writes. A version-1 store is migrated
        first (its corrections table created, its version set to 2)."""
        own = self.readonly
        try:
            db = self._connect_write() if own else self.db
        except self.DB_ERROR as exc:
            raise MtmcError(f"{self.where}: cannot write the correction ({str(exc).strip().splitlines()[0]})") from None

        def execute(statement: str, values: tuple = ()) -> Any:
            return db.execute(self._sql(statement), values)

        try:
            version = int(execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0])
            if version < 2:
                execute(CORRECTIONS_TABLE)
                execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION),))
            yield execute
            db.commit()
            self.version = SCHEMA_VERSION
        except self.DB_ERROR as exc:
            db.rollback()
            raise MtmcError(f"{self.where}: cannot write the correction ({str(exc).strip().splitlines()[0]})") from None
        except BaseException:
            db.rollback()
            raise
        finally:
            if own:
                db.close()

    # ---- writing -------------------------------------------------------------------------------

    def record(self, tracklet: Tracklet, global_id: int | None = None) -> None:
        if len(tracklet.frames) == 0:
            return
        camera, track = tracklet.key
        if self._global_id_row(tracklet.key) is not None:
            return
        feature = None if tracklet.feature is None else np.asarray(tracklet.feature, "<f2").tobytes()
        attributes = attribute_scores(tracklet, self.labels)
        values = (
            global_id, camera, self.cameras.get(camera, f"c{camera:03d}"), track,
            tracklet.start, tracklet.end, int(tracklet.frames[0]), int(tracklet.frames[-1]),
            json.dumps(key_boxes(tracklet)), feature, int(tracklet.feature_count),
            attributes.get("colour", {}).get("label"), attributes.get("type", {}).get("label"),
            json.dumps(attributes, sort_keys=True), tracklet.thumbnail,
        )  # fmt: skip
        self._write(f"INSERT INTO sightings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", values)
        self.newest = max(self.newest, tracklet.end)
        if not set(attributes) <= self._attributes:
            self._attributes |= set(attributes)
            self._write("UPDATE meta SET value = ? WHERE name = 'attributes'", (json.dumps(sorted(self._attributes)),))

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
        return max(0, self._write("DELETE FROM sightings WHERE last_s < ?", (self.newest - self.keep_s,)).rowcount)

    def commit(self) -> None:
        if self._db is not None and self._writes:
            self._db.commit()
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

    def _global_id_row(self, key: tuple[int, int]) -> tuple | None:
        return self._read("SELECT global_id FROM sightings WHERE camera = ? AND track = ?", tuple(map(int, key)), one=True)

    def matcher_id(self, key: tuple[int, int]) -> int | None:
        """The id the matcher gave ``key``, corrections aside: what its own revisions relabel."""
        row = self._global_id_row(key)
        return None if row is None or row[0] is None else int(row[0])

    def global_id(self, key: tuple[int, int]) -> int | None:
        """The sighting's id, corrections applied."""
        overlay = self.overlay()
        key = (int(key[0]), int(key[1]))
        return overlay.moved[key] if key in overlay.moved else self.matcher_id(key)

    def overlay(self) -> Overlay:
        """The corrections replayed over the matcher's grouping now (no corrections: one query)."""
        return Overlay(self)

    def _correction_rows(self) -> list[tuple]:
        """Every correction as :data:`CORRECTION_COLUMNS`, oldest first (a version-1 store has none)."""
        if self.version < 2:
            return []
        return [tuple(r) for r in self._read(f"SELECT {CORRECTION_COLUMNS} FROM corrections ORDER BY id")]

    def clear_corrections(self) -> None:
        """A run started over: the old run's corrections name tracklets it no longer has."""
        self._write("DELETE FROM corrections", ())

    def has_attributes(self, name: str | None = None) -> bool:
        """Whether any sighting holds a colour or a type (``name``: ``colour`` or ``type``, that one);
        what a colour/type search needs before it can find anything."""
        if name is not None and name not in ATTRIBUTE_COLUMNS:
            raise ValueError(f"no attribute {name!r}: one of {', '.join(ATTRIBUTE_COLUMNS)}")
        names = list(ATTRIBUTE_COLUMNS) if name is None else [name]
        row = self._read("SELECT value FROM meta WHERE name = 'attributes'", one=True)
        if row is not None:
            return any(n in json.loads(row[0]) for n in names)
        # a store written before the meta row: ask the rows (a scan, only for such stores)
        where = " OR ".join(f"{ATTRIBUTE_COLUMNS[n]} IS NOT NULL" for n in names)
        return self._read(f"SELECT 1 FROM sightings WHERE {where} LIMIT 1", one=True) is not None

    def thumbnail(self, key: tuple[int, int]) -> bytes | None:
        """The sighting's JPEG thumbnail (None: none sent, or no such sighting)."""
        row = self._read("SELECT thumbnail FROM sightings WHERE camera = ? AND track = ?", tuple(map(int, key)), one=True)
        return None if row is None or row[0] is None else bytes(row[0])

    def _select(self, where: str, values: tuple, limit: int | None = None) -> list[Sighting]:
        statement = f"SELECT {', '.join(COLUMNS)} FROM sightings WHERE {where} ORDER BY first_s, camera, track"
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        return [self._sighting(row) for row in self._read(statement, values)]

    @staticmethod
    def _sighting(row: tuple) -> Sighting:
        d = dict(zip(COLUMNS, row))
        feature = None if d["feature"] is None else np.frombuffer(bytes(d["feature"]), "<f2").astype(np.float32)
        return Sighting(
            camera=int(d["camera"]), camera_name=d["camera_name"], track=int(d["track"]),
            global_id=None if d["global_id"] is None else int(d["global_id"]),
            first_s=float(d["first_s"]), last_s=float(d["last_s"]),
            first_frame=int(d["first_frame"]), last_frame=int(d["last_frame"]),
            boxes=json.loads(d["boxes"]), feature=feature, feature_count=int(d["feature_count"]),
            attributes=json.loads(d["attributes"]), thumbnail=None if d["thumbnail"] is None else bytes(d["thumbnail"]),
        )  # fmt: skip

    @staticmethod
    def _corrected(sightings: list[Sighting], overlay: Overlay) -> list[Sighting]:
        for s in sightings:
            s.global_id = overlay.moved.get((s.camera, s.track), s.global_id)
        return sightings

    def journey(self, global_id: int) -> list[Sighting]:
        overlay = self.overlay()
        found = self._select("global_id = ?", (int(global_id),))
        if not overlay.moved:
            return found
        keys = [k for k, g in overlay.moved.items() if g == int(global_id)]
        for chunk in range(0, len(keys), 400):  # bounded statements however many moved
            part = keys[chunk : chunk + 400]
            found += self._select(" OR ".join(["(camera = ? AND track = ?)"] * len(part)), tuple(v for k in part for v in k))
        kept = [s for s in self._corrected(found, overlay) if s.global_id == int(global_id)]
        return sorted(kept, key=lambda s: (s.first_s, s.camera, s.track))

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
        return self._corrected(self._select(" AND ".join(where), tuple(values), limit), self.overlay())

    def features(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Only the needed columns, decoded at once (``find`` would parse every row's boxes and
        attributes and read its thumbnail: at 100,000 sightings about 3x slower)."""
        rows = self._read(
            "SELECT global_id, feature_count, feature, camera, track FROM sightings "
            "WHERE global_id IS NOT NULL AND feature IS NOT NULL"
        )
        sizes = {len(r[2]) for r in rows}
        if len(sizes) > 1:
            raise MtmcError(f"{self.where}: features of {len(sizes)} sizes ({sorted(s // 2 for s in sizes)}-d): more than one embedder's")
        dim = sizes.pop() // 2 if sizes else 0
        features = np.frombuffer(b"".join(bytes(r[2]) for r in rows), "<f2").reshape(len(rows), dim).astype(np.float32)
        moved = self.overlay().moved
        ids = [moved.get((int(r[3]), int(r[4])), r[0]) for r in rows]
        return np.array(ids, np.int64), np.array([r[1] for r in rows], np.int64), features

    def spans(self) -> list[tuple[int, str, float, float]]:
        """Only those columns (``find`` would read every feature and thumbnail too)."""
        rows = self._read(
            "SELECT global_id, camera_name, first_s, last_s, camera, track FROM sightings WHERE global_id IS NOT NULL "
            "ORDER BY first_s, camera, track"
        )
        moved = self.overlay().moved
        return [(int(moved.get((int(c), int(t)), g)), str(n), float(a), float(b)) for g, n, a, b, c, t in rows]

    def recorded_embedder(self) -> dict[str, Any] | None | object:
        """The run's embedder part as the matcher recorded it (None: a motion-only run), or
        :data:`UNRECORDED` (a store written before it was recorded)."""
        row = self._read("SELECT value FROM meta WHERE name = 'embedder'", one=True)
        return UNRECORDED if row is None else json.loads(row[0])

    def identities(self) -> int:
        """How many identities, corrections applied."""
        overlay = self.overlay()
        if not overlay.moved:
            return int(self._read("SELECT COUNT(DISTINCT global_id) FROM sightings", one=True)[0])
        ids = {int(r[0]) for r in self._read("SELECT DISTINCT global_id FROM sightings WHERE global_id IS NOT NULL")}
        ids |= set(overlay.moved.values())
        return len(ids - {g for g in overlay.raw_ids() if not overlay.members(g)})

    def camera_names(self) -> list[str]:
        return [r[0] for r in self._read("SELECT DISTINCT camera_name FROM sightings ORDER BY camera_name")]

    def rows(self) -> list[tuple]:
        rows = self._read(f"SELECT {', '.join(COLUMNS)} FROM sightings")
        return sorted((tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows), key=repr)
