"""The matcher's journal: framing round trip, torn tails, corruption, one fsync per batch, kill -9."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from mtmc.errors import MtmcError
from mtmc.transport.journal import Journal

RECORDS = [b"", b"a", b"x" * 700, bytes(range(256)) * 5]


def reopened(path):
    journal = Journal(path)
    return journal, list(journal.replay())


def test_round_trip_across_reopen(tmp_path):
    path = tmp_path / "matcher.journal"
    journal, replayed = reopened(path)
    assert replayed == []
    journal.append(RECORDS[:2])
    journal.append(RECORDS[2:])
    journal.close()
    journal, replayed = reopened(path)
    assert replayed == RECORDS
    assert journal.records == 4
    assert journal.size_bytes == path.stat().st_size == 8 * 4 + sum(map(len, RECORDS))
    journal.close()


@pytest.mark.parametrize("tear", ["truncated", "garbage", "zeros"])
def test_torn_tail_is_cut_with_one_warning_and_appends_go_on(tmp_path, caplog, tear):
    path = tmp_path / "matcher.journal"
    journal = Journal(path)
    journal.append(RECORDS)
    journal.close()
    intact = path.stat().st_size - len(RECORDS[-1]) - 8
    data = path.read_bytes()[: intact + 100]  # the last record torn mid-payload
    tail = {"truncated": b"", "garbage": os.urandom(3000), "zeros": bytes(4096)}[tear]
    path.write_bytes(data + tail)
    with caplog.at_level(logging.WARNING):
        journal, replayed = reopened(path)
    assert replayed == RECORDS[:-1]
    assert [r.getMessage() for r in caplog.records] == [
        f"journal {path}: dropped {100 + len(tail)} bytes of a torn write at its end (byte {intact})"
    ]
    journal.append([b"after"])
    journal.close()
    assert reopened(path)[1] == [*RECORDS[:-1], b"after"]


def test_corruption_before_the_end_is_refused_with_the_offset(tmp_path):
    path = tmp_path / "matcher.journal"
    journal = Journal(path)
    journal.append(RECORDS)
    journal.close()
    data = bytearray(path.read_bytes())
    at = 8 + 0 + 8 + 1  # the third record's header
    data[at + 8 + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    journal = Journal(path)
    with pytest.raises(MtmcError, match=rf"corrupt at byte {at}, .*truncate -s {at} "):
        list(journal.replay())
    journal.close()


def test_one_fsync_per_batch(tmp_path, monkeypatch):
    journal, _ = reopened(tmp_path / "matcher.journal")
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    journal.append([b"r"] * 100)
    assert len(calls) == 1
    journal.append([b"r"])
    assert len(calls) == 2
    journal.close()


def test_a_failed_append_leaves_no_half_batch(tmp_path, monkeypatch):
    path = tmp_path / "matcher.journal"
    journal, _ = reopened(path)
    journal.append([b"kept"])

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        with pytest.raises(MtmcError) as error:  # one line naming the file (the OSError named none)
            journal.append([b"lost"] * 10)
    assert str(error.value).startswith(f"cannot write the journal {path}: No space left on device; free space")
    journal.append([b"next"])
    journal.close()
    assert reopened(path)[1] == [b"kept", b"next"]


def test_append_before_replay_is_a_bug_and_a_second_matcher_is_refused(tmp_path):
    path = tmp_path / "matcher.journal"
    journal, _ = reopened(path)
    journal.append([b"r"])
    with pytest.raises(MtmcError, match="in use by another process"):
        Journal(path)
    journal.close()
    journal = Journal(path)
    with pytest.raises(RuntimeError, match="replay"):
        journal.append([b"r"])
    journal.close()


CRASHING_MATCHER = """
import sys
from pathlib import Path
from mtmc.transport.journal import Journal

journal = Journal(Path(sys.argv[1]))
start = sum(1 for _ in journal.replay())
print("ready", flush=True)
n = start
while True:
    journal.append([b"%08d" % i + b"." * 700 for i in range(n, n + 50)])
    n += 50
"""


def test_kill_9_during_appends_leaves_a_replayable_prefix(tmp_path):
    path = tmp_path / "matcher.journal"
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", CRASHING_MATCHER, str(path)], stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        journal, replayed = reopened(path)
        assert replayed and replayed == [b"%08d" % i + b"." * 700 for i in range(len(replayed))]
        journal.close()
