"""Who may speak for which camera: the matcher's check on every message before it is used.

A camera is spoken for by one connection at a time: the first that sends for it in this matcher's
life. Another connection claiming the same camera is refused while the first is alive (it has sent
something, heartbeats included, within ``claim_timeout_s``), so a stray or hostile process that
says it is camera c001 neither gets c001's acknowledgements nor feeds the matcher; a restarted
worker (a new connection once the old one is silent) takes over. Under ``mtmc run`` every message
must also carry its camera's run token (:mod:`mtmc.transport.tokens`), so being first is not
enough: a process without the token is refused whenever it speaks. With CURVE, a message must also
come from a key allowed to send for its camera. Messages for cameras outside the run are refused.
Every refusal is counted by reason (:class:`~mtmc.runtime.refusals.Refusals`: one log line per
reason a minute, however many senders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mtmc.runtime.refusals import Refusals
from mtmc.transport.tokens import token_matches

log = logging.getLogger(__name__)

UNKNOWN_CAMERA = "unknown_camera"
CAMERA_CLAIMED = "camera_claimed"
KEY_NOT_ALLOWED = "key_not_allowed"
NO_RUN_TOKEN = "no_run_token"


@dataclass
class Claim:
    peer: bytes
    heard_at: float


class Admission:
    """``check(camera, peer, key, now)`` -> None (use the message) or the reason it is refused."""

    def __init__(
        self, cameras: dict[int, str], claim_timeout_s: float,
        permits: dict[str, frozenset[str]] | None = None, tokens: dict[int, bytes] | None = None,
        refusals: Refusals | None = None,
    ) -> None:  # fmt: skip
        self.cameras, self.claim_timeout_s = cameras, claim_timeout_s
        self.permits, self.tokens = permits, tokens
        self.claims: dict[int, Claim] = {}
        self.refusals = refusals if refusals is not None else Refusals()
        if permits is not None:
            known = set(cameras.values())
            for key, ids in sorted(permits.items()):
                if not ids & known:
                    log.warning(
                        "allowed worker key %s... may send for %s, none of this run's cameras (%s): it will be refused; "
                        "name each key file after its camera (mtmc keys generate DIR --name c001) or map key files "
                        "to cameras in security.allowed_clients", key[:8], ", ".join(sorted(ids)), ", ".join(sorted(known)),
                    )  # fmt: skip

    @property
    def refused(self) -> dict[str, int]:
        return dict(self.refusals.counts)

    def check(self, camera: int, peer: bytes, key: str | None, now: float, token: bytes | None = None) -> str | None:
        """None (use the message) or the reason it is refused; ``token``: the message's run token."""
        name = self.cameras.get(camera)
        if name is None:
            return self.refusals.add(UNKNOWN_CAMERA, f"a message for camera number {camera}, which is not in this run")
        if self.tokens is not None and not token_matches(token, self.tokens[camera]):
            return self.refusals.add(
                NO_RUN_TOKEN, f"camera {name}: a message without this run's token for it (not the worker mtmc run started)"
            )
        if self.permits is not None and name not in self.permits.get(key or "", frozenset()):
            return self.refusals.add(
                KEY_NOT_ALLOWED, f"camera {name}: a worker key ({(key or '?')[:8]}...) not allowed to send for it"
            )
        claim = self.claims.get(camera)
        if claim is None or claim.peer == peer:
            self.claims[camera] = Claim(peer, now)
            return None
        if now - claim.heard_at > self.claim_timeout_s:
            log.warning("camera %s: now sent from a new connection (the previous one silent for %.1f s)", name, now - claim.heard_at)
            self.claims[camera] = Claim(peer, now)
            return None
        return self.refusals.add(
            CAMERA_CLAIMED,
            f"camera {name}: a second connection claims it while the first is alive; ignored "
            "(an impostor, or a copy of its worker)",
        )
