"""The ZeroMQ ends of the transport, each with bounded queues and optional CURVE security.

Every queue is bounded by a high-water mark: past it a worker's send fails at once (zmq.Again)
and the message simply stays in its outbox, so memory never grows with an absent matcher.
With CURVE, traffic is encrypted and the matcher's ZAP handler lets in only the allowed workers'
keys; a refused worker sees no error, only silence, and keeps retrying. Each message then carries
its sender's key (``User-Id``), which the matcher checks against the cameras that key may send.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import CURVE_ALLOW_ANY
from zmq.auth.thread import ThreadAuthenticator

from mtmc.errors import MtmcError
from mtmc.transport.keys import camera_permits, load_keypair, load_public_key

_RECONNECT_MS, _RECONNECT_MAX_MS = 100, 2000
_HEARTBEAT_MS, _HEARTBEAT_TIMEOUT_MS = 1000, 5000  # notice a silently dead peer (cable pulled) in seconds

_authenticators: dict[zmq.Context, ThreadAuthenticator] = {}


@dataclass(frozen=True)
class Security:
    """Which key files to use; all None is plaintext.

    Matcher: ``server_secret`` and optionally ``allowed_clients``: a folder of the allowed
    workers' .key files (``c001.key`` may send for camera c001 only), or a mapping of key files to
    the camera ids each may send; without it any CURVE client gets in (encrypted, not authenticated).
    Worker: ``server_public`` (the matcher's .key) and ``client_secret`` (its own .key_secret;
    without it a throwaway key is made, which only a matcher allowing any client accepts).
    """

    server_secret: Path | None = None
    server_public: Path | None = None
    client_secret: Path | None = None
    allowed_clients: Path | dict[Path, list[str]] | None = None

    def __post_init__(self) -> None:
        if self.allowed_clients is not None and self.server_secret is None:
            raise MtmcError(
                "a folder of allowed workers needs the matcher's secret key too (NAME.key_secret)"
            )
        if self.client_secret is not None and self.server_public is None:
            raise MtmcError("a worker key needs the matcher's public key too (the matcher's NAME.key)")


PLAINTEXT = Security()


MAX_SUBSCRIPTION_BYTES = 1024  # a subscription is one topic prefix; the live feed's are a few bytes


def matcher_socket(
    context: zmq.Context, bind: str, security: Security, hwm: int = 10000, max_message_bytes: int = -1
) -> zmq.Socket:
    """The matcher's ROUTER, bound to ``bind``.

    No handover: a second connection presenting a routing id already connected is left unattached,
    so it can neither take the first one's acknowledgements nor cut it off (workers use a fresh id
    per process, so a restarted worker is a new connection). ``max_message_bytes``: ZeroMQ cuts a
    peer whose message frame is larger, before holding it in memory (-1: no bound)."""
    socket = _socket(context, zmq.ROUTER, hwm)
    socket.maxmsgsize = max_message_bytes
    _serve(socket, bind, security)
    return socket


def publisher_socket(
    context: zmq.Context, bind: str, security: Security = PLAINTEXT, hwm: int = 1000
) -> zmq.Socket:
    """The live feed's PUB, bound to ``bind``; a slow subscriber loses messages, never stalls it.
    Subscribers send only their subscriptions (a topic each): a larger frame cuts them."""
    socket = _socket(context, zmq.PUB, hwm)
    socket.maxmsgsize = MAX_SUBSCRIPTION_BYTES
    _serve(socket, bind, security)
    return socket


def worker_socket(
    context: zmq.Context, endpoint: str, identity: bytes, security: Security, hwm: int = 1000
) -> zmq.Socket:
    """A worker's DEALER connected to the matcher at ``endpoint`` under ``identity`` (unique per
    process: see ``connection_id``).

    Messages are queued only to a connected (and, with CURVE, accepted) matcher.
    """
    socket = _socket(context, zmq.DEALER, hwm)
    socket.routing_id = identity
    socket.immediate = 1
    socket.reconnect_ivl = _RECONNECT_MS
    socket.reconnect_ivl_max = _RECONNECT_MAX_MS
    if security.server_public is not None:
        socket.curve_serverkey = load_public_key(security.server_public)
        if security.client_secret is not None:
            socket.curve_publickey, socket.curve_secretkey = load_keypair(security.client_secret)
        else:
            socket.curve_publickey, socket.curve_secretkey = zmq.curve_keypair()
    try:
        socket.connect(endpoint)
    except zmq.ZMQError as exc:
        socket.close()
        raise MtmcError(f"bad matcher endpoint {endpoint!r} ({exc}): use --matcher tcp://HOST:PORT") from exc
    return socket


def connection_id(camera: str) -> bytes:
    """A worker's routing id: its camera (readable in logs) and a random part, new per process."""
    import secrets

    return f"{camera}/{secrets.token_hex(4)}".encode()  # names are at most 64 characters: well under 255


def stop_authenticator(context: zmq.Context) -> None:
    """Stop the ZAP handler ``matcher_socket`` started on ``context``, if any; call before term()."""
    authenticator = _authenticators.pop(context, None)
    if authenticator is not None:
        authenticator.stop()


def _socket(context: zmq.Context, kind: int, hwm: int) -> zmq.Socket:
    socket = context.socket(kind)
    socket.linger = 0
    socket.sndhwm = socket.rcvhwm = hwm
    socket.heartbeat_ivl = _HEARTBEAT_MS
    socket.heartbeat_timeout = _HEARTBEAT_TIMEOUT_MS
    return socket


def _serve(socket: zmq.Socket, bind: str, security: Security) -> None:
    """Make ``socket`` a CURVE server when configured, then bind it."""
    try:
        if security.server_secret is not None:
            authenticator = _authenticator(socket.context)
            if security.allowed_clients is None:
                authenticator.configure_curve(location=CURVE_ALLOW_ANY)
            else:  # a clear error now for a missing or bad key file, not silence later
                authenticator.configure_curve_callback(credentials_provider=_AllowedKeys(security.allowed_clients))
            socket.curve_server = 1
            socket.curve_publickey, socket.curve_secretkey = load_keypair(security.server_secret)
        socket.bind(bind)
    except zmq.ZMQError as exc:
        socket.close()
        if exc.errno == errno.EADDRINUSE:
            raise MtmcError(
                f"{bind} is already in use (another matcher?): stop it or bind another port"
            ) from exc
        raise MtmcError(f"cannot bind {bind!r} ({exc}): give an endpoint like tcp://0.0.0.0:PORT") from exc
    except MtmcError:
        socket.close()
        raise


class _AllowedKeys:
    """The ZAP handler's question, "may this key connect?", for a folder or mapping of key files."""

    def __init__(self, allowed: Path | dict[Path, list[str]]) -> None:
        self.keys = {key.encode("ascii") for key in camera_permits(allowed)}

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


def _authenticator(context: zmq.Context) -> ThreadAuthenticator:
    """The context's one ZAP handler, started on first use.

    libzmq allows one per context, so every CURVE server of a context shares the allowed keys
    last configured (the matcher and its live feed use the same folder).
    """
    if context not in _authenticators:
        authenticator = ThreadAuthenticator(context)
        authenticator.start()
        _authenticators[context] = authenticator
    return _authenticators[context]
