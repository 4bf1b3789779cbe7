"""The worker's outbox: numbering, ack bookkeeping, the size limit, and crash atomicity."""

import os
import signal
import subprocess
import sys
import time

import pytest

from mtmc.errors import MtmcError
from mtmc.transport.outbox import Outbox, OutboxFull


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "c001.outbox")
    yield box
    box.close()


def test_numbers_run_on_and_pending_is_ordered_and_bounded(outbox):
    assert outbox.next_number == 1 and outbox.checkpoint() is None and len(outbox) == 0
    assert outbox.commit([b"a", b"bb"]) == [1, 2]
    assert outbox.commit([]) == []
    assert outbox.commit([b"ccc"], checkpoint=b"cp") == [3]
    assert (outbox.next_number, len(outbox), outbox.size_bytes) == (4, 3, 6)
    assert outbox.pending(after=0, limit=2) == [(1, b"a"), (2, b"bb")]
    assert outbox.pending(after=2, limit=10) == [(3, b"ccc")]
    assert outbox.pending(after=3, limit=10) == []


def test_ack_deletes_through_the_number_and_repeats_harmlessly(outbox):
    outbox.commit([b"a", b"bb", b"ccc"])
    assert outbox.ack_through(2) == 2
    assert outbox.ack_through(2) == 0
    assert outbox.ack_through(1) == 0
    assert (outbox.acked_through, len(outbox), outbox.size_bytes) == (2, 1, 3)
    assert outbox.pending(after=0, limit=10) == [(3, b"ccc")]
    with pytest.raises(ValueError, match="numbered only up to 3"):
        outbox.ack_through(4)


def test_reopen_restores_numbers_ack_and_checkpoint(tmp_path):
    path = tmp_path / "c001.outbox"
    box = Outbox(path)
    box.commit([b"a", b"b", b"c"], checkpoint=b"after c")
    box.ack_through(3)
    box.close()
    box = Outbox(path)
    assert (box.next_number, box.acked_through, len(box), box.size_bytes) == (4, 3, 0, 0)
    assert box.checkpoint() == b"after c"
    assert box.commit([b"d"]) == [4]
    assert box.checkpoint() == b"after c"  # None keeps the checkpoint
    box.close()


def test_full_outbox_refuses_until_acked(tmp_path):
    box = Outbox(tmp_path / "c001.outbox", max_bytes=10)
    box.commit([b"12345", b"6789"])
    with pytest.raises(OutboxFull, match="unreachable too long"):
        box.commit([b"ab"], checkpoint=b"lost")
    assert box.checkpoint() is None and box.next_number == 3
    box.ack_through(1)
    assert box.commit([b"ab"]) == [3]
    box.close()


def test_corrupt_file_is_named_with_the_fix(tmp_path):
    path = tmp_path / "c001.outbox"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(MtmcError, match=r"c001\.outbox.*delete it to start this camera over"):
        Outbox(path)


def test_a_second_opener_is_refused_while_the_outbox_is_open(outbox):
    with pytest.raises(MtmcError, match="in use by another process"):
        Outbox(outbox.path)


CRASHING_WORKER = """
import sys
from pathlib import Path
from mtmc.transport.outbox import Outbox

box = Outbox(Path(sys.argv[1]))
print("ready", flush=True)
while True:
    first = box.next_number
    box.commit([b"m%d" % n for n in range(first, first + 3)], checkpoint=b"%d" % (first + 2))
"""


def test_kill_9_keeps_checkpoint_and_messages_in_step(tmp_path):
    """The checkpoint names the last message the worker produced; after SIGKILL they still agree."""
    path = tmp_path / "c001.outbox"
    for _ in range(3):  # each round resumes the outbox the previous kill left behind
        child = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER, str(path)], stdout=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        box = Outbox(path)
        last = int(box.checkpoint())
        assert box.next_number == last + 1 > 1
        messages = box.pending(after=0, limit=box.next_number)
        assert messages == [(n, b"m%d" % n) for n in range(1, last + 1)]
        box.close()
