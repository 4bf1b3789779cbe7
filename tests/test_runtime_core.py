"""The runtime's parts without detectors: the emitter, the matcher's state and replay, the matcher
service with hand-driven sockets (acks, duplicates, gaps, bad messages), and the worker's sender."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import pytest
import zmq

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.runtime.emitter import TrackletEmitter
from mtmc.runtime.matcher import MatcherService, MatchState
from mtmc.runtime.results import ResultWriter
from mtmc.runtime.worker import OutboxSender
from mtmc.transport.codec import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Ack,
    Batch,
    Heartbeat,
    TrackletUpdate,
    decode,
    encode,
)
from mtmc.transport.outbox import Outbox

from helpers import synthetic_embedder


def _rows(ids: list[int], x: float = 10.0, det: int = 0) -> np.ndarray:
    return np.array([[x, 20, x + 30, 60, i, 0.9, 2, det + k] for k, i in enumerate(ids)], np.float64).reshape(-1, 8)


def test_emitter_sends_new_rows_running_mean_and_ends() -> None:
    emitter = TrackletEmitter(camera=3)
    e1 = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    emitter.add(1, 0.0, _rows([5, 6]), e1, alive={5, 6})
    emitter.add(2, 0.1, _rows([5]), np.array([[0.0, 1.0]], np.float32), alive={5, 6})
    [first] = emitter.flush(first_number=1)
    assert isinstance(first, Batch) and first.number == 1 and not first.done
    assert [(u.track, u.seq, u.first_row, len(u.frames)) for u in first.updates] == [(5, 0, 0, 2), (6, 0, 0, 1)]
    np.testing.assert_allclose(first.updates[0].feature, [0.5, 0.5], atol=1e-3)  # mean of its two embeddings
    assert first.updates[0].boxes[0].tolist() == [10, 20, 30, 40]  # xyxy -> xywh
    assert first.closed_s == 0.0  # track 6 (last seen at 0.0) may still grow
    emitter.add(3, 0.2, _rows([5]), None, alive={5})  # 6 was deleted by the tracker
    [second] = emitter.flush(first_number=2)
    by_track = {u.track: u for u in second.updates}
    assert by_track[6].ended and len(by_track[6].frames) == 0 and by_track[6].seq == 1
    assert by_track[5].first_row == 2 and not by_track[5].ended
    assert second.number == 2 and second.closed_s == pytest.approx(0.2)
    emitter.end_all()
    [last] = emitter.flush(first_number=3, done=True)
    assert [u.ended for u in last.updates] == [True] and last.done


def test_emitter_splits_a_commit_too_big_for_one_message() -> None:
    """Only the last piece moves the promise on: the matcher must not close a time before it has
    every update of that commit."""
    emitter = TrackletEmitter(camera=3)
    rows = _rows(list(range(40)))
    embeddings = np.ones((40, 1280), np.float32)
    emitter.add(1, 5.0, rows, embeddings, alive=set(range(40)))
    emitter.add(2, 5.1, rows, embeddings, alive=set())  # every track ends here
    pieces = emitter.flush(first_number=10, max_bytes=40_000)
    assert len(pieces) > 1 and [p.number for p in pieces] == list(range(10, 10 + len(pieces)))
    assert sum(len(p.updates) for p in pieces) == 40
    assert all(len(encode(p)) <= 40_000 for p in pieces)
    assert [p.closed_s for p in pieces] == [0.0] * (len(pieces) - 1) + [pytest.approx(5.1)]


def _config(tmp_path, mode: str = "online", cameras: int = 2, **matcher) -> MtmcConfig:
    return MtmcConfig(
        cameras=[CameraConfig(id=f"c00{k}", source="x.mp4") for k in range(1, cameras + 1)],
        matcher={"mode": mode, "distances": [{"name": "cosine"}], "dashboard": None, "publish": None,
                 "network": {"learn": False}, **matcher},  # a few vehicles: too few to learn the camera network from
        embedder=synthetic_embedder(5),
        output={"dir": tmp_path},
    )


def _stream(camera: int, feature: list[float], start: float, tracks: int = 3) -> list[Batch]:
    """A camera's numbered batches: ``tracks`` vehicles one after another (two updates each), then done."""
    batches: list[Batch] = []
    for k in range(tracks):
        t0 = start + 10 * k
        f = np.roll(np.array(feature, np.float32), k)  # vehicle k looks the same on every camera
        frames = np.arange(1, 11) + 100 * k
        for seq, part in enumerate((slice(0, 5), slice(5, 10))):
            update = TrackletUpdate(camera, k + 1, seq, part.start, frames[part], np.tile([1, 2, 30, 40], (5, 1)),
                                    t0 + np.arange(10)[part] * 0.1, f, 5 * (seq + 1), ended=seq == 1)  # fmt: skip
            closed = t0 + 0.4 if seq == 0 else t0 + 1.0
            batches.append(Batch(camera, len(batches) + 1, closed, 10 * k + 5 * (seq + 1), updates=(update,)))
    batches.append(Batch(camera, len(batches) + 1, start + 10 * tracks, 10 * tracks, done=True))
    return batches


