"""The ``worker:``, ``matcher:`` and ``security:`` sections of a run config.

Defaults suit one machine on loopback; each says why it is what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from mtmc.match.config import MatcherConfig
from mtmc.schema import StrictModel

if TYPE_CHECKING:
    from mtmc.transport.sockets import Security


class PlacementConfig(StrictModel):
    """Where a process runs on a Ray cluster (``mtmc run --ray``; ignored on one machine): a node
    whose Ray labels include ``labels`` (``ray start --labels='{"site": "north"}'``), or, where
    labels are not used, one offering the custom ``resources``
    (``ray start --resources='{"site-north": 4}'``)."""

    labels: dict[str, str] = Field(default_factory=dict, description="node labels it needs, e.g. {site: north}")
    resources: dict[str, float] = Field(
        default_factory=dict, description="custom resources it takes, e.g. {site-north: 1}"
    )


class WorkerConfig(StrictModel):
    update_every_s: float = Field(
        1.0, gt=0, description="video seconds between a camera's outbox commits (track updates, progress, checkpoint)"
    )
    preview_every_s: float = Field(1.0, ge=0, description="wall seconds between dashboard frames (0: none)")
    preview_width: int = Field(480, ge=64, description="dashboard frames are scaled down to this width")
    window: int = Field(256, ge=1, description="messages in flight before an ack is needed (go-back-N)")
    resend_s: float = Field(2.0, gt=0, description="no ack for this long: resend from the oldest unacked message")
    heartbeat_s: float = Field(1.0, gt=0, description="wall seconds between heartbeats")
    drain_timeout_s: float = Field(
        60.0, gt=0, description="at the end, wait this long for the matcher to ack the rest (the outbox keeps it)"
    )
    outbox_max_mb: float = Field(2048, gt=0, description="disk the outbox may fill while the matcher is away")


class MatcherServiceConfig(MatcherConfig):
    """The association options (``MatcherConfig``) plus where the matcher listens and how it decides."""

    mode: Literal["online", "offline"] = Field(
        "online", description="online: ids within a bounded delay, revised in a window; offline: cluster at the end"
    )
    bind: str = Field("tcp://127.0.0.1:5555", description="where workers connect (ROUTER)")
    publish: str | None = Field("tcp://127.0.0.1:5556", description="live feed of global ids (PUB); null: none")
    placement: PlacementConfig | None = Field(
        None, description="Ray: the node it runs on (a node with persistent disk for the journal)"
    )
    dashboard: int | None = Field(8765, ge=0, le=65535, description="web dashboard port (0: any free one; null: none)")
    batch: int = Field(2000, ge=1, description="messages journaled with one fsync, at most")
    ack_every_s: float = Field(
        0.5,
        ge=0,
        description="acknowledge each camera at most this often (acks are cumulative; keep it well below "
        "the workers' resend_s); 0: after every journal write",
    )

    claim_timeout_s: float = Field(
        5.0,
        gt=0,
        description="a camera is spoken for by the first connection that sends for it; another connection is "
        "refused until the first has sent nothing (heartbeats included) for this long, as when its worker died",
    )

    @field_validator("bind", "publish")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("must be a ZeroMQ endpoint such as tcp://127.0.0.1:5555")
        return value


class SecurityConfig(StrictModel):
    """CURVE keys (``mtmc keys generate``): encryption, and only allowed workers are served."""

    server_secret: Path | None = Field(None, description="the matcher's .key_secret (matcher side)")
    server_public: Path | None = Field(None, description="the matcher's .key (worker side)")
    client_secret: Path | None = Field(None, description="the workers' .key_secret (worker side)")
    allowed_clients: Path | dict[Path, list[str]] | None = Field(
        None,
        description="matcher side: a folder of allowed workers' .key files, where NAME.key may send for camera NAME "
        "only; or a mapping of each worker's .key file to the camera ids it may send",
    )


def transport_security(config: SecurityConfig | None) -> Security:
    """The sockets' view of the ``security:`` section (plaintext when absent)."""
    from mtmc.transport.sockets import Security

    return Security() if config is None else Security(**config.model_dump())
