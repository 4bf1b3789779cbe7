"""Output paths checked before a command starts its work, so that a bad one is one line, not a
traceback after minutes of computing.

``writable_dir`` and ``writable_file`` create missing parent folders and raise ``MtmcError``
("<what> <path>: is a file: choose another path", "... not writable (permission denied): ...").
They never delete or truncate anything: an existing output file is left as it is until the command
writes it, and writability is probed with a temporary file of their own, removed at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mtmc.errors import MtmcError


def writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a folder this process can write into (created with its parents if missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise MtmcError(f"{what} {path}: is a file: choose another path")
    _make_folder(path, path, what)
    _probe(path, path, what)
    return path


def writable_file(path: str | Path, what: str = "output file") -> Path:
    """``path`` as a file this process can write (its parent folders created if missing)."""
    path = Path(path)
    if path.is_dir():
        raise MtmcError(f"{what} {path}: is a folder: choose another path (a file name)")
    parent = path.parent
    _make_folder(parent, path, what)
    if path.exists():
        if not os.access(path, os.W_OK):
            raise MtmcError(f"{what} {path}: not writable (permission denied): choose another path")
        try:
            with open(path, "ab"):  # append mode: nothing in it is touched
                pass
        except OSError as exc:
            raise MtmcError(f"{what} {path}: not writable ({_reason(exc)}): choose another path") from None
    else:
        _probe(parent, path, what)
    return path


def _make_folder(folder: Path, path: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        where = "is a file" if blocker == path else f"{blocker} is a file"
        raise MtmcError(f"{what} {path}: {where}: choose another path") from None
    except OSError as exc:
        raise MtmcError(f"{what} {path}: not writable ({_reason(exc)}): choose another path") from None


def _probe(folder: Path, path: Path, what: str) -> None:
    """Create and remove a temporary file in ``folder``: the one test of writability that also
    holds for read-only mounts, ACLs and network filesystems."""
    try:
        handle, probe = tempfile.mkstemp(prefix=".mtmc-write-test-", dir=folder)
    except OSError as exc:
        raise MtmcError(f"{what} {path}: not writable ({_reason(exc)}): choose another path") from None
    os.close(handle)
    os.unlink(probe)


def _reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()