def _state(tmp_path, config: MtmcConfig) -> MatchState:
    return MatchState(config, ResultWriter(tmp_path, {c.number: c.id for c in config.cameras}, {}))


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_state_gives_one_vehicle_one_id_across_cameras_in_any_interleaving(tmp_path, mode) -> None:
    config = _config(tmp_path, mode)
    streams = [_stream(1, [1, 0, 0, 0, 0], 0.0), _stream(2, [1, 0, 0, 0, 0], 3.0)]
    results = []
    for order in (0, 1, 2):
        rng = np.random.default_rng(order)
        state = _state(tmp_path / str(order), config)
        queues = [list(s) for s in streams]
        while any(queues):  # per camera in order, cameras interleaved at random
            q = queues[int(rng.choice([k for k, q in enumerate(queues) if q]))]
            state.apply(q.pop(0))
        assert state.finished
        if mode == "offline":
            state.finish_offline()
        state.writer.close()
        lines = sorted((tmp_path / str(order) / "submission.txt").read_text().splitlines())
        results.append(lines)
    assert results[0] == results[1] == results[2]
    ids = {}
    for line in results[0]:
        camera, gid, frame = map(int, line.split()[:3])
        ids.setdefault((camera, frame // 100), set()).add(gid)
    assert all(len(v) == 1 for v in ids.values())
    for vehicle in range(3):  # the same vehicle on both cameras shares its id; vehicles differ
        assert ids[(1, vehicle)] == ids[(2, vehicle)]
    assert len({next(iter(ids[(1, v)])) for v in range(3)}) == 3


def test_state_refuses_out_of_order_application(tmp_path) -> None:
    state = _state(tmp_path, _config(tmp_path))
    messages = _stream(1, [1, 0, 0], 0.0)
    assert state.verdict(messages[1], expected=1) == "gap"
    assert state.verdict(messages[0], expected=2) == "duplicate"
    with pytest.raises(ValueError, match="applied after"):
        state.apply(messages[1])


def _serve(service: MatcherService) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(service.serve()), daemon=True)
    thread.start()
    return thread, result


def _acks(socket: zmq.Socket, timeout_s: float = 5.0) -> list[Ack]:
    """Acks until none has come for 0.5 s (waiting up to ``timeout_s`` for the first)."""
    got = []
    while socket.poll(500 if got else int(timeout_s * 1000)):
        got.append(decode(socket.recv()))
    return got


def test_service_journals_acks_drops_bad_input_and_replays(tmp_path, free_port, caplog) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port}"
    config = _config(tmp_path, "online", bind=endpoint)
    service = MatcherService(config, tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context.instance()
    peers = {}
    for camera in (1, 2):
        peers[camera] = context.socket(zmq.DEALER)
        peers[camera].connect(endpoint)
    one, two = _stream(1, [1, 0, 0, 0, 0], 0.0), _stream(2, [1, 0, 0, 0, 0], 3.0)
    oversized = context.socket(zmq.DEALER)  # ZeroMQ cuts its connection unread (maxmsgsize)
    oversized.connect(endpoint)
    oversized.send(b"\x00" * (MAX_MESSAGE_BYTES + 1))
    bad = [
        b"\x00garbage",
        b"\x91" * 10,
        encode(Heartbeat(1, 0.0, 0, 0)).replace(bytes([0xA1, 0x76, WIRE_VERSION]), bytes([0xA1, 0x76, 9])),
    ]
    for payload in bad:
        peers[1].send(payload)
    peers[1].send(encode(one[1]))  # a gap: dropped, not acked past 0
    for message in one[:4]:
        peers[1].send(encode(message))
    peers[1].send(encode(one[0]))  # a duplicate: acked again
    acks = _acks(peers[1])
    assert acks and acks[-1] == Ack(1, 4) and all(a.camera == 1 for a in acks)
    time.sleep(0.2)
    for message in one[4:]:
        peers[1].send(encode(message))
    for message in two:
        peers[2].send(encode(message))
    thread.join(10)
    assert not thread.is_alive()
    assert result["dropped"] == {"garbage": 2, "wrong_version": 1, "out_of_order": 1}
    assert result["disconnections"] >= 1
    assert "a peer cut for a message over the 1,048,576-byte limit" in caplog.text  # said before any camera was done
    oversized.close(linger=0)
    first = sorted((tmp_path / "out" / "submission.txt").read_text().splitlines())
    assert len(first) == 2 * 3 * 10
    # A restarted matcher replays its journal and writes the same submission without any worker.
    again = MatcherService(config, tmp_path / "out")
    assert again.replay() == len(one) + len(two)
    assert again.state.finished
    again.state.writer.close()
    assert sorted((tmp_path / "out" / "submission.txt").read_text().splitlines()) == first


def test_sender_goes_back_after_silence_and_memory_stays_bounded(tmp_path, free_port) -> None:
    """A slow matcher: 40 MB pass through the outbox while the sender's own memory stays small."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.bind(endpoint)
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.SNDHWM, 100)
    dealer.connect(endpoint)
    outbox = Outbox(tmp_path / "c001.outbox")
    clock = [0.0]
    sender = OutboxSender(dealer, outbox, camera=1, window=64, resend_s=1.0, clock=lambda: clock[0])
    payload = b"x" * 20_000
    tracemalloc.start()
    received = 0
    for round_ in range(100):
        outbox.commit([payload] * 20)  # 400 KB a round, produced faster than acknowledged
        sender.pump()
        while router.poll(0):
            peer, _ = router.recv_multipart()
            received += 1
        if round_ % 10 == 9:  # the matcher acks rarely and only part of what it got
            router.send_multipart([peer, encode(Ack(1, outbox.acked_through + 32))])
            time.sleep(0.05)
        clock[0] += 0.05
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert outbox.next_number - 1 == 2000 and outbox.size_bytes > 30e6  # the backlog is on disk
    assert peak < 8e6  # ... not in the worker's memory
    # silence: nothing acked for longer than resend_s -> the sender goes back to the oldest
    sender.pump()
    assert sender.sent_through > outbox.acked_through
    before = sender.resends
    clock[0] += 2.0
    sender.pump()
    assert sender.resends == before + 1 and sender.sent_through <= outbox.acked_through + 64
    sender.pump()
    clock[0] += 1.5  # the next resend waits twice as long when the first brought no ack
    sender.pump()
    assert sender.resends == before + 1
    clock[0] += 1.0
    sender.pump()
    assert sender.resends == before + 2
    outbox.close()
    dealer.close(0)
    router.close(0)
