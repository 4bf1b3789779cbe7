"""What every dataset reader returns (as fast-reid's ``ImageDataset``): train / query / gallery lists
of :class:`ReidSample`, and the helpers the readers share (layout checks, relabelling, label files)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from mtmc.errors import InputFormatError, MtmcError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class ReidSample:
    """One image: ``pid`` (vehicle identity; 0..N-1 in a train split), ``camid``, and -1 where the
    dataset does not say: ``colour`` / ``type`` (indices into :attr:`ReidSplits.colour_names` /
    ``type_names``), ``track`` (index of the track, i.e. the run of images of one vehicle passing
    one camera, in the dataset's track file)."""

    path: Path
    pid: int
    camid: int
    colour: int = -1
    type: int = -1
    track: int = -1


@dataclass(frozen=True)
class ReidSplits:
    """A dataset read from disk. ``test_labelled`` is False where the query / gallery identities
    are not public (AI City): they then carry ``pid = camid = -1`` and serve feature extraction
    for a submission, never a local mAP."""

    name: str
    root: Path
    train: list[ReidSample]
    query: list[ReidSample]
    gallery: list[ReidSample]
    colour_names: tuple[str, ...] = ()
    type_names: tuple[str, ...] = ()
    test_labelled: bool = True

    @property
    def num_train_pids(self) -> int:
        return len({sample.pid for sample in self.train})

    @property
    def num_train_cams(self) -> int:
        return len({sample.camid for sample in self.train})

    @property
    def num_colours(self) -> int:
        return len(self.colour_names)

    @property
    def num_types(self) -> int:
        return len(self.type_names)

    def summary(self) -> str:
        """The table fast-reid prints after loading: identities, images and cameras per split."""
        lines = [f"{self.name} ({self.root})", "  split    | ids    | images  | cameras"]
        for split, samples in (("train", self.train), ("query", self.query), ("gallery", self.gallery)):
            ids = len({s.pid for s in samples})
            cams = len({s.camid for s in samples})
            lines.append(f"  {split:8} | {ids:6d} | {len(samples):7d} | {cams:7d}")
        if not self.test_labelled:
            lines.append("  query / gallery identities are not public: extraction only, no local mAP")
        return "\n".join(lines)


def require(root: Path, relative: str, dataset: str, layout: str) -> Path:
    """``root / relative``, or the one error that names what is missing and the layout expected."""
    path = root / relative
    if not path.exists():
        raise MtmcError(f"{dataset}: {path} not found; expected under {root}: {layout}")
    return path


def relabel(samples: Iterable[ReidSample]) -> list[ReidSample]:
    """Identities mapped to 0..N-1 in increasing order of their original id (the classifier's targets)."""
    samples = list(samples)
    order = {pid: index for index, pid in enumerate(sorted({s.pid for s in samples}))}
    return [replace(s, pid=order[s.pid]) for s in samples]


def read_lines(path: Path) -> list[str]:
    """The file's non-empty lines, stripped."""
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (any of :data:`IMAGE_EXTENSIONS`, any case), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def camera_number(text: str, where: object) -> int:
    """The number in a camera name: ``c002`` -> 2."""
    digits = re.search(r"\d+", text)
    if digits is None:
        raise InputFormatError(where, f"camera '{text}' has no number in it (expected e.g. c001)")
    return int(digits.group())


_XML_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([A-Za-z0-9_.-]+)[\"'][^>]*\?>")


def read_label_xml(path: Path) -> list[dict[str, str]]:
    """The attributes of every ``<Item>`` of a VeRi / AI City label file. These files declare
    ``encoding="gb2312"``, which expat cannot parse, so the bytes are decoded here first."""
    raw = path.read_bytes()
    declared = _XML_DECLARATION.match(raw)
    encoding = declared.group(1).decode() if declared else "utf-8"
    body = raw[declared.end() :] if declared else raw
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError as error:
        raise InputFormatError(path, f"declares an unknown encoding '{encoding}'") from error
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        raise InputFormatError(path, f"not a label XML file: {error}") from error
    return [dict(item.attrib) for item in root.iter("Item")]


def read_id_name_list(path: Path) -> dict[str, str]:
    """VeRi's ``list_color.txt`` / ``list_type.txt``: lines ``<id> <name>`` -> {id: name}."""
    names: dict[str, str] = {}
    for number, line in enumerate(read_lines(path), start=1):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise InputFormatError(path, f"expected '<id> <name>', got '{line}'", number)
        names[parts[0]] = parts[1]
    return names


@dataclass(frozen=True)
class LabelVocabulary:
    """Raw attribute labels of a dataset (VeRi's 1-based ``colorID``, VeRi-Wild's colour names)
    mapped to class indices 0..C-1, built once per dataset so every split shares it."""

    labels: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def build(cls, labels: Iterable[str], names: dict[str, str] | None = None) -> LabelVocabulary:
        """Labels in numeric order when they are all numbers, else in text order; ``names`` gives the
        class names (VeRi's list files), the label itself otherwise."""
        distinct = {label for label in labels if label}
        ordered = tuple(sorted(distinct, key=_numeric_first))
        names = names or {}
        return cls(ordered, tuple(names.get(label, label) for label in ordered))

    @cached_property
    def _positions(self) -> dict[str, int]:
        return {label: index for index, label in enumerate(self.labels)}

    def index(self, label: str | None) -> int:
        """The class index of ``label``; -1 for a missing or unknown label."""
        return self._positions.get(label, -1) if label else -1


def _numeric_first(label: str) -> tuple[int, int, str]:
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def track_index(track_file: Path, names: Sequence[str]) -> dict[str, int]:
    """{image name: line number (0-based)} over a track file, one track per line listing its image
    names (VeRi's ``test_track.txt`` puts the track's name first; tokens that are no image name of
    ``names`` are skipped)."""
    known = set(names)
    tracks: dict[str, int] = {}
    for number, line in enumerate(read_lines(track_file)):
        for token in line.split():
            if token in known:
                tracks[token] = number
    return tracks
