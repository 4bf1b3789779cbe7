"""Who may speak for which camera: the matcher's check on every message before it is used.

A camera is spoken for by one connection at a time: the first that sends for it in this matcher's
life. Another connection claiming the same camera is refused while the first is alive (it has sent
something, heartbeats included, within ``claim_timeout_s``), so a stray or hostile process that
says it is camera c001 neither gets c001's acknowledgements nor feeds the matcher; a restarted
worker (a new connection once the old one is silent) takes over. With CURVE, a message must also
come from a key allowed to send for its camera. Messages for cameras outside the run are refused.
Every refusal is counted by reason and logged once per sender.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)

UNKNOWN_CAMERA = "unknown_camera"
CAMERA_CLAIMED = "camera_claimed"
KEY_NOT_ALLOWED = "key_not_allowed"


@dataclass
class Claim:
    peer: bytes
    heard_at: float


class Admission:
    """``check(camera, peer, key, now)`` -> None (use the message) or the reason it is refused."""

    def __init__(
        self, cameras: dict[int, str], claim_timeout_s: float,
        permits: dict[str, frozenset[str]] | None = None,
    ) -> None:  # fmt: skip
        self.cameras, self.claim_timeout_s = cameras, claim_timeout_s
        self.permits = permits
        self.claims: dict[int, Claim] = {}
        self.refused: Counter = Counter()
        self._told: set[tuple] = set()
        if permits is not None:
            known = set(cameras.values())
            for key, ids in sorted(permits.items()):
                if not ids & known:
                    log.warning(
                        "allowed worker key %s... may send for %s, none of this run's cameras (%s): it will be refused; "
                        "name each key file after its camera (mtmc keys generate DIR --name c001) or map key files "
                        "to cameras in security.allowed_clients", key[:8], ", ".join(sorted(ids)), ", ".join(sorted(known)),
                    )  # fmt: skip

    def check(self, camera: int, peer: bytes, key: str | None, now: float) -> str | None:
        name = self.cameras.get(camera)
        if name is None:
            return self._refuse(UNKNOWN_CAMERA, (camera,), "messages for camera number %d, which is not in this run", camera)
        if self.permits is not None and name not in self.permits.get(key or "", frozenset()):
            return self._refuse(
                KEY_NOT_ALLOWED, (camera, key), "camera %s: a worker key (%s...) not allowed to send for it", name, (key or "?")[:8]
            )
        claim = self.claims.get(camera)
        if claim is None or claim.peer == peer:
            self.claims[camera] = Claim(peer, now)
            return None
        if now - claim.heard_at > self.claim_timeout_s:
            log.warning("camera %s: now sent from a new connection (the previous one silent for %.1f s)", name, now - claim.heard_at)
            self.claims[camera] = Claim(peer, now)
            return None
        return self._refuse(
            CAMERA_CLAIMED, (camera, peer),
            "camera %s: a second connection claims it while the first is alive; ignored (an impostor, or a copy of its worker)",
            name,
        )  # fmt: skip

    def _refuse(self, reason: str, sender: tuple, message: str, *args: object) -> str:
        self.refused[reason] += 1
        if (reason, *sender) not in self._told:
            self._told.add((reason, *sender))
            log.warning(message, *args)
        return reason
