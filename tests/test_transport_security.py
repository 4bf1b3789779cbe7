"""CURVE keys (the `mtmc keys` command) and the ZeroMQ ends: round trips, refusals, bounded queues."""

import socket
import stat
import time

import pytest
import zmq

from mtmc.cli import main
from mtmc.errors import MtmcError
from mtmc.transport.keys import load_keypair, load_public_key, load_public_keys
from mtmc.transport.sockets import (
    PLAINTEXT,
    Security,
    matcher_socket,
    publisher_socket,
    stop_authenticator,
    worker_socket,
)


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """matcher, worker-a and worker-b in keys/; only worker-a's public key in allowed/."""
    root = tmp_path_factory.mktemp("keys")
    for name in ("matcher", "worker-a", "worker-b"):
        assert main(["keys", "generate", str(root / "keys"), "--name", name]) == 0
    (root / "allowed").mkdir()
    (root / "allowed" / "worker-a.key").write_bytes((root / "keys" / "worker-a.key").read_bytes())
    return root


@pytest.fixture
def context():
    context = zmq.Context()
    yield context
    stop_authenticator(context)
    context.destroy(linger=0)


def exchange(worker: zmq.Socket, server: zmq.Socket, timeout: float = 1.5) -> bytes | None:
    """Send a ping from ``worker``; the server answers what it gets; the worker's reply or None."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            worker.send(b"ping", zmq.NOBLOCK)
            break
        except zmq.Again:  # not connected (or not accepted) yet
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)
    if not server.poll(max(0, deadline - time.monotonic()) * 1000):
        return None
    identity, payload = server.recv_multipart()
    server.send_multipart([identity, payload + b" pong"])
    if not worker.poll(max(0, deadline - time.monotonic()) * 1000):
        return None
    return worker.recv()


def test_keys_generate_writes_a_private_secret_and_refuses_to_overwrite(tmp_path, capsys):
    assert main(["keys", "generate", str(tmp_path / "k"), "--name", "cam7"]) == 0
    out = capsys.readouterr().out
    public, secret = tmp_path / "k" / "cam7.key", tmp_path / "k" / "cam7.key_secret"
    assert str(public) in out and str(secret) in out
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    pair = load_keypair(secret)
    assert load_keypair(tmp_path / "k" / "cam7") == load_keypair(public) == pair
    assert load_public_key(public) == pair[0] and len(pair[0]) == len(pair[1]) == 40
    assert main(["keys", "generate", str(tmp_path / "k"), "--name", "cam7"]) == 2
    assert "exists: pass --force" in capsys.readouterr().err
    assert main(["keys", "generate", str(tmp_path / "k"), "--name", "cam7", "--force"]) == 0
    assert load_keypair(secret) != pair
    assert load_public_keys(tmp_path / "k") == [load_public_key(public)]


def test_missing_keys_name_the_fix(tmp_path):
    with pytest.raises(MtmcError, match="mtmc keys generate"):
        load_keypair(tmp_path / "nope.key_secret")
    with pytest.raises(MtmcError, match=r"no \*\.key files .*mtmc keys generate"):
        load_public_keys(tmp_path)
    with pytest.raises(MtmcError, match="not found"):
        load_public_keys(tmp_path / "absent")


def test_plaintext_round_trip(context):
    endpoint = free_endpoint()
    server = matcher_socket(context, endpoint, PLAINTEXT)
    worker = worker_socket(context, endpoint, b"c001", PLAINTEXT)
    assert exchange(worker, server) == b"ping pong"


def test_curve_lets_in_only_allowed_workers(context, keys):
    endpoint = free_endpoint()
    server = matcher_socket(
        context,
        endpoint,
        Security(server_secret=keys / "keys" / "matcher.key_secret", allowed_clients=keys / "allowed"),
    )

    def worker(name: str, identity: bytes) -> zmq.Socket:
        security = Security(
            server_public=keys / "keys" / "matcher.key", client_secret=keys / "keys" / f"{name}.key_secret"
        )
        return worker_socket(context, endpoint, identity, security)

    refused, allowed = worker("worker-b", b"c002"), worker("worker-a", b"c001")
    assert exchange(refused, server) is None
    assert exchange(allowed, server) == b"ping pong"


def test_wrong_server_key_or_plaintext_gets_nothing_from_a_curve_server(context, keys):
    endpoint = free_endpoint()
    server = matcher_socket(context, endpoint, Security(server_secret=keys / "keys" / "matcher.key_secret"))
    impostor = Security(
        server_public=keys / "keys" / "worker-b.key", client_secret=keys / "keys" / "worker-a.key_secret"
    )
    wrong_key = worker_socket(context, endpoint, b"c001", impostor)
    plaintext = worker_socket(context, endpoint, b"c002", PLAINTEXT)
    assert exchange(wrong_key, server, timeout=1.0) is None
    assert exchange(plaintext, server, timeout=0.5) is None
    anyone = Security(server_public=keys / "keys" / "matcher.key")  # a throwaway client key
    throwaway = worker_socket(context, endpoint, b"c003", anyone)
    assert exchange(throwaway, server) == b"ping pong"  # no allowed folder: any CURVE client


def test_worker_queues_nothing_without_a_matcher_and_at_most_about_hwm_to_a_stalled_one(context):
    endpoint = free_endpoint()
    worker = worker_socket(context, endpoint, b"c001", PLAINTEXT, hwm=20)
    with pytest.raises(zmq.Again):
        worker.send(b"x", zmq.NOBLOCK)  # no matcher: nothing is queued
    stalled = matcher_socket(context, endpoint, PLAINTEXT, hwm=20)  # never reads
    assert exchange(worker, stalled) == b"ping pong"
    message, sent = b"x" * 100_000, 0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            worker.send(message, zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            time.sleep(0.05)  # let the I/O thread move what it can, then try again
            try:
                worker.send(message, zmq.NOBLOCK)
                sent += 1
            except zmq.Again:
                break
    else:
        pytest.fail(f"still sending after {sent} messages")
    assert 20 <= sent < 250  # both HWMs (40) plus what the kernel's socket buffers hold (~10 MB)


def test_bad_endpoints_and_busy_ports_name_the_fix(context):
    with pytest.raises(MtmcError, match="--matcher tcp://HOST:PORT"):
        worker_socket(context, "localhost:5555", b"c001", PLAINTEXT)
    endpoint = free_endpoint()
    feed = publisher_socket(context, endpoint)
    with pytest.raises(MtmcError, match=f"{endpoint} is already in use"):
        matcher_socket(context, endpoint, PLAINTEXT)
    feed.close()
    with pytest.raises(MtmcError, match="tcp://0.0.0.0:PORT"):
        matcher_socket(context, "nonsense", PLAINTEXT)


def test_security_refuses_half_configurations(tmp_path):
    with pytest.raises(MtmcError, match="matcher's secret key"):
        Security(allowed_clients=tmp_path)
    with pytest.raises(MtmcError, match="matcher's public key"):
        Security(client_secret=tmp_path / "w.key_secret")
