"""Run tokens: which process may speak for a camera when the transport is plaintext.

``mtmc run`` draws a secret per run and gives the matcher the secret and each worker only its
camera's token (an HMAC of the camera id), both through the environment: never on a command line
(``ps`` shows those) nor in a log. A worker sends its token as the first frame of every message; the
matcher refuses and counts any message for a camera without that camera's token. So a stray or
hostile process on the network cannot speak for a camera, and a worker cannot speak for another
camera. This is the plaintext model's guarantee; it does not hide the traffic (CURVE does, with
keys: ``security:``). A matcher started by hand without ``MTMC_RUN_SECRET`` checks no token, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from mtmc.errors import MtmcError

RUN_SECRET_ENV = "MTMC_RUN_SECRET"  # the matcher's: hex of the run's secret
CAMERA_TOKEN_ENV = "MTMC_CAMERA_TOKEN"  # a worker's: hex of its camera's token
TOKEN_BYTES = 16


def new_run_secret() -> bytes:
    return secrets.token_bytes(32)


def camera_token(secret: bytes, camera_id: str) -> bytes:
    """The token of ``camera_id`` in the run whose secret is ``secret``."""
    return hmac.new(secret, camera_id.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]


def run_secret_from_env() -> bytes | None:
    """The run's secret, when the matcher was given one."""
    return _hex_env(RUN_SECRET_ENV)


def worker_token_from_env(camera_id: str) -> bytes | None:
    """A worker's token: given as such (``mtmc run``), or made from the run's secret (by hand)."""
    token = _hex_env(CAMERA_TOKEN_ENV)
    if token is not None:
        return token
    secret = run_secret_from_env()
    return None if secret is None else camera_token(secret, camera_id)


def token_matches(given: bytes | None, expected: bytes) -> bool:
    return given is not None and hmac.compare_digest(given, expected)


def _hex_env(name: str) -> bytes | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise MtmcError(f"{name} is not hexadecimal: unset it, or give the value mtmc run made") from None
