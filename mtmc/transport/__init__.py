"""Worker <-> matcher transport: the versioned wire codec (ZeroMQ sockets and the outbox build on it).

``outbox``: a worker's durable, numbered queue of unacknowledged messages plus its checkpoint;
``journal``: the matcher's append-only record of what it acknowledged; ``keys``: CURVE key files;
``sockets``: the bounded, optionally CURVE-secured ZeroMQ ends.
"""

from mtmc.transport.codec import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Ack,
    Batch,
    Heartbeat,
    Message,
    TrackletBuilder,
    TrackletUpdate,
    UpdateGap,
    WireError,
    decode,
    encode,
    make_update,
)
from mtmc.transport.journal import Journal
from mtmc.transport.keys import load_keypair, load_public_key, load_public_keys
from mtmc.transport.outbox import Outbox, OutboxFull
from mtmc.transport.sockets import (
    PLAINTEXT,
    Security,
    matcher_socket,
    publisher_socket,
    stop_authenticator,
    worker_socket,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "Ack",
    "Batch",
    "Heartbeat",
    "Message",
    "TrackletBuilder",
    "TrackletUpdate",
    "UpdateGap",
    "WireError",
    "decode",
    "encode",
    "make_update",
    "Journal",
    "Outbox",
    "OutboxFull",
    "PLAINTEXT",
    "Security",
    "load_keypair",
    "load_public_key",
    "load_public_keys",
    "matcher_socket",
    "publisher_socket",
    "stop_authenticator",
    "worker_socket",
]
