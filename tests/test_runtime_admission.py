"""A camera speaks only for itself (issue 17): the matcher binds each camera to the connection that
first sent for it, refuses impostors and unknown cameras, checks CURVE keys against the cameras
they may send, and refuses preview bombs; every refusal counted by reason."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import zmq

from mtmc.config import CameraConfig, MtmcConfig
from mtmc.runtime.admission import Admission
from mtmc.runtime.matcher import MatcherService
from mtmc.runtime.refusals import Refusals
from mtmc.transport.codec import Ack, Batch, Heartbeat, Preview, TrackletUpdate, decode, encode

from helpers import synthetic_embedder


def _config(tmp_path, endpoint: str, **matcher) -> MtmcConfig:
    return MtmcConfig(
        cameras=[CameraConfig(id="c001", source="x.mp4"), CameraConfig(id="c002", source="y.mp4")],
        matcher={"mode": "online", "distances": [{"name": "cosine"}], "dashboard": None, "publish": None,
                 "bind": endpoint, "ack_every_s": 0, **matcher},  # fmt: skip
        embedder=synthetic_embedder(5),
        output={"dir": tmp_path},
    )


def _serve(service: MatcherService) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(service.serve()), daemon=True)
    thread.start()
    return thread, result


def _dealer(context: zmq.Context, endpoint: str, identity: bytes | None = None) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    if identity is not None:
        socket.routing_id = identity
    socket.connect(endpoint)
    return socket


def _acks(socket: zmq.Socket, wait_s: float = 1.0) -> list[Ack]:
    got = []
    while socket.poll(int(wait_s * 1000)):
        got.append(decode(socket.recv()))
        wait_s = 0.3
    return got


def test_admission_binds_a_camera_to_its_first_connection_until_it_falls_silent() -> None:
    admission = Admission({1: "c001"}, claim_timeout_s=5.0)
    assert admission.check(1, b"real", None, now=0.0) is None
    assert admission.check(1, b"impostor", None, now=1.0) == "camera_claimed"
    assert admission.check(1, b"real", None, now=4.0) is None  # heard again: the claim is renewed
    assert admission.check(1, b"impostor", None, now=8.5) == "camera_claimed"
    assert admission.check(1, b"restarted", None, now=9.1) is None  # the first silent for 5.1 s: taken over
    assert admission.check(1, b"real", None, now=9.2) == "camera_claimed"
    assert admission.check(7, b"real", None, now=9.3) == "unknown_camera"
    assert admission.refused == {"camera_claimed": 3, "unknown_camera": 1}


def test_admission_checks_each_key_against_the_cameras_it_may_send() -> None:
    permits = {"KEY-A": frozenset({"c001"}), "KEY-B": frozenset({"c002", "c009"})}
    admission = Admission({1: "c001", 2: "c002"}, 5.0, permits)
    assert admission.check(1, b"a", "KEY-A", 0.0) is None
    assert admission.check(2, b"a", "KEY-A", 0.0) == "key_not_allowed"
    assert admission.check(2, b"b", "KEY-B", 0.0) is None
    assert admission.check(1, b"c", "KEY-C", 0.0) == "key_not_allowed"


def test_an_impostor_gets_no_acks_and_the_real_worker_goes_on(tmp_path, free_port) -> None:
    """The issue's attack: a second DEALER says it is c001 and resends old batches. It gets nothing;
    the real c001 keeps getting its acks; the refusals are counted."""
    endpoint = f"tcp://127.0.0.1:{free_port}"
    service = MatcherService(_config(tmp_path, endpoint, claim_timeout_s=30.0), tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()
    real = _dealer(context, endpoint, b"c001/real")
    real.send(encode(Batch(1, 1, 0.0, 0)))
    assert _acks(real, 5.0) == [Ack(1, 1)]
    for identity in (b"c001/real", b"c001/other"):  # the real one's routing id, and another
        impostor = _dealer(context, endpoint, identity)
        for number in (1, 1, 2):
            impostor.send(encode(Batch(1, number, 0.0, 0)))
        impostor.send(encode(Heartbeat(1, time.time(), 0, 0)))
        assert _acks(impostor, 1.0) == []
        impostor.close()
    real.send(encode(Batch(1, 2, 1.0, 0)))
    assert _acks(real, 5.0) == [Ack(1, 2)]
    real.send(encode(Batch(1, 3, 2.0, 0, done=True)))
    assert _acks(real, 5.0) == [Ack(1, 3)]
    service.stop()
    thread.join(10)
    context.destroy(linger=0)
    assert result["dropped"]["camera_claimed"] == 4  # the unattached copy of its id is not even delivered
    assert service.state.through[1] == 3


def test_a_restarted_worker_takes_its_camera_over_once_the_old_connection_is_silent(tmp_path, free_port) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port}"
    service = MatcherService(_config(tmp_path, endpoint, claim_timeout_s=0.5), tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()
    first = _dealer(context, endpoint)
    first.send(encode(Batch(1, 1, 0.0, 0)))
    assert _acks(first, 5.0) == [Ack(1, 1)]
    first.close()  # killed
    second = _dealer(context, endpoint)
    time.sleep(0.6)
    second.send(encode(Batch(1, 1, 0.0, 0)))  # it resends what it cannot know was acked
    second.send(encode(Batch(1, 2, 1.0, 0)))
    assert _acks(second, 5.0)[-1] == Ack(1, 2)
    service.stop()
    thread.join(10)
    context.destroy(linger=0)
    assert "camera_claimed" not in result["dropped"]


def _jpeg(width: int, height: int) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 90, np.uint8))[1].tobytes()


def _bomb(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims ``width`` x ``height``."""
    data = bytearray(_jpeg(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_unknown_cameras_and_preview_bombs_are_refused_and_counted(tmp_path, free_port) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port}"
    config = _config(tmp_path, endpoint, dashboard=0)
    service = MatcherService(config, tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()
    stranger, real = _dealer(context, endpoint), _dealer(context, endpoint)
    boxes, tracks = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    for camera in range(100, 140):  # cameras not in the config: nothing of them is shown
        stranger.send(encode(Heartbeat(camera, time.time(), 5, 0)))
        stranger.send(encode(Preview(camera, 1, 0.0, _jpeg(64, 48), boxes, tracks)))
    stranger.send(encode(Batch(100, 1, 0.0, 0)))
    real.send(encode(Preview(1, 1, 0.0, _bomb(20000, 20000), boxes, tracks)))
    real.send(encode(Preview(1, 2, 0.1, b"\xff\xd8 not a jpeg", boxes, tracks)))
    real.send(encode(Preview(2, 1, 0.0, _jpeg(480, 270), boxes, tracks)))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(service.stats.dropped.values()) < 83:
        time.sleep(0.05)
    time.sleep(0.5)  # an idle poll: the dashboard's counters are refreshed
    snapshot = service.live.snapshot()
    service.stop()
    thread.join(10)
    context.destroy(linger=0)
    assert result["dropped"] == {"unknown_camera": 81, "preview_refused": 2}
    assert [c["id"] for c in snapshot["cameras"]] == ["c001", "c002"]
    assert snapshot["counters"]["dropped"] == {"unknown_camera": 81, "preview_refused": 2}
    assert service.live.preview("c002") is not None and service.live.preview("c001") is None


@pytest.mark.parametrize("form", ["folder", "mapping"])
def test_with_curve_a_key_sends_only_for_its_cameras(tmp_path, free_port, form) -> None:
    from mtmc.cli import main
    from mtmc.runtime.config import SecurityConfig, transport_security
    from mtmc.transport.sockets import connection_id, worker_socket

    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    for name in ("matcher", "c001", "stranger"):
        assert main(["keys", "generate", str(keys), "--name", name]) == 0
    if form == "folder":  # c001.key may send for c001 only
        allowed.mkdir()
        (allowed / "c001.key").write_bytes((keys / "c001.key").read_bytes())
        clients = allowed
    else:
        clients = {keys / "c001.key": ["c001"]}
    endpoint = f"tcp://127.0.0.1:{free_port}"
    security = SecurityConfig(server_secret=keys / "matcher.key_secret", allowed_clients=clients)
    config = _config(tmp_path, endpoint).model_copy(update={"security": security})
    service = MatcherService(config, tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()

    def send(key: str, camera: int) -> Ack | None:
        worker = SecurityConfig(server_public=keys / "matcher.key", client_secret=keys / f"{key}.key_secret")
        socket = worker_socket(context, endpoint, connection_id(f"c00{camera}"), transport_security(worker))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not socket.poll(100):
            try:
                socket.send(encode(Batch(camera, 1, 0.0, 0)), zmq.NOBLOCK)
            except zmq.Again:
                pass
        reply = decode(socket.recv()) if socket.poll(0) else None
        socket.close(0)
        return reply

    replies = {"stranger": send("stranger", 1), "c001 as c002": send("c001", 2), "c001": send("c001", 1)}
    service.stop()
    thread.join(10)
    context.destroy(linger=0)
    assert replies == {"stranger": None, "c001 as c002": None, "c001": Ack(1, 1)}
    assert result["dropped"].get("key_not_allowed", 0) >= 1  # the stranger never got in at all


def test_a_mapping_naming_cameras_outside_the_run_is_one_clear_error(tmp_path, free_port) -> None:
    from mtmc.cli import main
    from mtmc.errors import MtmcError
    from mtmc.runtime.config import SecurityConfig

    keys = tmp_path / "keys"
    for name in ("matcher", "w"):
        assert main(["keys", "generate", str(keys), "--name", name]) == 0
    security = SecurityConfig(server_secret=keys / "matcher.key_secret", allowed_clients={keys / "w.key": ["c009"]})
    config = _config(tmp_path, f"tcp://127.0.0.1:{free_port}").model_copy(update={"security": security})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "matcher.journal").write_bytes(b"a previous run")
    with pytest.raises(MtmcError, match="c009, not cameras of this run"):
        MatcherService(config, tmp_path / "out", fresh=True).serve()
    assert (tmp_path / "out" / "matcher.journal").read_bytes() == b"a previous run"  # refused before clearing


def _batch(camera: int, number: int, dim: int, track: int = 1, done: bool = False) -> Batch:
    update = TrackletUpdate(camera, track, 0, 0, np.arange(1, 4), np.tile([10, 20, 30, 40], (3, 1)),
                            np.arange(3) * 0.1, np.ones(dim, np.float32), 3, ended=True)  # fmt: skip
    return Batch(camera, number, 1.0, 3, done=done, updates=(update,))


def test_without_the_run_token_a_first_comer_cannot_take_a_camera(tmp_path, free_port, monkeypatch) -> None:
    """Issue 32, point 2: under mtmc run (a run secret), an impostor that speaks first with a
    well-formed batch 1 for c001 is refused and counted; the real worker's batch 1, with c001's
    token, is the one applied; a worker's token does not open another camera."""
    from mtmc.transport.tokens import RUN_SECRET_ENV, camera_token

    secret = b"s" * 32
    monkeypatch.setenv(RUN_SECRET_ENV, secret.hex())
    endpoint = f"tcp://127.0.0.1:{free_port}"
    service = MatcherService(_config(tmp_path, endpoint), tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()
    impostor = _dealer(context, endpoint)
    impostor.send(encode(_batch(1, 1, 5, track=99)))
    impostor.send_multipart([b"x" * 16, encode(_batch(1, 1, 5, track=98))])  # a made-up token
    impostor.send_multipart([camera_token(secret, "c002"), encode(_batch(1, 1, 5, track=97))])  # c002's token
    assert _acks(impostor, 1.0) == []
    real = _dealer(context, endpoint)
    token = camera_token(secret, "c001")
    real.send_multipart([token, encode(_batch(1, 1, 5))])
    assert _acks(real, 5.0) == [Ack(1, 1)]
    real.send_multipart([token, encode(Batch(1, 2, 2.0, 3, done=True))])
    other = _dealer(context, endpoint)
    other.send_multipart([camera_token(secret, "c002"), encode(Batch(2, 1, 2.0, 0, done=True))])
    thread.join(10)
    context.destroy(linger=0)
    assert result["dropped"]["no_run_token"] == 3 and result["complete"]
    rows = (tmp_path / "out" / "mot" / "c001.txt").read_text().splitlines()
    assert len(rows) == 3 and all(int(line.split(",")[1]) > 0 for line in rows)  # the real track only
    assert service.state.writer.tracklets == 1


def test_a_batch_the_run_refuses_is_never_journaled_and_an_old_poisoned_journal_replays(tmp_path, free_port) -> None:
    """Issue 32, point 1: a 3-d feature in a 5-d run is dropped (counted) before the journal, its
    batch number kept so the camera goes on; a journal written before the check, holding such a
    batch, replays with the batch's bad update skipped and counted instead of crashing."""
    from mtmc.transport.journal import Journal

    endpoint = f"tcp://127.0.0.1:{free_port}"
    config = _config(tmp_path, endpoint)
    service = MatcherService(config, tmp_path / "out", fresh=True)
    thread, result = _serve(service)
    context = zmq.Context()
    worker = _dealer(context, endpoint)
    worker.send(encode(_batch(1, 1, 3)))
    worker.send(encode(_batch(1, 2, 5, track=2)))
    worker.send(encode(Batch(1, 3, 2.0, 3, done=True)))
    assert _acks(worker, 5.0)[-1] == Ack(1, 3)
    worker.send(encode(Batch(2, 1, 2.0, 0, done=True)))
    thread.join(10)
    context.destroy(linger=0)
    assert result["dropped"] == {"feature_length": 1} and result["complete"]
    journal = Journal(tmp_path / "out" / "matcher.journal")
    records = [decode(payload) for payload in journal.replay()]
    journal.close()
    assert [len(r.updates) for r in records if r.camera == 1] == [0, 1, 0]  # batch 1 kept, without its update
    assert all(len(u.feature) == 5 for r in records for u in r.updates)

    old = tmp_path / "old"  # the journal as the unchecked matcher wrote it
    old.mkdir()
    journal = Journal(old / "matcher.journal")
    journal.append([encode(_batch(1, 1, 3)), encode(_batch(1, 2, 5, track=2)), encode(Batch(1, 3, 2.0, 3, done=True)),
                    b"\x00not a message", encode(Batch(2, 1, 2.0, 0, done=True))])  # fmt: skip
    journal.close()
    again = MatcherService(config, old)
    assert again.replay() == 5
    assert again.state.finished and again.stats.dropped == {"replay_feature_length": 1, "replay_garbage": 1}
    again.state.writer.close()
    assert len((old / "mot" / "c001.txt").read_text().splitlines()) == 3


def test_a_flood_from_made_up_cameras_costs_counters_not_log_lines(caplog) -> None:
    """Issue 32, point 4: 20,000 heartbeats from distinct unknown camera numbers were one warning
    line each; now a line per reason a minute, with the count of those not said."""
    clock = [0.0]
    admission = Admission({1: "c001"}, 5.0, refusals=Refusals(clock=lambda: clock[0]))
    with caplog.at_level("WARNING"):
        for camera in range(2, 20_002):
            clock[0] += 0.001
            assert admission.check(camera, b"peer", None, clock[0]) == "unknown_camera"
        clock[0] += 60.0
        admission.check(99_999, b"peer", None, clock[0])
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and admission.refused == {"unknown_camera": 20_001}
    assert lines[0] == "a message for camera number 2, which is not in this run [unknown_camera]"
    assert lines[1].startswith("a message for camera number 99999, which is not in this run [unknown_camera] (and 19,999 more")


def test_boxes_must_lie_in_the_frame_the_worker_said() -> None:
    """Issue 32, point 1: a box outside the camera's frame (or of no size) is refused before the
    journal; without a frame size (an older worker's journal) only absurd coordinates are."""
    from mtmc.runtime.validation import BatchScreen

    def batch(number: int, box: list[float], track: int, frame_size=(640, 480)) -> Batch:
        update = TrackletUpdate(1, track, 0, 0, np.array([1]), np.array([box]), np.zeros(1), ended=True)
        return Batch(1, number, 1.0, 1, updates=(update,), frame_size=frame_size)

    screen = BatchScreen(feature_dim=0)
    boxes = {
        "inside": [10, 20, 30, 40], "over an edge": [620, 400, 60, 100], "left of it": [-50, 20, 40, 40],
        "below it": [10, 480, 30, 40], "no width": [10, 20, 0, 40], "thrice its width": [0, 0, 1920, 100],
    }  # fmt: skip
    kept = {name: bool(screen.screen(batch(k + 1, box, k))[0].updates) for k, (name, box) in enumerate(boxes.items())}
    assert kept == {"inside": True, "over an edge": True, "left of it": False, "below it": False,
                    "no width": False, "thrice its width": False}  # fmt: skip
    assert screen.refused == {"box": 4}
    old = BatchScreen(feature_dim=0)  # no frame size said: any frame
    assert old.screen(batch(1, [-50, 20, 40, 40], 1, None))[0].updates
    assert not old.screen(batch(2, [1e6, 20, 40, 40], 2, None))[0].updates
