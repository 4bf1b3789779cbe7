"""The ZeroMQ ends of the transport, each with bounded queues and optional CURVE security.

Every queue is bounded by a high-water mark: past it a worker's send fails at once (zmq.Again)
and the message simply stays in its outbox, so memory never grows with an absent matcher.
With CURVE, traffic is encrypted and the matcher's ZAP handler lets in only the allowed workers'
keys; a refused worker sees no error, only silence, and keeps retrying.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import CURVE_ALLOW_ANY
from zmq.auth.thread import ThreadAuthenticator

from mtmc.errors import MtmcError
from mtmc.transport.keys import load_keypair, load_public_key, load_public_keys

_RECONNECT_MS, _RECONNECT_MAX_MS = 100, 2000
_HEARTBEAT_MS, _HEARTBEAT_TIMEOUT_MS = 1000, 5000  # notice a silently dead peer (cable pulled) in seconds

_authenticators: dict[zmq.Context, ThreadAuthenticator] = {}


@dataclass(frozen=True)
class Security:
    """Which key files to use; all None is plaintext.

    Matcher: ``server_secret`` and optionally ``allowed_clients``, a folder of the allowed
    workers' .key files (without it any CURVE client gets in: encrypted, not authenticated).
    Worker: ``server_public`` (the matcher's .key) and ``client_secret`` (its own .key_secret;
    without it a throwaway key is made, which only a matcher allowing any client accepts).
    """

    server_secret: Path | None = None
    server_public: Path | None = None
    client_secret: Path | None = None
    allowed_clients: Path | None = None

    def __post_init__(self) -> None:
        if self.allowed_clients is not None and self.server_secret is None:
            raise MtmcError(
                "a folder of allowed workers needs the matcher's secret key too (NAME.key_secret)"
            )
        if self.client_secret is not None and self.server_public is None:
            raise MtmcError("a worker key needs the matcher's public key too (the matcher's NAME.key)")


PLAINTEXT = Security()


def matcher_socket(context: zmq.Context, bind: str, security: Security, hwm: int = 10000) -> zmq.Socket:
    """The matcher's ROUTER, bound to ``bind``; a restarted worker takes over its old connection."""
    socket = _socket(context, zmq.ROUTER, hwm)
    socket.router_handover = 1
    _serve(socket, bind, security)
    return socket


def publisher_socket(
    context: zmq.Context, bind: str, security: Security = PLAINTEXT, hwm: int = 1000
) -> zmq.Socket:
    """The live feed's PUB, bound to ``bind``; a slow subscriber loses messages, never stalls it."""
    socket = _socket(context, zmq.PUB, hwm)
    _serve(socket, bind, security)
    return socket


def worker_socket(
    context: zmq.Context, endpoint: str, identity: bytes, security: Security, hwm: int = 1000
) -> zmq.Socket:
    """A worker's DEALER connected to the matcher at ``endpoint`` under ``identity``.

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
            if security.allowed_clients is not None:
                load_public_keys(security.allowed_clients)  # a clear error now, not silence later
            _authenticator(socket.context).configure_curve(
                location=security.allowed_clients if security.allowed_clients is not None else CURVE_ALLOW_ANY
            )
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
