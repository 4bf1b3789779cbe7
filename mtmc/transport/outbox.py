"""A worker's durable outbox: what it has produced but the matcher has not yet journaled.

Messages are numbered per camera 1, 2, 3, ...; the matcher acknowledges cumulatively ("every
number <= N is journaled") and the worker resends everything after the last ack (go-back-N).
The worker's own resume point (its checkpoint) is committed in the same SQLite transaction as the
messages it produced, so after a crash the two always agree: nothing is produced twice under two
numbers, and nothing is lost.

Durability: WAL with ``synchronous=FULL``, so every commit is fsynced before ``commit`` returns.
NORMAL would survive kill -9 alike (the WAL is in the page cache), but a power cut could then
forget the last commits after they were sent, and the worker would renumber messages the matcher
already holds or refuse its acks. One fsync per commit is cheap at a worker's commit rate.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from mtmc.errors import MtmcError

_APPLICATION_ID = 0x6D746F62  # "mtob": tells an outbox from any other SQLite file
_SCHEMA = f"""
PRAGMA application_id = {_APPLICATION_ID};
CREATE TABLE IF NOT EXISTS messages (number INTEGER PRIMARY KEY, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state (
    only INTEGER PRIMARY KEY CHECK (only = 0),
    acked_through INTEGER NOT NULL,
    checkpoint BLOB
);
INSERT OR IGNORE INTO state VALUES (0, 0, NULL);
"""


class OutboxFull(MtmcError):
    """The unacknowledged messages reached the outbox's size limit."""


class Outbox:
    """One camera's outbox in one SQLite file; one process at a time (the file is locked).

    Safe to share between the thread that commits and the thread that sends and acks.
    """

    def __init__(self, path: Path, max_bytes: int = 2 << 30) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=0.1, isolation_level=None, check_same_thread=False)
        try:
            self._open()
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc):
                raise MtmcError(
                    f"outbox {self.path} is in use by another process: stop the other worker of this camera"
                ) from exc
            if "unable to open" in str(exc):
                raise MtmcError(f"cannot open outbox {self.path} ({exc}): make its folder writable") from exc
            raise self._corrupt(exc) from exc
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._corrupt(exc) from exc

    def _open(self) -> None:
        db = self._db
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if has_tables and application_id != _APPLICATION_ID:
            raise sqlite3.DatabaseError("not an mtmc outbox")
        db.execute("PRAGMA locking_mode = EXCLUSIVE")  # kept from the first write until close
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.executescript(_SCHEMA)
        self.acked_through: int = db.execute("SELECT acked_through FROM state").fetchone()[0]
        count, size, last = db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0), max(number) FROM messages"
        ).fetchone()
        self._count: int = count
        self.size_bytes: int = size
        self.next_number: int = max(last or 0, self.acked_through) + 1

    def _corrupt(self, exc: Exception) -> MtmcError:
        return MtmcError(
            f"outbox {self.path} is not a readable outbox ({exc}): delete it to start this camera over"
        )

    def commit(self, payloads: list[bytes], checkpoint: bytes | None = None) -> list[int]:
        """Append ``payloads``, numbered consecutively, and replace the checkpoint (None: keep it).

        One transaction: after a crash both are there or neither. Returns the numbers given.
        Raises OutboxFull when the waiting payloads would exceed ``max_bytes``.
        """
        added = sum(map(len, payloads))
        with self._lock:
            if payloads and self.size_bytes + added > self.max_bytes:
                raise OutboxFull(
                    f"outbox {self.path} holds {self.size_bytes} bytes the matcher has not acknowledged, "
                    f"its limit is {self.max_bytes}: the matcher has been unreachable too long; check that "
                    f"it runs and that --matcher reaches it, then restart this worker (it resumes here)"
                )
            numbers = list(range(self.next_number, self.next_number + len(payloads)))
            with self._transaction():
                self._db.executemany("INSERT INTO messages VALUES (?, ?)", zip(numbers, payloads))
                if checkpoint is not None:
                    self._db.execute("UPDATE state SET checkpoint = ?", (checkpoint,))
            self.next_number += len(payloads)
            self._count += len(payloads)
            self.size_bytes += added
            return numbers

    def checkpoint(self) -> bytes | None:
        """The last committed checkpoint, None before the first."""
        with self._lock:
            return self._db.execute("SELECT checkpoint FROM state").fetchone()[0]

    def pending(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """At most ``limit`` waiting messages numbered above ``after``, in order (bounded memory)."""
        with self._lock:
            return self._db.execute(
                "SELECT number, payload FROM messages WHERE number > ? ORDER BY number LIMIT ?",
                (after, limit),
            ).fetchall()

    def ack_through(self, number: int) -> int:
        """Delete every message numbered <= ``number``; returns how many went. Repeating is harmless.

        An ack above the last number given means the matcher mixes this outbox up with another
        (a deleted outbox, or two workers for one camera): ValueError.
        """
        with self._lock:
            if number >= self.next_number:
                raise ValueError(
                    f"ack through {number}, but {self.path} numbered only up to {self.next_number - 1}"
                )
            if number <= self.acked_through:
                return 0
            with self._transaction():
                count, size = self._db.execute(
                    "SELECT count(*), coalesce(sum(length(payload)), 0) FROM messages WHERE number <= ?",
                    (number,),
                ).fetchone()
                self._db.execute("DELETE FROM messages WHERE number <= ?", (number,))
                self._db.execute("UPDATE state SET acked_through = ?", (number,))
            self.acked_through = number
            self._count -= count
            self.size_bytes -= size
            return count

    def _transaction(self) -> sqlite3.Connection:
        """The connection as a context manager: BEGIN ... COMMIT, or ROLLBACK on an exception."""
        self._db.execute("BEGIN")
        return self._db

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
