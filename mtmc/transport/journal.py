"""The matcher's append-only journal: every message it acknowledges is here first.

A record is framed as a 4-byte little-endian length, a 4-byte little-endian CRC-32 of the length
bytes and the payload, then the payload. The CRC covers the length so that a zero-filled tail
(what a power cut can leave) is not read as empty records. ``append`` writes a whole batch and
fsyncs once: batching is how the matcher keeps up, and acks go out only after the fsync.

A crash can tear only the batch being written, so an unreadable end of the file with no intact
record after it is cut away on ``replay``; a bad record followed by intact ones is real corruption
and is refused.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from mtmc.errors import MtmcError, write_failed

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_MAX_TORN_TAIL = 16 << 20  # more unreadable bytes than this is not one torn batch: refuse, do not cut


def _frame(record: bytes) -> bytes:
    length = len(record).to_bytes(4, "little")
    return length + zlib.crc32(record, zlib.crc32(length)).to_bytes(4, "little") + record


def _intact_at(data: memoryview, offset: int) -> bool:
    """Whether an intact record is framed at ``offset`` in ``data``."""
    if offset + _HEADER.size > len(data):
        return False
    length, crc = _HEADER.unpack_from(data, offset)
    start = offset + _HEADER.size
    end = start + length
    return end <= len(data) and zlib.crc32(data[start:end], zlib.crc32(data[offset : offset + 4])) == crc


class Journal:
    """One append-only file, held by one process at a time (it is locked)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        created = not self.path.exists()
        self._file = open(self.path, "ab", buffering=0)  # each write goes straight to the kernel
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise MtmcError(
                f"journal {self.path} is in use by another process: stop the other matcher"
            ) from None
        if created:  # the new file's name must survive a power cut too
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        self.size_bytes: int = self._file.tell()
        self.records: int = 0
        self._replayed = self.size_bytes == 0

    def replay(self) -> Iterator[bytes]:
        """Every intact record in order; a torn tail is cut away, corruption before the end raises.

        Call once, before the first ``append``, and read it to the end.
        """
        offset = 0
        with open(self.path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            while offset + _HEADER.size <= size:
                header = file.read(_HEADER.size)
                length, crc = _HEADER.unpack(header)
                if offset + _HEADER.size + length > size:  # a torn length must not make us allocate it
                    break
                payload = file.read(length)
                if zlib.crc32(payload, zlib.crc32(header[:4])) != crc:
                    break
                offset += _HEADER.size + length
                self.records += 1
                yield payload
            file.seek(offset)
            tail = file.read(_MAX_TORN_TAIL + 1)
        if tail:
            self._cut(offset, memoryview(tail))
        self.size_bytes = offset
        self._replayed = True

    def _cut(self, offset: int, tail: memoryview) -> None:
        """Drop the unreadable ``tail`` found at ``offset`` if nothing intact follows it."""
        if len(tail) > _MAX_TORN_TAIL or any(_intact_at(tail, i) for i in range(1, len(tail))):
            raise MtmcError(
                f"journal {self.path} is corrupt at byte {offset}, before its end: restore it from a backup, "
                f"or cut it there to keep the {self.records} records before it "
                f"(truncate -s {offset} {self.path})"
            )
        log.warning(
            "journal %s: dropped %d bytes of a torn write at its end (byte %d)", self.path, len(tail), offset
        )
        self._file.truncate(offset)
        os.fsync(self._file.fileno())

    def clear(self) -> None:
        """Start a new run in this file: called only once the matcher holds its lock and its ports."""
        self._file.truncate(0)
        os.fsync(self._file.fileno())
        self.size_bytes, self.records, self._replayed = 0, 0, True

    def append(self, records: list[bytes]) -> None:
        """Write every record, then fsync once; on return the batch is durable.

        A failed write (disk full) is cut off again, so the next batch does not follow half a one.
        """
        if not self._replayed:
            raise RuntimeError(f"replay() {self.path} to its end before appending to it")
        data = b"".join(map(_frame, records))
        try:
            if self._file.write(data) != len(data):
                raise OSError(errno.ENOSPC, f"short write to {self.path}")
            os.fsync(self._file.fileno())
        except OSError as exc:
            try:
                self._file.truncate(self.size_bytes)
            except OSError:
                pass  # the torn batch is cut on the next replay
            raise write_failed(exc, self.path, "the journal") from None
        self.size_bytes += len(data)
        self.records += len(records)

    def close(self) -> None:
        self._file.close()
