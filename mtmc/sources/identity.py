"""A source's identity, cheap to take: so a worker resuming from a checkpoint can tell that its
input is still the one it started (a video replaced between a crash and the restart would
otherwise be resumed mid-way, its first part taken from another file).

A file is known by its size and a SHA-256 of its first MiB (read whatever the file's size, so a
multi-GB video costs one small read); an image folder by its number of images and a hash of their
sorted names and of its first image's first MiB. A live stream has no identity: it cannot be checked.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mtmc.sources.folder import ImageFolderSource
from mtmc.sources.stream import is_stream_url

HEAD_BYTES = 1 << 20  # a file is hashed this far


@dataclass(frozen=True)
class SourceIdentity:
    kind: Literal["file", "folder"]
    size: int  # a file's bytes; a folder's number of images
    digest: str  # SHA-256 (hex) of a file's first MiB; of a folder's sorted image names and first image


def source_identity(source: str | Path) -> SourceIdentity | None:
    """``source``'s identity; None for a stream URL (a live stream cannot be checked) and for a path
    that is not there or cannot be read (opening it says so)."""
    path = Path(source)
    if is_stream_url(str(source)) or not path.exists():
        return None
    try:
        if path.is_dir():
            files = ImageFolderSource(path).files  # the images the source reads, in its order
            first = _file_identity(files[0])
            names = "\n".join(f.name for f in files) + f"\n{first.size} {first.digest}"
            return SourceIdentity("folder", len(files), hashlib.sha256(names.encode()).hexdigest())
        return _file_identity(path)
    except OSError:
        return None


def source_change(before: SourceIdentity, source: str | Path) -> str | None:
    """What tells ``source`` now from the source identified as ``before``, e.g. ``size 10 -> 12
    bytes``; None when it is the same, or cannot be told (a path not there: opening it says so)."""
    if is_stream_url(str(source)):
        return f"it was {_what(before.kind)}, it is now a stream URL"
    now = source_identity(source)
    if now is None or now == before:
        return None
    if now.kind != before.kind:
        return f"it was {_what(before.kind)}, it is now {_what(now.kind)}"
    if now.size != before.size:
        return (
            f"size {before.size} -> {now.size} bytes"
            if now.kind == "file"
            else f"{before.size} -> {now.size} images"
        )
    return (
        "same size, different content"
        if now.kind == "file"
        else "same number of images, other names or first image"
    )


def _file_identity(path: Path) -> SourceIdentity:
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
        size = os.fstat(file.fileno()).st_size
    return SourceIdentity("file", size, hashlib.sha256(head).hexdigest())


def _what(kind: str) -> str:
    return "a file" if kind == "file" else "an image folder"
