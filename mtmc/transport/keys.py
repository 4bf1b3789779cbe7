"""CURVE key files, in pyzmq's certificate format: NAME.key (public) and NAME.key_secret (secret).

The matcher's public key goes to every worker, each worker's public key into the matcher's folder
of allowed workers; secret keys never leave the machine that generated them.
"""

from __future__ import annotations

import os
from pathlib import Path

import zmq.auth

from mtmc.errors import MtmcError

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"


def generate(directory: Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """Write a new keypair as ``directory/name.key`` and ``.key_secret`` (mode 600); returns both paths.

    Refuses to replace an existing key unless ``force``: peers holding it would be refused.
    """
    if not name or Path(name).name != name or name.startswith("."):
        raise MtmcError(f"key name {name!r} is not a plain file name: pick one like 'camera-7'")
    directory = Path(directory)
    public, secret = directory / f"{name}{PUBLIC_SUFFIX}", directory / f"{name}{SECRET_SUFFIX}"
    existing = [path for path in (public, secret) if path.exists()]
    if existing and not force:
        raise MtmcError(
            f"{existing[0]} exists: pass --force to replace it (its peers will then be refused), "
            f"or pick another --name"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path in existing:
        path.unlink()
    os.close(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # never readable by others
    zmq.auth.create_certificates(directory, name)
    return public, secret


def load_keypair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) from a NAME.key_secret file; NAME or NAME.key name the same file."""
    path = Path(path)
    if path.suffix in (PUBLIC_SUFFIX, SECRET_SUFFIX):
        path = path.with_suffix("")
    path = path.with_name(path.name + SECRET_SUFFIX)
    public, secret = _load(path)
    if secret is None:
        raise MtmcError(f"{path} holds no secret key: regenerate it with `mtmc keys generate {path.parent}`")
    return public, secret


def load_public_key(path: Path) -> bytes:
    """The public key in a NAME.key (or NAME.key_secret) file."""
    return _load(Path(path))[0]


def load_public_keys(directory: Path) -> list[bytes]:
    """The public key of every ``*.key`` file in ``directory`` (the allowed peers), sorted by file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MtmcError(
            f"key folder {directory} not found: create it and copy each allowed worker's NAME.key into it"
        )
    keys = [_load(path)[0] for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}"))]
    if not keys:
        raise MtmcError(
            f"no *.key files in {directory}: copy each allowed worker's NAME.key there "
            f"(made by `mtmc keys generate DIR --name NAME` on the worker)"
        )
    return keys


def camera_permits(allowed: Path | dict[Path, list[str]]) -> dict[str, frozenset[str]]:
    """Each allowed worker key (z85, as ZeroMQ reports it per message) -> the camera ids it may send.

    ``allowed`` is a folder, where ``NAME.key`` may send for camera NAME only, or a mapping of key
    files to camera ids (one key for the several cameras of one machine).
    """
    if isinstance(allowed, dict):
        permits: dict[str, frozenset[str]] = {}
        for path, cameras in allowed.items():
            key = load_public_key(Path(path)).decode("ascii")
            permits[key] = permits.get(key, frozenset()) | frozenset(cameras)
        return permits
    directory = Path(allowed)
    keys = load_public_keys(directory)  # sorted by file, with the folder's own clear errors
    files = sorted(directory.glob(f"*{PUBLIC_SUFFIX}"))
    return {key.decode("ascii"): frozenset([file.name.removesuffix(PUBLIC_SUFFIX)]) for key, file in zip(keys, files)}


def _load(path: Path) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise MtmcError(
            f"cannot read the CURVE key {path} ({exc}): make one with `mtmc keys generate {path.parent}`"
        ) from exc
