"""Worker <-> matcher transport: the versioned wire codec (ZeroMQ sockets and the outbox build on it)."""

from mtmc.transport.codec import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Ack,
    Heartbeat,
    Message,
    TrackletUpdate,
    UpdateGap,
    WireError,
    decode,
    encode,
    make_update,
    merge_update,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "Ack",
    "Heartbeat",
    "Message",
    "TrackletUpdate",
    "UpdateGap",
    "WireError",
    "decode",
    "encode",
    "make_update",
    "merge_update",
]
