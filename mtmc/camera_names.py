"""Camera names, their AI City numbers, and ``cameras:`` given as folders or globs of videos.

People name cameras (``north-gate``); only the AI City file format needs numbers. The rules:

- A name is 1-64 ASCII letters, digits, ``-`` or ``_``, starting with a letter or digit; names are
  unique ignoring case (they name files: ``mot/<name>.txt``, ``logs/<name>.log``).
- Each camera's AI City number: an explicit ``number:`` (>= 1) wins; a name like ``c001`` or ``001``
  is its number (1), as AI City scenario folders and ground truth have it; every other camera gets
  the lowest free numbers in name order (case ignored, digits compared as numbers: ``cam2`` before
  ``cam10``). So the numbers never depend on the order of the ``cameras:`` list.
- ``cameras:`` may be a folder or a glob (or a list mixing them with explicit entries): one camera
  per video file, named by its file stem; an explicit entry whose ``id`` is a file's stem, or whose
  ``source`` is that file, sets that camera's options.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NAME_RULE = "1-64 letters, digits, '-' or '_', starting with a letter or digit (e.g. north-gate, c001)"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".webm", ".wmv")
ERROR_TYPE = "cameras"  # load_config shows these errors without repeating the (long) input
_AICITY = re.compile(r"c?(\d{1,6})")
_GLOB = re.compile(r"[*?[]")
_GENERIC = ("img1", "vdo")  # a MOTChallenge sequence's image folder, an AI City camera's video: named by their folder


def error(message: str) -> PydanticCustomError:
    """A one-line config error; ``message`` is shown as is (braces included)."""
    return PydanticCustomError(ERROR_TYPE, message)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PydanticCustomError("camera_name", f"a camera name is {NAME_RULE}")
    return name


def aicity_number(name: str) -> int | None:
    """The number a name like ``c001`` / ``001`` has always had (1), else None (also for ``c000``)."""
    match = _AICITY.fullmatch(name)
    return (int(match.group(1)) or None) if match else None


def name_order(name: str) -> tuple:
    """Sort key: case ignored, runs of digits compared as numbers, the name itself breaking ties."""
    parts = [p for p in re.split(r"(\d+)", name.lower()) if p]
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts), name


def check_unique(cameras: Sequence[Any]) -> None:
    """Names unique ignoring case; explicit or ``cNNN`` numbers unique."""
    seen: dict[str, str] = {}
    for camera in cameras:
        other = seen.get(camera.id.lower())
        if other is not None:
            what = f"two cameras named {other!r}" if other == camera.id else f"cameras named {other!r} and {camera.id!r}"
            raise error(f"{what}: camera names must be unique, ignoring case (they name the output files)")
        seen[camera.id.lower()] = camera.id
    owners: dict[int, str] = {}
    for camera in cameras:
        if camera.number is None:
            continue
        if camera.number in owners:
            raise error(
                f"cameras {owners[camera.number]!r} and {camera.id!r} both have AI City number {camera.number}: "
                "set number: on one of them to another number (a name like c003 is number 3)"
            )
        owners[camera.number] = camera.id


def assign_numbers(cameras: Sequence[Any]) -> list[Any]:
    """``cameras`` (pydantic models with ``id`` and ``number``) with every missing number filled in:
    the lowest numbers not taken, in name order. Checks uniqueness first."""
    check_unique(cameras)
    taken = {c.number for c in cameras if c.number is not None}
    free = (n for n in itertools.count(1) if n not in taken)
    given = {c.id: next(free) for c in sorted((c for c in cameras if c.number is None), key=lambda c: name_order(c.id))}
    return [c if c.number is not None else c.model_copy(update={"number": given[c.id]}) for c in cameras]


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def video_files(pattern: str, base: Path) -> list[Path]:
    """The video files a ``cameras:`` string names: a folder (its videos), a glob, or one file;
    relative to ``base`` (the config file's folder). Absolute paths, in name order."""
    given = Path(pattern)
    full = Path(os.path.abspath(given if given.is_absolute() else base / given))
    suffixes = " ".join(VIDEO_SUFFIXES)
    if _GLOB.search(pattern):
        import glob

        # the pattern as written (abspath would fold a '**/..' away), below the config's folder
        files = [Path(p) for p in glob.glob(str(given if given.is_absolute() else base / given), recursive=True)]
        files = [p for p in files if p.is_file() and is_video(p)]
        if not files:
            raise error(
                f"{pattern!r} matches no video files (looked for {suffixes} under {full.parent}): "
                "check the pattern (it is taken from the config file's folder)"
            )
    elif full.is_dir():
        files = [p for p in full.iterdir() if p.is_file() and is_video(p)]
        if not files:
            raise error(
                f"folder {full} holds no video files (looked for {suffixes}): put the videos there, "
                "or list the cameras one by one ({id: NAME, source: FILE})"
            )
    elif full.is_file():
        if not is_video(full):
            raise error(f"{full} is not a video file ({suffixes}): name a folder of videos, a glob, or a video")
        files = [full]
    else:
        raise error(
            f"folder not found: {full} (cameras: {pattern!r} is taken from the config file's folder; check the path)"
        )
    files = [Path(os.path.abspath(p)) for p in files]
    return sorted(dict.fromkeys(files), key=lambda p: (name_order(p.stem), str(p)))


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else getattr(entry, name, None)


def _local(source: Any, base: Path) -> Path | None:
    if not isinstance(source, str | Path) or "://" in str(source):
        return None
    path = Path(source)
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def expand(value: Any, base: Path) -> Any:
    """A ``cameras:`` value with its folders and globs replaced by one camera per video file.

    A string alone is a one-item list. Explicit entries (mappings) keep their place; one whose
    ``id`` is a file's stem (its ``source`` defaults to that file) or whose ``source`` is that
    file sets that camera's options instead of adding another. Anything else is left to validation.
    """
    if isinstance(value, str | Path):
        value = [str(value)]
    if not isinstance(value, list) or not any(isinstance(e, str | Path) for e in value):
        return value
    found = {str(e): video_files(str(e), base) for e in value if isinstance(e, str | Path)}
    files = set(itertools.chain.from_iterable(found.values()))
    explicit = [e for e in value if not isinstance(e, str | Path)]
    claimed = {p for e in explicit if (p := _local(_field(e, "source"), base)) in files}
    named: dict[str, Path] = {}
    for path in sorted(files - claimed, key=str):
        if not NAME.fullmatch(path.stem):
            raise error(
                f"video file {path}: its name {path.stem!r} is not a camera name ({NAME_RULE}): rename the file, "
                f"or give it an explicit entry in cameras: {{id: NAME, source: {path}}}"
            )
        other = named.setdefault(path.stem, path)
        if other != path:
            raise error(
                f"two video files would both be camera {path.stem!r}: {other} and {path}: rename one, "
                "or give one an explicit entry in cameras: {id: NAME, source: FILE}"
            )
    overrides: dict[str, Any] = {}
    for entry in explicit:
        name = _field(entry, "id")
        if isinstance(name, str) and name in named and _local(_field(entry, "source"), base) not in claimed:
            if name in overrides:
                raise error(f"two entries in cameras: for camera {name!r} (the video {named[name]}): merge them")
            overrides[name] = entry
    out: list[Any] = []
    done: set[Path] = set()
    for entry in value:
        if not isinstance(entry, str | Path):
            if any(entry is e for e in overrides.values()):
                continue  # merged where its file is
            if isinstance(entry, dict) and entry.get("source") is None and entry.get("id") is not None:
                where = ", ".join(repr(k) for k in found)
                raise error(
                    f"camera {_field(entry, 'id')!r} has no source: and no video file of that name is in {where}: "
                    "add source: FILE, or fix the id"
                )
            out.append(entry)
            continue
        for path in found[str(entry)]:
            if path in done or path in claimed:
                continue
            done.add(path)
            override = overrides.get(path.stem)
            if override is None:
                out.append({"id": path.stem, "source": str(path)})
            elif isinstance(override, dict):
                out.append({"id": path.stem, "source": str(path), **override})
            else:
                out.append(override)
    return out


def name_of_source(source: str, default: str = "c001") -> str:
    """The name a lone camera gets (``mtmc track``): its video's stem or its folder's name, the
    sequence's for a MOTChallenge ``img1/`` or an AI City ``cXXX/vdo.*``; ``default`` for a URL
    or a name that is not a camera name."""
    if "://" in source:
        return default
    path = Path(os.path.abspath(source))
    name = path.name if path.is_dir() else path.stem
    if name in _GENERIC:
        name = path.parent.name
    return name if NAME.fullmatch(name) else default


def cameras_csv(cameras: Iterable[Any]) -> str:
    """``name,number,source`` per camera, by number: maps the submission's numbers back to names.
    File sources are absolute, whatever folder the config was read from."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "number", "source"])
    for camera in sorted(cameras, key=lambda c: c.number):
        source = camera.source if "://" in camera.source else os.path.abspath(camera.source)
        writer.writerow([camera.id, camera.number, source])
    return buffer.getvalue()


def write_cameras_csv(path: Path, cameras: Iterable[Any]) -> Path:
    """Write :func:`cameras_csv` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_text(cameras_csv(cameras), encoding="utf-8")
    partial.replace(path)
    return path
