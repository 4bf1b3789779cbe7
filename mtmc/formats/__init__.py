"""Readers and writers of tracking file formats, picked by name (or sniffed from the file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mtmc.errors import MtmcError
from mtmc.formats.aicity import aicity_lines, read_aicity, write_aicity
from mtmc.formats.detrac import read_detrac
from mtmc.formats.kitti import kitti_lines, looks_like_kitti, read_kitti, read_kitti_objects, write_kitti
from mtmc.formats.motchallenge import mot_lines, read_mot, write_mot
from mtmc.formats.vatic import read_vatic
from mtmc.types import TrackRows

READERS: dict[str, Callable[..., TrackRows]] = {
    "mot": read_mot,
    "aicity": read_aicity,
    "vatic": read_vatic,
    "detrac": lambda path, what="UA-DETRAC XML file": read_detrac(path, what).rows,
    "kitti": read_kitti,
}
FORMAT_NAMES = ("auto", *READERS)


def sniff_format(path: str | Path, default: str) -> str:
    """``detrac`` for .xml, ``vatic`` when lines end in a quoted label, ``kitti`` for KITTI tracking
    lines (a type name third), else ``default``."""
    path = Path(path)
    if path.suffix.lower() == ".xml":
        return "detrac"
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.strip() and not line.lstrip().startswith("#"):
                    if '"' in line:
                        return "vatic"
                    return "kitti" if looks_like_kitti(line) else default
    except OSError:
        pass
    return default


def read_tracks(
    path: str | Path, fmt: str = "auto", default: str = "mot", what: str = "file", ground_truth: bool = False
) -> TrackRows:
    """Read any supported file as ``TrackRows``; ``fmt`` is one of ``FORMAT_NAMES``.

    For MOTChallenge ground truth, rows with confidence 0 (marked "ignore") are dropped.
    """
    if fmt not in FORMAT_NAMES:
        raise MtmcError(f"unknown format '{fmt}': valid formats are {', '.join(FORMAT_NAMES)}")
    name = sniff_format(path, default) if fmt == "auto" else fmt
    if name == "mot":
        return read_mot(path, what=what, drop_zero_conf=ground_truth)
    return READERS[name](path, what=what)


__all__ = [
    "FORMAT_NAMES",
    "READERS",
    "aicity_lines",
    "kitti_lines",
    "mot_lines",
    "read_aicity",
    "read_detrac",
    "read_kitti",
    "read_kitti_objects",
    "read_mot",
    "read_tracks",
    "read_vatic",
    "sniff_format",
    "write_aicity",
    "write_kitti",
    "write_mot",
]
